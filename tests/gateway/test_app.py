"""The assembled gateway: health check, routing order, allowed hosts, CORS, docs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Request

from fastapi_gateway import GatewayConfigurationError, create_app

from .conftest import login

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


async def test_healthz_needs_no_login(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unmigrated_urls_fall_through_to_django(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/tickets/", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/accounts/login/?next=/tickets/"
    missing = await gateway.get("/no/such/page/")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]


async def test_api_docs_are_served_under_the_api_prefix(gateway: httpx.AsyncClient) -> None:
    docs = await gateway.get("/api/v2/docs")
    assert docs.status_code == 200
    schema = (await gateway.get("/api/v2/openapi.json")).json()
    assert {"/api/v2/me", "/api/v2/tickets", "/api/v2/tickets/{ticket_id}"} <= set(schema["paths"])
    # The gateway does not claim Django's URL space for its own docs.
    assert (await gateway.get("/docs")).status_code == 404


@pytest.mark.parametrize("path", ["/metrics", "/api/v2/me", "/api/v2/docs", "/accounts/login/", "/tickets/", "/api/tickets/"])
async def test_foreign_host_is_refused_on_every_route(gateway: httpx.AsyncClient, path: str) -> None:
    """Django's own 400 page (and its security headers) on its URLs; JSON on the new side's
    (``tests/gateway/http/test_trusted_host.py`` compares the first with Django's WSGI handler)."""
    response = await gateway.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 400
    if path.startswith(("/healthz", "/metrics", "/api/v2")):
        assert response.json() == {"detail": "Invalid Host header"}
    else:
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"


async def test_allowed_host_with_port_is_served(gateway: httpx.AsyncClient, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    assert (await gateway.get("/api/v2/docs", headers={"Host": "127.0.0.1:8000"})).status_code == 200
    assert (await gateway.get("/api/v2/docs", headers={"Host": "localhost:8000"})).status_code == 400


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:9999", "https://evil.example"])
async def test_no_credentialed_cors_for_other_origins(gateway: httpx.AsyncClient, demo_users: Any, demo_password: str, origin: str) -> None:
    await login(gateway, "alice", demo_password)
    response = await gateway.get("/api/v2/me", headers={"Origin": origin})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    preflight = await gateway.options(
        "/api/v2/tickets", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


def _probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/scope")
    async def scope(request: Request) -> dict[str, Any]:
        return {
            "scheme": request.url.scheme,
            "client": request.client.host if request.client else None,
            "forwarded_host": request.headers.get("x-forwarded-host"),
        }

    return router


FORGED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


async def test_forwarding_headers_from_untrusted_clients_are_dropped(gateway_factory: Any) -> None:
    async with gateway_factory(api_routers={"/probe": _probe_router()}) as client:
        seen = (await client.get("/probe/scope", headers=FORGED)).json()
    assert seen == {"scheme": "http", "client": "127.0.0.1", "forwarded_host": None}


async def test_forwarding_headers_from_a_trusted_proxy_are_believed(gateway_factory: Any) -> None:
    async with gateway_factory(api_routers={"/probe": _probe_router()}, trusted_proxies=["127.0.0.1"]) as client:
        seen = (await client.get("/probe/scope", headers=FORGED)).json()
    assert seen == {"scheme": "https", "client": "203.0.113.9", "forwarded_host": "evil.example"}


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(GatewayConfigurationError):
        create_app(max_upload_mb=0)
    with pytest.raises(GatewayConfigurationError):
        create_app(legacy_body_timeout_seconds=0)
    with pytest.raises(GatewayConfigurationError):
        create_app(legacy_body_spool_kb=0)
    with pytest.raises(GatewayConfigurationError):
        create_app(settings_module="some_other_project.settings")


def test_the_entrypoint_freezes_what_it_built_out_of_the_collector_s_reach(tmp_path: Path) -> None:
    """Full collections must not walk Django's and Gradio's long-lived objects on every request."""
    probe = "import gc, fastapi_gateway.asgi; print(gc.get_freeze_count(), len(gc.get_objects()))"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "GRADIO_ANALYTICS_ENABLED": "False",
           "DJANGO_SETTINGS_MODULE": "legacy_django.settings"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    frozen, still_tracked = map(int, done.stdout.split())
    assert frozen > 100_000 and still_tracked < frozen / 20, (frozen, still_tracked)
