"""The migration console: a Gradio page for staff showing every declared route's state,
numbers per side, shadow and parity results, with the actions of ``manage.py routes``.

``create_app`` mounts it at ``GATEWAY["MIGRATION_CONSOLE"]`` (``/ui/migration``) when routes
are declared and Gradio is installed. Its data (``console.data``) and actions
(``console.actions``) are plain functions, importable without Gradio.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from fastapi_gateway.pages.page import GradioPage

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["TITLE", "console_page"]

TITLE = "Migration console"


def _build(console_path: str) -> gr.Blocks:
    from fastapi_gateway.console.page import build

    return build(console_path)


def console_page(path: str = "/ui/migration") -> GradioPage:
    """The console as a page of the gateway, its parity reports under its path: for staff who
    may see the route table in the admin (``console.permissions``)."""
    from fastapi_gateway.console.permissions import may_use_console
    from fastapi_gateway.console.reports import parity_report_route

    path = "/" + path.strip("/")
    return GradioPage(path, TITLE, functools.partial(_build, path), staff_only=True, permission=may_use_console,
                      routes=(parity_report_route(path),))
