"""A parity run's HTML report, served to staff under the console's path (``<console>/parity/N/``).

The report is kept in the database (``ParityRun.report``) by the run that wrote it; a browser
opens it from the console's parity tables. It sits under the console's mount, so the gateway's
guard already applies the console's rule to it; the view asks the admin's own question (may
this user see parity runs: ``console.permissions``), and serves the document sandboxed: a report quotes both sides' answers, which must never run as
this site's pages.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from fastapi_gateway.console.permissions import PARITY_RUNS, may_view
from fastapi_gateway.identity.session import user_for_scope
from fastapi_gateway.orm import run_orm

__all__ = ["REPORT_HEADERS", "parity_report_route", "report_url"]

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


async def parity_report(request: Request) -> Response:
    user = await user_for_scope(request.scope)
    if not await run_orm(may_view, user, PARITY_RUNS):
        return JSONResponse({"detail": "Parity reports are for staff who may see parity runs."}, status_code=403)
    run_id: int = request.path_params["run_id"]
    report = await run_orm(_report, run_id) if 0 < run_id < 2**63 else None
    if report is None:
        return JSONResponse({"detail": "No such parity report (or the run has not finished)."}, status_code=404)
    return HTMLResponse(report, headers=REPORT_HEADERS)


def parity_report_route(console_path: str) -> Route:
    """The route of the reports of ``console_path``'s parity runs."""
    return Route(console_path.rstrip("/") + "/parity/{run_id:int}/", parity_report, methods=["GET"])
