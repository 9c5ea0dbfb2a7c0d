"""``build_environ``'s ``SCRIPT_NAME`` and ``PATH_INFO``, held against gunicorn's own ``create``.

The same request line goes to gunicorn's parser and environ builder (``gunicorn.http.wsgi``,
reading ``SCRIPT_NAME`` from the process environment) and, as the ASGI scope uvicorn makes of
it, through the bridge to a WSGI app that echoes what it was given. Under a prefix the two
must agree, except where gunicorn cuts a path in the middle of a segment.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import pytest
from a2wsgi import WSGIMiddleware
from gunicorn.config import Config as GunicornConfig
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http.errors import ConfigurationProblem
from gunicorn.http.parser import RequestParser

from fastapi_gateway.legacy.bridge import WSGIBridge
from fastapi_gateway.legacy.environ import PathOutsideScriptName, build_environ, is_under
from fastapi_gateway.legacy.mount import legacy_asgi_app

from tests.gateway.legacy.test_bridge import Environ, StartResponse, body_of, call, http_scope, status_of

SCRIPT_NAME = "/app"
# Under the prefix: gunicorn and the bridge must give the app the same two values.
UNDER = ["/app", "/app/", "/app/x", "/app/x/", "/app//x", "/app/a%20b", "/app/x%2Fy", "/app%2Fx", "/app/caf%C3%A9", "/app/100%25"]
# Forwarded by a proxy that took the prefix off (from its slash), for uvicorn --root-path /app.
BELOW = [target for target in UNDER if target.removeprefix(SCRIPT_NAME).startswith("/")]
# Outside it: gunicorn refuses these with its ConfigurationProblem (an answer of 500); the
# bridge answers 404, since the path names no URL of this site and nothing failed.
OUTSIDE = ["/", "/other", "/ap", "/other/app/x"]


def echo(environ: Environ, start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({key: environ[key] for key in ("SCRIPT_NAME", "PATH_INFO")}).encode()]


def gunicorns_environ(target: str, headers: Sequence[tuple[str, str]] = ()) -> dict[str, Any] | None:
    """The environ gunicorn gives the app for ``GET target``; ``None`` where it refuses the request."""
    cfg = GunicornConfig()
    head = "".join(f"{name}: {value}\r\n" for name, value in [("Host", "testserver"), *headers])
    raw = f"GET {target} HTTP/1.1\r\n{head}\r\n".encode()
    request = next(iter(RequestParser(cfg, iter([raw]), ("127.0.0.1", 50000))))
    try:
        _, environ = gunicorn_wsgi.create(request, None, ("127.0.0.1", 50000), ("testserver", "80"), cfg)
    except ConfigurationProblem:
        return None
    return dict(environ)


def gunicorns_paths(target: str) -> dict[str, str] | None:
    environ = gunicorns_environ(target)
    return None if environ is None else {key: environ[key] for key in ("SCRIPT_NAME", "PATH_INFO")}


def uvicorns_scope(target: str, *, root_path: str = "") -> dict[str, Any]:
    """The scope uvicorn builds for ``target``: the path percent-decoded, ``root_path`` before it."""
    scope = http_scope(root_path + (unquote(target) if "%" in target else target))
    return {**scope, "raw_path": (root_path + target).encode(), "root_path": root_path}


async def bridged(app: Any, scope: dict[str, Any]) -> tuple[int, Any]:
    messages = await call(app, scope)
    status = status_of(messages)
    return status, json.loads(body_of(messages)) if status == 200 else body_of(messages)


@pytest.fixture
def script_name_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPT_NAME", SCRIPT_NAME)


@pytest.mark.parametrize("target", UNDER)
async def test_under_script_name_the_app_sees_what_gunicorn_gives_it(script_name_set: None, target: str) -> None:
    expected = gunicorns_paths(target)
    assert expected is not None and expected["SCRIPT_NAME"] == SCRIPT_NAME
    assert await bridged(legacy_asgi_app(echo), uvicorns_scope(target)) == (200, expected)


@pytest.mark.parametrize("target", BELOW)
async def test_a_root_path_gives_what_gunicorn_gives_for_the_prefixed_path(target: str) -> None:
    # uvicorn --root-path /app: the proxy took /app off, uvicorn puts it back in front of the path.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SCRIPT_NAME", SCRIPT_NAME)
        expected = gunicorns_paths(target)
    scope = uvicorns_scope(target.removeprefix(SCRIPT_NAME), root_path=SCRIPT_NAME)
    assert await bridged(WSGIBridge(echo), scope) == (200, expected)


@pytest.mark.parametrize("target", OUTSIDE)
async def test_outside_script_name_the_answer_is_a_clear_404(
    script_name_set: None, target: str, caplog: pytest.LogCaptureFixture
) -> None:
    called: list[str] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        called.append(environ["PATH_INFO"])
        return echo(environ, start_response)

    assert gunicorns_paths(target) is None
    with caplog.at_level(logging.WARNING, logger="fastapi_gateway.legacy.bridge"):
        status, body = await bridged(legacy_asgi_app(app), uvicorns_scope(target))
    assert (status, body) == (404, b"Not Found: the request path is outside this site's SCRIPT_NAME.\n")
    assert called == []
    assert f"request path {target!r} is not under SCRIPT_NAME '/app'" in caplog.text


async def test_a_path_sharing_only_the_letters_of_the_prefix_is_outside_it(script_name_set: None) -> None:
    # gunicorn tests the prefix with str.startswith: /application reaches the app as "lication",
    # a PATH_INFO no URL pattern can match. It is outside /app, like /other.
    assert gunicorns_paths("/application") == {"SCRIPT_NAME": "/app", "PATH_INFO": "lication"}
    assert await bridged(legacy_asgi_app(echo), uvicorns_scope("/application")) == (404, b"Not Found: the request path is outside this site's SCRIPT_NAME.\n")
    assert not is_under("/application", "/app")
    assert is_under("/app", "/app") and is_under("/app/", "/app") and is_under("/app/lication", "/app")


async def test_an_escaped_letter_of_the_prefix_is_the_letter(script_name_set: None) -> None:
    # gunicorn matches the prefix against the raw target and refuses /%61pp/x; the gateway
    # routes every URL on its decoded path (RFC 3986 6.2.2.2), so Django serves it as /app/x.
    assert gunicorns_paths("/%61pp/x") is None
    assert await bridged(legacy_asgi_app(echo), uvicorns_scope("/%61pp/x")) == (200, {"SCRIPT_NAME": "/app", "PATH_INFO": "/x"})


async def test_a2wsgi_left_the_prefix_in_path_info(script_name_set: None) -> None:
    # The bug this module fixes: Django saw /app/x below /app and answered 404 for every page.
    assert await bridged(WSGIMiddleware(echo), uvicorns_scope("/app/x")) == (200, {"SCRIPT_NAME": "/app", "PATH_INFO": "/app/x"})


async def test_a_root_path_the_path_does_not_repeat_is_taken_as_its_prefix() -> None:
    # ASGI's older convention (path below root_path), which Starlette's router also accepts.
    scope = {**uvicorns_scope("/application"), "root_path": "/app"}
    assert await bridged(WSGIBridge(echo), scope) == (200, {"SCRIPT_NAME": "/app", "PATH_INFO": "/application"})


async def test_a_root_path_comes_before_script_name(script_name_set: None) -> None:
    scope = uvicorns_scope("/x", root_path="/mounted")
    assert await bridged(legacy_asgi_app(echo), scope) == (200, {"SCRIPT_NAME": "/mounted", "PATH_INFO": "/x"})


def test_without_a_prefix_script_name_is_empty_whatever_the_environment(script_name_set: None) -> None:
    environ = build_environ(uvicorns_scope("/app/x"), io.BytesIO())
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("", "/app/x")
    with pytest.raises(PathOutsideScriptName) as refused:
        build_environ(uvicorns_scope("/x"), io.BytesIO(), script_name="/app")
    assert (refused.value.path, refused.value.script_name) == ("/x", "/app")


def test_script_name_is_a_path() -> None:
    assert WSGIBridge(echo, script_name="/app/").script_name == "/app"
    assert WSGIBridge(echo, script_name="/").script_name == ""
    with pytest.raises(ValueError, match="script_name"):
        WSGIBridge(echo, script_name="app")
