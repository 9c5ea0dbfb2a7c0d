"""A parity run's HTML report, served to staff under the console's path (``<console>/parity/N/``).

The report is kept in the database (``ParityRun.report``) by the run that wrote it; a browser
opens it from the console's parity table. It sits under the console's mount, so the gateway's
guard already wants staff for it (``GradioPage(staff_only=True)``); the view asks again, and
serves the document sandboxed: a report quotes both sides' answers, which must never run as
this site's pages.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from starlette.responses import HTMLResponse

from fastapi_gateway.identity.session import user_for_scope
from fastapi_gateway.orm import run_orm

__all__ = ["REPORT_HEADERS", "parity_report_router", "report_url"]

# The report's own inline stylesheet and data: images only; no script, no form, no frame.
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "same-origin",
}


def report_url(console_path: str, run_id: int) -> str:
    return f"{console_path.rstrip('/')}/parity/{int(run_id)}/"


def _report(run_id: int) -> str | None:
    from fastapi_gateway.routing.models import ParityRun

    return ParityRun.objects.filter(pk=run_id).exclude(report="").values_list("report", flat=True).first()


def parity_report_router(console_path: str) -> APIRouter:
    """The route of the reports of ``console_path``'s parity runs."""
    router = APIRouter()

    @router.get(console_path.rstrip("/") + "/parity/{run_id}/", include_in_schema=False)
    async def parity_report(run_id: int, request: Request) -> HTMLResponse:
        user = await user_for_scope(request.scope)
        if not user.is_authenticated or getattr(user, "is_staff", False) is not True:
            raise HTTPException(status_code=403, detail="Parity reports are for staff only.")
        if not 0 < run_id < 2**63:
            raise HTTPException(status_code=404, detail="No such parity report.")
        report = await run_orm(_report, run_id)
        if report is None:
            raise HTTPException(status_code=404, detail="No such parity report (or the run has not finished).")
        return HTMLResponse(report, headers=REPORT_HEADERS)

    return router
