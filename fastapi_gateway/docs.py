"""The OpenAPI docs page (Swagger UI), served whole by the gateway: no CDN, no outside URL.

FastAPI's own docs page loads Swagger UI from a CDN, so on a machine without internet it is
blank. This is FastAPI's "self-hosting JavaScript and CSS for docs" recipe: FastAPI's page
(``get_swagger_ui_html``) pointing at Swagger UI's dist files as the ``drf-spectacular-sidecar``
distribution ships them (updated with each Swagger UI release; nothing of DRF is imported).
The files' digest is part of their URL, so they are cached for a year and an upgrade is a
new URL rather than a stale script.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse

from fastapi_gateway.exceptions import GatewayConfigurationError

__all__ = ["SwaggerUIAssets", "swagger_ui_assets", "swagger_ui_router"]

SWAGGER_UI_PACKAGE = "drf_spectacular_sidecar"
SWAGGER_UI_DIST = "static/drf_spectacular_sidecar/swagger-ui-dist"  # the layout Django's staticfiles serves
# What the page loads, and nothing else of the dist (no source maps, no ReDoc).
SWAGGER_UI_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class SwaggerUIAssets:
    """Swagger UI's files on disk, by name, and the digest of their bytes."""

    directory: Path
    digest: str

    def path(self, name: str) -> Path | None:
        return self.directory / name if name in SWAGGER_UI_FILES else None


@functools.cache
def swagger_ui_assets() -> SwaggerUIAssets:
    """Found once per process; a missing distribution stops ``create_app`` by name, not a blank page."""
    try:
        directory = Path(str(files(SWAGGER_UI_PACKAGE).joinpath(SWAGGER_UI_DIST)))
        digest = hashlib.sha256()
        for name in sorted(SWAGGER_UI_FILES):
            digest.update((directory / name).read_bytes())
    except (ModuleNotFoundError, OSError) as exc:
        raise GatewayConfigurationError(
            f"Swagger UI's files were not found ({exc}): the docs need the drf-spectacular-sidecar distribution"
        ) from exc
    return SwaggerUIAssets(directory, digest.hexdigest()[:16])


def swagger_ui_router(app: FastAPI, *, docs_url: str) -> APIRouter:
    """The docs page at ``docs_url``, its OAuth2 redirect and its files under ``docs_url/assets/``.

    The page reads the app's ``openapi_url``, ``swagger_ui_oauth2_redirect_url``,
    ``swagger_ui_parameters`` and ``swagger_ui_init_oauth`` as FastAPI's own docs route does.
    Swagger UI's online validator badge is off: it would send the schema's URL to swagger.io.
    """
    if app.openapi_url is None:
        raise GatewayConfigurationError("the docs page needs the app's openapi_url")
    openapi_url = app.openapi_url
    assets = swagger_ui_assets()
    asset_url = f"{docs_url}/assets/{assets.digest}"
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url
    parameters: dict[str, Any] = {"validatorUrl": None, **(app.swagger_ui_parameters or {})}
    router = APIRouter(include_in_schema=False)

    @router.get(docs_url)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root_path = str(request.scope.get("root_path", "")).rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root_path}{asset_url}/swagger-ui-bundle.js",
            swagger_css_url=f"{root_path}{asset_url}/swagger-ui.css",
            swagger_favicon_url=f"{root_path}{asset_url}/favicon-32x32.png",
            oauth2_redirect_url=root_path + oauth2_redirect_url if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=parameters,
        )

    if oauth2_redirect_url:

        @router.get(oauth2_redirect_url)
        async def swagger_ui_oauth2_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @router.get(docs_url + "/assets/{digest}/{name}")
    async def swagger_ui_asset(digest: str, name: str) -> FileResponse:
        path = assets.path(name)
        if digest != assets.digest or path is None:
            raise HTTPException(status_code=404, detail="Not Found")
        return FileResponse(
            path,
            media_type=SWAGGER_UI_FILES[name],
            headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
        )

    return router
