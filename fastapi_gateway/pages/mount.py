"""Mount Gradio pages behind the Django login.

Each page is a ``gr.Blocks`` built by a page module; the gateway mounts it with the one
user lookup as Gradio's ``auth_dependency``, offline (no SSR), and with the gateway's upload
limit, so no page can be mounted without the login by forgetting an argument. What Gradio keeps
of the files users upload and events make is deleted once older than the gateway's
``PAGE_FILES_KEEP_HOURS`` (unless the page chose its own ``delete_cache``): Gradio otherwise
keeps every one, on disk and in sets of paths that only grow. A page's own
``routes`` are served with it, under its path and behind the same guard. Its events
obey the gateway's file policy (see ``gradio_file_hooks``); its queue sleeps until it has
work and keeps no statistics nobody reads (see ``pages.queue``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount

from fastapi_gateway.compat import gradio_apps_made_at_mount, gradio_queue
from fastapi_gateway.identity.dependencies import gradio_username
from fastapi_gateway.pages.file_hooks import guard_blocks, install as install_file_hooks
from fastapi_gateway.pages.signed_out import signed_out_head
from fastapi_gateway.pages.queue import skip_monitoring_summary, wake_on_work
from fastapi_gateway.routers import UnavailableApp
from fastapi_gateway.exceptions import GatewayConfigurationError
from fastapi_gateway.pages.page import GradioPage

__all__ = ["files_kept_for", "mount_gradio_pages"]

logger = logging.getLogger("fastapi_gateway")

#: The longest wait between two sweeps of a page's old files.
_SWEEP_SECONDS = 3600


def files_kept_for(hours: float) -> tuple[int, int]:
    """Gradio's ``delete_cache`` (seconds between sweeps, age past which a file is deleted) for
    files kept ``hours``: swept at least hourly, so none outlives its age by more than an hour."""
    age = max(1, round(hours * 3600))
    return min(_SWEEP_SECONDS, age), age


def mount_gradio_pages(
    app: FastAPI, pages: Sequence[GradioPage], *, max_upload_mb: int, title: str = "{title}", files_keep_hours: float | None = None,
) -> dict[str, Any]:
    """Build and mount every page; returns each mount path (no trailing slash) → its Gradio app."""
    import gradio as gr

    mounted: dict[str, Any] = {}
    if pages:
        install_file_hooks()  # before any page is built: files it is built with are the page's
    for page in pages:
        path = "/" + page.path.strip("/")
        try:
            with gradio_apps_made_at_mount():
                blocks = page.blocks() if isinstance(page, GradioPage) else page.build()
        except Exception:  # noqa: BLE001 - one broken page must not take the site down
            logger.exception("the Gradio page %s could not be built; it answers 503", path)
            app.mount(path, UnavailableApp(f"the page {path}"))
            continue
        guard_blocks(blocks)
        if isinstance(page, GradioPage):
            blocks.title = title.format(title=page.title)
        if files_keep_hours is not None and getattr(blocks, "delete_cache", None) is None:
            blocks.delete_cache = files_kept_for(files_keep_hours)
        # A page's own routes go before its mount, which takes its whole path. Plain routes (not an
        # included router, which FastAPI matches by walking it) keep the legacy lane's check cheap.
        app.router.routes.extend(getattr(page, "routes", ()))
        gr.mount_gradio_app(
            app,
            blocks,
            path=path,
            allowed_paths=[str(p) for p in getattr(page, "allowed_paths", ()) or ()],
            auth_dependency=gradio_username,
            ssr_mode=False,
            max_file_size=f"{max_upload_mb}mb",
            footer_links=["settings"],  # "Use via API" is a developer's page, not the site's users'.
            enable_monitoring=False,
            mcp_server=False,
            pwa=False,
            # mount_gradio_app replaces the Blocks' own head: keep the page's, add the notice.
            head=(getattr(blocks, "head", None) or "") + signed_out_head(path),
        )
        mount = app.routes[-1]
        if not isinstance(mount, Mount) or mount.path != path or not isinstance(mount.app, gr.routes.App):
            raise GatewayConfigurationError(f"Gradio did not mount {path!r} where expected")
        mounted[path] = mount.app
        blocks.app = mount.app  # Gradio's queue and close() use these: the app served, not one never served
        gradio_queue(blocks).set_server_app(mount.app)
        wake_on_work(gradio_queue(blocks))
        skip_monitoring_summary(gradio_queue(blocks))
    return mounted
