"""Each private or undocumented name in ``fastapi_gateway.compat`` still has the shape the gateway
relies on, and no other module of the gateway reaches for one.

When a Django, Starlette, uvicorn, a2wsgi or Gradio release moves one of these, the test named
after it fails here: fix ``compat.py`` (and only it) until this file passes again.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import inspect
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.backends import cache as cache_engine
from django.contrib.sessions.backends import cached_db, db, file, signed_cookies
from django.contrib.sessions.backends.base import SessionBase
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, include, path, re_path, resolve
from django.urls.resolvers import RegexPattern
from django.views.generic import TemplateView
from pytest_django import Settings

from fastapi_gateway import compat

GATEWAY = Path(compat.__file__).parent
# The modules allowed to touch private names: this seam, and Gradio's file-handling seam.
SEAMS = {GATEWAY / "compat.py", GATEWAY / "pages" / "file_hooks.py"}
LIBRARIES = {"django", "starlette", "uvicorn", "gradio", "gradio_client", "a2wsgi", "fastapi"}
# Underscored yet documented as public: Django's Model._meta API and Model._default_manager.
DOCUMENTED = {"_meta", "_default_manager"}


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _page(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    return HttpResponse("ok")


# --- the rule ------------------------------------------------------------------------------


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.endswith("__") and name.startswith("__"))


def _borrowings(source: str) -> list[tuple[int, str]]:
    """Imports of a private name (or from a private module) of the libraries, and underscored
    attributes read off anything but ``self``/``cls`` (``blocks._queue``), ``getattr`` included."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] in LIBRARIES:
                names = [alias.name for alias in node.names]
                if any(_private(part) for part in parts) or any(_private(name) for name in names):
                    found.append((node.lineno, f"from {node.module} import {', '.join(names)}"))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] in LIBRARIES and any(_private(part) for part in parts):
                    found.append((node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in DOCUMENTED:
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append((node.lineno, f".{node.attr}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
            and node.args[1].value not in DOCUMENTED
        ):
            found.append((node.lineno, f"{node.func.id}(..., {node.args[1].value!r})"))
    return found


def test_no_module_but_the_seams_borrows_a_private_name() -> None:
    borrowed = [
        f"{path.relative_to(GATEWAY.parent)}:{line}: {what}"
        for path in sorted(GATEWAY.rglob("*.py"))
        if path not in SEAMS
        for line, what in _borrowings(path.read_text())
    ]
    assert borrowed == [], (
        "private names of Django, Starlette, uvicorn, Gradio, a2wsgi or FastAPI belong in "
        "fastapi_gateway/compat.py, with a test here:\n" + "\n".join(borrowed)
    )


@pytest.mark.parametrize(
    "source",
    [
        "from starlette._utils import get_route_path",
        "from uvicorn.middleware.proxy_headers import _TrustedHosts",
        "import uvicorn._types",
        "queue = blocks._queue",
        "cache = getattr(session, '_cache', None)",
    ],
)
def test_the_rule_sees_each_kind_of_borrowing(source: str) -> None:
    assert _borrowings(source)


@pytest.mark.parametrize(
    "source",
    [
        "from fastapi_gateway.compat import get_route_path",
        "from ._private import thing",
        "self._cache = None",
        "model._meta.pk",
        "qualname = cls.__qualname__",
        "from django.contrib.auth import get_user_model",
    ],
)
def test_the_rule_leaves_the_gateways_own_and_documented_names(source: str) -> None:
    assert _borrowings(source) == []


# --- Django 5.2 ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_auth_session_keys_are_what_login_writes(alice: AbstractUser) -> None:
    request = RequestFactory().get("/")
    request.session = db.SessionStore()
    login(request, alice, backend=settings.AUTHENTICATION_BACKENDS[0])
    assert request.session[compat.SESSION_KEY] == str(alice.pk)
    assert request.session[compat.BACKEND_SESSION_KEY] == settings.AUTHENTICATION_BACKENDS[0]
    assert request.session[compat.HASH_SESSION_KEY] == alice.get_session_auth_hash()


@pytest.mark.django_db
def test_load_backend_gives_a_backend_that_gets_users(alice: AbstractUser) -> None:
    backend = compat.load_backend(settings.AUTHENTICATION_BACKENDS[0])
    user_id = get_user_model()._meta.pk.to_python(str(alice.pk))
    assert backend.get_user(user_id) == alice


def test_parse_cookie_reads_a_cookie_header() -> None:
    assert compat.parse_cookie("sessionid=abc123; csrftoken=tok") == {"sessionid": "abc123", "csrftoken": "tok"}


@pytest.mark.parametrize("engine", [db, cache_engine, cached_db, file, signed_cookies], ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_session_store_subclass_decodes_the_engines_sessions(engine: Any) -> None:
    """``SessionBase.key_salt`` is made of ``__qualname__`` alone: a subclass defined anywhere
    that keeps the engine's reads what the engine signed."""
    store_class = engine.SessionStore
    subclass = compat.session_store_subclass(store_class, {"save": lambda self, must_create=False: None})
    assert subclass.__module__ != store_class.__module__
    assert subclass().key_salt == store_class().key_salt
    encoded = store_class().encode({"_auth_user_id": "7"})
    assert subclass().decode(encoded) == {"_auth_user_id": "7"}
    assert subclass.save is not store_class.save


def test_session_cache_is_the_cache_engines_cache() -> None:
    assert compat.session_cache(db.SessionStore()) is None
    for engine in (cache_engine, cached_db):
        cache = compat.session_cache(engine.SessionStore())
        assert cache is not None and callable(cache.get)


def _scope(**extra: Any) -> dict[str, Any]:
    scope = {"type": "http", "method": "POST", "path": "/ui/x", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"testserver")], "scheme": "http", "server": ("testserver", 80)}
    scope.update(extra)
    return scope


def test_asgi_request_is_built_from_a_scope() -> None:
    request = compat.ASGIRequest(_scope(headers=[(b"host", b"testserver"), (b"origin", b"http://testserver")]), io.BytesIO())
    assert request.method == "POST"
    assert request.META["HTTP_ORIGIN"] == "http://testserver"
    assert request.get_host() == "testserver"


@pytest.mark.parametrize(
    ("origin", "trusted", "verified"),
    [
        ("http://testserver", [], True),
        ("http://evil.example", [], False),
        ("https://app.example.com", ["https://*.example.com"], True),
    ],
)
def test_origin_verified_is_djangos_origin_check(settings: Settings, origin: str, trusted: list[str], verified: bool) -> None:
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.CSRF_TRUSTED_ORIGINS = trusted
    request = compat.ASGIRequest(_scope(headers=[(b"host", b"testserver"), (b"origin", origin.encode())]), io.BytesIO())
    assert compat.origin_verified(request) is verified


def test_origin_verified_refuses_a_host_django_does_not_allow(settings: Settings) -> None:
    """The Origin matching a Host outside ``ALLOWED_HOSTS`` is not verified (no exception)."""
    settings.ALLOWED_HOSTS = ["testserver"]
    request = compat.ASGIRequest(_scope(headers=[(b"host", b"evil.example"), (b"origin", b"http://evil.example")]), io.BytesIO())
    assert compat.origin_verified(request) is False


def test_split_domain_port_and_validate_host() -> None:
    assert compat.split_domain_port("Example.COM:8000") == ("example.com", "8000")
    assert compat.split_domain_port("[::1]:80") == ("[::1]", "80")
    assert compat.split_domain_port("bad host") == ("", "")
    assert compat.validate_host("app.example.com", [".example.com"])
    assert not compat.validate_host("example.org", [".example.com"])


def test_url_has_allowed_host_and_scheme() -> None:
    assert "allowed_hosts" in _parameters(compat.url_has_allowed_host_and_scheme)
    assert compat.url_has_allowed_host_and_scheme("/tickets/?status=open", allowed_hosts=None)
    assert not compat.url_has_allowed_host_and_scheme("//evil.example/", allowed_hosts=None)
    assert not compat.url_has_allowed_host_and_scheme("https://evil.example/", allowed_hosts=None)


def test_route_pattern_matches_as_path_does() -> None:
    pattern = compat.RoutePattern("tickets/<int:pk>/", is_endpoint=True)
    assert pattern.match("tickets/3/") == ("", (), {"pk": 3})
    assert pattern.match("tickets/abc/") is None
    assert pattern.match("tickets/3/extra") is None


def test_url_resolver_is_the_one_resolve_asks(settings: Settings) -> None:
    resolver = compat.url_resolver()
    assert resolver.resolve("/tickets/3/").route == resolve("/tickets/3/").route == "tickets/<int:pk>/"
    settings.ROOT_URLCONF = "tests.gateway.routing.thirdparty_urls"
    assert compat.url_resolver() is not resolver
    assert compat.url_resolver().resolve("/health").route == "health"


def test_url_entries_are_an_includes_patterns_and_includes_in_order() -> None:
    inner = [path("a/", _page, name="a")]
    resolver = URLResolver(RegexPattern(r"^/"), SimpleNamespace(urlpatterns=[path("x/", include(inner)), path("b/", _page)]))
    entries = compat.url_entries(resolver)
    assert [type(entry) for entry in entries] == [URLResolver, URLPattern]
    assert isinstance(entries[0], URLResolver) and compat.url_entries(entries[0]) == inner


@pytest.mark.parametrize(
    ("outer", "inner", "url"),
    [
        (path("api/", include([path("t/<int:pk>/", _page)])), "api/t/<int:pk>/", "/api/t/3/"),
        (re_path(r"^blog/", include([re_path(r"^(?P<year>[0-9]{4})/$", _page)])), "^blog/(?P<year>[0-9]{4})/$", "/blog/2024/"),
        (path("", include([re_path(r"^about/$", _page)])), "^about/$", "/about/"),  # an empty prefix keeps the ^
        (re_path(r"^old/", include([path("<slug:s>/", _page)])), "^old/<slug:s>/", "/old/x/"),
    ],
)
def test_join_route_joins_as_resolve_names_resolver_match_route(outer: Any, inner: str, url: str) -> None:
    resolver = URLResolver(RegexPattern(r"^/"), SimpleNamespace(urlpatterns=[outer]))
    included = compat.url_entries(resolver)[0]
    assert isinstance(included, URLResolver)
    joined = compat.join_route(str(included.pattern), str(compat.url_entries(included)[0].pattern))
    assert joined == resolver.resolve(url).route == inner


def test_view_path_is_the_views_dotted_path() -> None:
    assert compat.view_path(path("a/", _page)) == f"{__name__}._page"
    assert compat.view_path(path("b/", TemplateView.as_view(template_name="x.html"))) == "django.views.generic.base.TemplateView"
    assert compat.view_path(path("c/", functools.partial(_page, extra=1))) == f"{__name__}._page"


@pytest.mark.django_db(transaction=True)
def test_thread_connections_can_be_swapped_for_shared_ones() -> None:
    shared = connections.create_connection("default")
    for name in ("inc_thread_sharing", "dec_thread_sharing", "close", "close_if_unusable_or_obsolete"):
        assert callable(getattr(shared, name)), name
    saved = compat.thread_connections(connections)
    compat.set_thread_connections(connections, SimpleNamespace(default=shared))
    try:
        assert connections["default"] is shared
    finally:
        compat.set_thread_connections(connections, saved)
        shared.close()
    assert connections["default"] is not shared


# --- Starlette 1.10 ------------------------------------------------------------------------


def test_get_route_path_removes_the_root_path() -> None:
    assert compat.get_route_path({"path": "/api/v2/me", "root_path": ""}) == "/api/v2/me"
    assert compat.get_route_path({"path": "/site/api/v2/me", "root_path": "/site"}) == "/api/v2/me"


# --- uvicorn 0.54 --------------------------------------------------------------------------


def test_trusted_hosts_takes_ips_networks_and_a_wildcard() -> None:
    trusted = compat.TrustedHosts(["10.0.0.0/8", "127.0.0.1"])
    assert "10.1.2.3" in trusted and "127.0.0.1" in trusted
    assert "11.0.0.1" not in trusted and "127.0.0.2" not in trusted
    assert "203.0.113.9" in compat.TrustedHosts(["*"])


async def test_httptools_protocol_has_what_the_limited_protocol_extends() -> None:
    from uvicorn.config import Config

    assert _parameters(compat.HttpToolsProtocol.__init__) == ["self", "config", "server_state", "app_state", "_loop"]
    callbacks = {
        "on_message_begin": ["self"], "on_url": ["self", "url"], "on_header": ["self", "name", "value"],
        "on_headers_complete": ["self"], "on_body": ["self", "body"], "on_message_complete": ["self"],
        "data_received": ["self", "data"], "send_400_response": ["self", "msg"], "on_response_complete": ["self"],
    }
    for name, parameters in callbacks.items():
        assert _parameters(getattr(compat.HttpToolsProtocol, name)) == parameters, name

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    config = Config(app, http="httptools", lifespan="off")
    config.load()
    protocol = compat.HttpToolsProtocol(config, compat.ServerState(), {}, _loop=asyncio.get_running_loop())
    assert protocol.cycle is None and protocol.server_state.default_headers == []
    assert callable(protocol.logger.warning)
    protocol.on_message_begin()
    assert protocol.headers == [] and protocol.url == b""
    assert callable(protocol.parser.get_method)


@pytest.mark.parametrize("http", ["httptools", "h11"])
async def test_connection_is_idle_reads_the_cycle_of_each_http_protocol(http: str) -> None:
    from uvicorn.config import Config

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    config = Config(app, http=http, lifespan="off")
    config.load()
    protocol = config.http_protocol_class(config=config, server_state=compat.ServerState(), app_state={}, _loop=asyncio.get_running_loop())  # type: ignore[call-arg]
    assert compat.connection_is_idle(protocol)  # accepted, no request yet
    protocol.cycle = SimpleNamespace(response_complete=False)
    assert not compat.connection_is_idle(protocol)
    protocol.cycle.response_complete = True
    assert compat.connection_is_idle(protocol)


def test_status_line_has_the_refusals() -> None:
    # uvicorn takes the phrases from http.HTTPStatus, whose 414 is RFC 9110's "URI Too Long" since Python 3.13.
    assert compat.STATUS_LINE[414] in (b"HTTP/1.1 414 Request-URI Too Long\r\n", b"HTTP/1.1 414 URI Too Long\r\n")
    assert compat.STATUS_LINE[431] == b"HTTP/1.1 431 Request Header Fields Too Large\r\n"


def test_server_state_has_default_headers() -> None:
    assert compat.ServerState().default_headers == []


def test_serve_workers_with_changes_the_class_the_supervisor_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    from uvicorn.supervisors import multiprocess

    assert _parameters(compat.Multiprocess.__init__)[:2] == ["self", "config"]
    assert "sockets" in _parameters(compat.Multiprocess.__init__)
    assert _parameters(compat.WorkerProcess.__init__)[:2] == ["self", "config"]
    builders = [function for function in vars(compat.Multiprocess).values()
                if inspect.isfunction(function) and "Process" in function.__code__.co_names]
    assert builders, "uvicorn's supervisor no longer builds workers through the module's Process"
    assert all(function.__globals__ is vars(multiprocess) for function in builders)

    class Worker(compat.WorkerProcess):
        pass

    monkeypatch.setattr(multiprocess, "Process", multiprocess.Process)
    compat.serve_workers_with(Worker)
    assert multiprocess.Process is Worker


def test_worker_server_is_kept_where_uvicorns_process_keeps_its_own() -> None:
    import uvicorn

    process: Any = object.__new__(compat.WorkerProcess)
    process._server = None
    built: list[uvicorn.Server] = []

    def build() -> uvicorn.Server:
        built.append(uvicorn.Server(uvicorn.Config("x:app")))
        return built[-1]

    server = compat.worker_server(process, build)
    assert compat.worker_server(process, build) is server and len(built) == 1
    assert process.server is server  # uvicorn's own property reads the same place


def test_uvicorn_server_and_config_have_what_the_launcher_uses() -> None:
    """``GatedServer`` starts uvicorn's server on no socket of its own and serves the shared one."""
    import uvicorn

    async def app(scope: Any, receive: Any, send: Any) -> None:
        pass

    assert "sockets" in _parameters(uvicorn.Server.startup)
    config = uvicorn.Config(app, http=compat.HttpToolsProtocol, lifespan="off")
    config.load()
    assert config.http_protocol_class is compat.HttpToolsProtocol
    assert config.loaded_app is not None and config.ssl is None
    assert isinstance(config.backlog, int) and callable(config.bind_socket)
    server = uvicorn.Server(config)
    assert isinstance(server.server_state, compat.ServerState) and server.should_exit is False


# --- a2wsgi 1.10 ---------------------------------------------------------------------------


def test_a2wsgi_build_environ_makes_a_wsgi_environ() -> None:
    assert _parameters(compat.a2wsgi_build_environ) == ["scope", "body"]
    body = io.BytesIO(b"x=1")
    environ = compat.a2wsgi_build_environ(
        _scope(method="GET", path="/tickets/", query_string=b"status=open", headers=[(b"host", b"testserver"), (b"x-thing", b"1")],
               client=("127.0.0.1", 5000), http_version="1.1"),
        body,
    )
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["PATH_INFO"] == "/tickets/"
    assert environ["QUERY_STRING"] == "status=open"
    assert environ["HTTP_X_THING"] == "1"
    assert environ["wsgi.input"] is body


# --- Gradio 6.31, gradio_client 2.7 ------------------------------------------------------


def test_predict_body_reads_fn_index_and_session_hash() -> None:
    body = compat.PredictBody.model_validate({"data": [], "fn_index": "3", "session_hash": "abc"})
    assert (body.fn_index, body.session_hash) == (3, "abc")


def test_construct_args_places_named_parameters() -> None:
    parameters = [{"parameter_name": "text", "parameter_has_default": False}, {"parameter_name": "n", "parameter_has_default": True, "parameter_default": 2}]
    assert compat.construct_args(parameters, (), {"text": "hi"}) == ["hi", 2]
    with pytest.raises(TypeError):
        compat.construct_args(parameters, (), {"nope": 1})


def test_get_upload_folder_is_a_path() -> None:
    folder = compat.get_upload_folder()
    assert isinstance(folder, str) and Path(folder).is_absolute()


def _mounted_blocks() -> Any:
    from fastapi import FastAPI

    with gr.Blocks() as blocks:
        text = gr.Textbox()
        text.submit(lambda value: value, text, text, api_name="echo")
    app = gr.mount_gradio_app(FastAPI(), blocks, path="/ui")
    return blocks, app.routes[-1].app  # type: ignore[attr-defined]


async def test_gradio_queue_is_the_queue_the_waker_parks() -> None:
    """What ``fastapi_gateway.pages.queue.wake_on_work`` replaces and reads on the queue."""
    blocks, _ = _mounted_blocks()
    queue = compat.gradio_queue(blocks)
    for name in ("start_processing", "start_progress_updates"):
        assert inspect.isfunction(getattr(type(queue), name)), name
    for name in ("push", "process_events"):
        assert inspect.iscoroutinefunction(getattr(queue, name)), name
    assert float(queue.sleep_when_free) > 0 and float(queue.progress_update_sleep_when_free) > 0
    assert hasattr(queue, "active_jobs")


async def test_gradio_apps_made_at_mount_makes_none_while_pages_are_built_and_then_gives_it_back() -> None:
    """``gr.Blocks()`` and the end of its ``with`` each call ``App.create_app``: while the
    context is on, they make nothing (an app read early says why); after, even when the build
    raised, and meanwhile in another thread, Gradio makes apps; a Blocks so built still mounts
    and is served."""
    import threading

    from fastapi import FastAPI
    from gradio.routes import App

    def blocks_with_a_textbox() -> gr.Blocks:
        with gr.Blocks() as built:
            gr.Textbox()
        return built

    elsewhere: list[Any] = []
    with compat.gradio_apps_made_at_mount():
        blocks = blocks_with_a_textbox()
        with pytest.raises(AttributeError, match="made when the page is mounted"):
            blocks.app.root_path
        async def build_elsewhere() -> None:  # a loop of its own: Gradio binds a Blocks to one
            elsewhere.append(blocks_with_a_textbox().app)

        other = threading.Thread(target=lambda: asyncio.run(build_elsewhere()))
        other.start()
        other.join(timeout=60)
        with compat.gradio_apps_made_at_mount():  # nested, as a page built inside another's build
            assert not isinstance(blocks_with_a_textbox().app, App)
        assert not isinstance(blocks_with_a_textbox().app, App)
    assert len(elsewhere) == 1 and isinstance(elsewhere[0], App)
    with pytest.raises(RuntimeError), compat.gradio_apps_made_at_mount():
        raise RuntimeError("a page that fails to build")
    served = gr.mount_gradio_app(FastAPI(), blocks, path="/ui").routes[-1].app  # type: ignore[attr-defined]
    assert isinstance(served, App) and served.get_blocks() is blocks
    assert isinstance(blocks_with_a_textbox().app, App)


async def test_gradio_stop_event_is_what_a_heartbeat_waits_on() -> None:
    """Set by ``fastapi_gateway.server.shutdown``'s callback when a worker begins to stop."""
    _, gradio_app = _mounted_blocks()
    event = compat.gradio_stop_event(gradio_app)
    assert isinstance(event, asyncio.Event) and not event.is_set()
    from gradio import routes

    assert "stop_event.wait()" in inspect.getsource(routes.App.create_app)  # the heartbeat's loop


async def test_gradio_event_attributes_the_event_check_reads() -> None:
    """Read in place by ``fastapi_gateway.pages.event_target`` (no underscore, no documentation)."""
    blocks, gradio_app = _mounted_blocks()
    assert gradio_app.get_blocks() is blocks
    fns = blocks.fns
    assert isinstance(fns, dict) and fns
    fn = next(iter(fns.values()))
    assert (fn.api_name, fn.api_visibility, callable(fn.fn), fn.queue) == ("echo", "public", True, True)
    assert "no-such-session" not in blocks.state_holder
    assert "/echo" in blocks.get_api_info()["named_endpoints"]


def test_forget_gradio_upload_drops_gradios_progress_record_of_it() -> None:
    from gradio.routes import file_upload_statuses

    from fastapi_gateway.compat import forget_gradio_upload

    file_upload_statuses.track("compat-upload")
    forget_gradio_upload("compat-upload")
    forget_gradio_upload("never-seen")  # nothing to drop: no error
    assert "compat-upload" not in file_upload_statuses._statuses
    assert "compat-upload" not in file_upload_statuses._signals
