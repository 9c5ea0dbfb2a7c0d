"""Every route Gradio registers, classified: public asset, login, session-bound, or blocked.

Gradio's ``auth_dependency`` covers only some routes (not ``heartbeat``, ``cancel``,
``reset`` or ``stream/*``), and even where it applies it checks *a* login, not *whose*
session a ``session_hash`` or ``event_id`` is. This table says, per route template, what the
gateway's guard must check and where the identifiers are. A template not listed here is
treated as login-only, and ``tests/gateway/pages/test_routes.py`` fails until it is
classified, so a new Gradio route cannot slip through unreviewed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.routing import Match

__all__ = ["Access", "RouteRule", "GRADIO_ROUTES", "GradioRouteIndex", "rule_for", "Source"]

Source = tuple[Literal["path", "query", "body"], str]


class Access(enum.Enum):
    PUBLIC = "public"  # identical static bytes for everyone: no login
    LOGIN = "login"  # needs the Django login
    BLOCKED = "blocked"  # development, telemetry and Gradio's own login: never served


@dataclass(frozen=True)
class RouteRule:
    """What a route needs beyond its access level; ``None`` means "not bound to anything"."""

    access: Access
    session_hash: Source | None = None
    claims_session: bool = False  # first use binds a new session_hash; otherwise it must be owned
    event_id: Source | None = None
    upload_id: Source | None = None
    file_path: Source | None = None
    streaming: bool = False  # long-lived response: re-check the user while it is open
    issues_events: bool = False  # the JSON answer carries an ``event_id`` the caller now owns
    # Sent without a session_hash, the event runs in a Gradio session named by its event id:
    # that session is the caller's too, and counts against the caller's budget of sessions.
    event_names_session: bool = False
    # The JSON body is Gradio's own model, where session_hash and event_id mean Gradio's; on
    # call/v2 and a page's own routes its fields are the event's or the route's parameters.
    gradio_body: bool = True
    issues_files: bool = False  # the answer lists uploaded files the caller now owns
    multipart: bool = False  # the body is an upload; any other unsafe request's body is JSON


PUBLIC = RouteRule(Access.PUBLIC)
LOGIN = RouteRule(Access.LOGIN)
BLOCKED = RouteRule(Access.BLOCKED)
_SESSION_IN_BODY: Source = ("body", "session_hash")
_API_PREFIX = "/gradio_api/"
_RUN = RouteRule(Access.LOGIN, session_hash=_SESSION_IN_BODY, claims_session=True)
_CALL = RouteRule(
    Access.LOGIN, session_hash=_SESSION_IN_BODY, claims_session=True, issues_events=True, event_names_session=True
)
# call/v2 reads no session_hash: its body is the event's named parameters, and the event runs
# in a session named by its event id.
_CALL_V2 = RouteRule(Access.LOGIN, issues_events=True, event_names_session=True, gradio_body=False)
#: A route no table entry names outside Gradio's API: a page of a multipage app, a page's own route.
PAGE_ROUTE = RouteRule(Access.LOGIN, gradio_body=False)
_CALL_RESULT = RouteRule(Access.LOGIN, event_id=("path", "event_id"), streaming=True)
_STREAM_SEGMENT = RouteRule(Access.LOGIN, session_hash=("path", "session_hash"))

GRADIO_ROUTES: Mapping[str, RouteRule] = {
    # The page and its static assets (the page itself is guarded by the login redirect).
    "GET /": LOGIN,
    "GET /config": LOGIN,
    "GET /config/": LOGIN,
    "GET /openapi.json": LOGIN,
    "GET /svelte/{path:path}": PUBLIC,
    "GET /static/{path:path}": PUBLIC,
    "GET /assets/{path:path}": PUBLIC,
    "GET /favicon.ico": PUBLIC,
    "GET /theme.css": PUBLIC,
    "GET /gradio_api/theme.css": PUBLIC,
    "GET /robots.txt": PUBLIC,
    "GET /pwa_icon": PUBLIC,
    "GET /pwa_icon/{size}": PUBLIC,
    "GET /manifest.json": PUBLIC,
    # Gradio's own login, tokens, dev mode, monitoring, vibe coding, run history: the
    # Django login replaces the first; the rest are not for production users.
    "POST /login": BLOCKED,
    "POST /login/": BLOCKED,
    "GET /logout": BLOCKED,
    "GET /gradio_api/token": BLOCKED,
    "GET /gradio_api/token/": BLOCKED,
    "GET /gradio_api/dev/reload": BLOCKED,
    "GET /gradio_api/deep_link": BLOCKED,
    "POST /gradio_api/process_recording": BLOCKED,
    "GET /gradio_api/proxy={url_path:path}": BLOCKED,
    "GET /monitoring": BLOCKED,
    "GET /monitoring/summary": BLOCKED,
    "GET /monitoring/{key}": BLOCKED,
    "GET /gradio_api/runs": BLOCKED,
    "GET /gradio_api/runs/": BLOCKED,
    "POST /gradio_api/run-history/connect": BLOCKED,
    "GET /gradio_api/run-history/buckets": BLOCKED,
    "GET /gradio_api/run-history/records": BLOCKED,
    "GET /gradio_api/run-history/records/{endpoint}/{record_id}/assets/{asset_id}": BLOCKED,
    "POST /gradio_api/vibe-edit": BLOCKED,
    "POST /gradio_api/vibe-edit/": BLOCKED,
    "POST /gradio_api/undo-vibe-edit": BLOCKED,
    "POST /gradio_api/undo-vibe-edit/": BLOCKED,
    "GET /gradio_api/vibe-code": BLOCKED,
    "POST /gradio_api/vibe-code": BLOCKED,
    "GET /gradio_api/vibe-code/": BLOCKED,
    "POST /gradio_api/vibe-code/": BLOCKED,
    "POST /gradio_api/vibe-starter-queries": BLOCKED,
    "POST /gradio_api/vibe-starter-queries/": BLOCKED,
    # Registered only with GRADIO_PROFILING set: every user's session hashes and event ids.
    "GET /gradio_api/profiling/traces": BLOCKED,
    "GET /gradio_api/profiling/summary": BLOCKED,
    "POST /gradio_api/profiling/clear": BLOCKED,
    # Hugging Face OAuth, registered for a page with a LoginButton: the Django login replaces it.
    "GET /login/huggingface": BLOCKED,
    "GET /login/callback": BLOCKED,
    # Read-only information about the app, the same for every logged-in user.
    "GET /gradio_api/user": LOGIN,
    "GET /gradio_api/user/": LOGIN,
    "GET /gradio_api/login_check": LOGIN,
    "GET /gradio_api/login_check/": LOGIN,
    "GET /gradio_api/app_id": LOGIN,
    "GET /gradio_api/app_id/": LOGIN,
    "GET /gradio_api/info": LOGIN,
    "GET /gradio_api/info/": LOGIN,
    "GET /gradio_api/openapi.json": LOGIN,
    "GET /gradio_api/startup-events": LOGIN,
    "GET /gradio_api/queue/status": LOGIN,
    "GET /gradio_api/custom_component/{id}/{environment}/{type}/{file_name}": LOGIN,
    # The queue: a session_hash belongs to the user (and Django session) that first used it
    # — the page's heartbeat or its first join; every other route needs it owned already.
    "POST /gradio_api/queue/join": RouteRule(Access.LOGIN, session_hash=_SESSION_IN_BODY, claims_session=True, issues_events=True),
    "GET /gradio_api/queue/data": RouteRule(Access.LOGIN, session_hash=("query", "session_hash"), streaming=True),
    "GET /gradio_api/heartbeat/{session_hash}": RouteRule(Access.LOGIN, session_hash=("path", "session_hash"), claims_session=True, streaming=True),
    "POST /gradio_api/cancel": RouteRule(Access.LOGIN, session_hash=_SESSION_IN_BODY, event_id=("body", "event_id")),
    "POST /gradio_api/reset": RouteRule(Access.LOGIN, event_id=("body", "event_id")),
    "POST /gradio_api/reset/": RouteRule(Access.LOGIN, event_id=("body", "event_id")),
    "POST /gradio_api/component_server": RouteRule(Access.LOGIN, session_hash=_SESSION_IN_BODY),
    "POST /gradio_api/component_server/": RouteRule(Access.LOGIN, session_hash=_SESSION_IN_BODY),
    # Direct API calls: /run answers at once; /call answers an event_id, then streams it.
    "POST /gradio_api/run/{api_name}": _RUN,
    "POST /gradio_api/run/{api_name}/": _RUN,
    "POST /gradio_api/api/{api_name}": _RUN,
    "POST /gradio_api/api/{api_name}/": _RUN,
    "POST /gradio_api/call/{api_name}": _CALL,
    "POST /gradio_api/call/{api_name}/": _CALL,
    "POST /gradio_api/call/v2/{api_name}": _CALL_V2,
    "POST /gradio_api/call/v2/{api_name}/": _CALL_V2,
    "GET /gradio_api/call/{api_name}/{event_id}": _CALL_RESULT,
    "GET /gradio_api/call/v2/{api_name}/{event_id}": _CALL_RESULT,
    # Streaming inputs and outputs of a running event or session.
    "POST /gradio_api/stream/{event_id}": RouteRule(Access.LOGIN, event_id=("path", "event_id")),
    "POST /gradio_api/stream/{event_id}/close": RouteRule(Access.LOGIN, event_id=("path", "event_id")),
    "GET /gradio_api/stream/{session_hash}/{run}/{component_id}/playlist.m3u8": _STREAM_SEGMENT,
    "GET /gradio_api/stream/{session_hash}/{run}/{component_id}/{segment_id}.{ext}": _STREAM_SEGMENT,
    "GET /gradio_api/stream/{session_hash}/{run}/{component_id}/playlist-file": _STREAM_SEGMENT,
    # Files: an upload belongs to its uploader; a file is served only to whoever it was
    # given to: an upload answer, or Gradio's cache for that user's event
    # (``gradio_file_hooks``), never a path found in an answer a client could have shaped.
    "POST /gradio_api/upload": RouteRule(Access.LOGIN, upload_id=("query", "upload_id"), issues_files=True, multipart=True),
    "GET /gradio_api/upload_progress": RouteRule(Access.LOGIN, upload_id=("query", "upload_id"), streaming=True),
    "GET /gradio_api/file={path_or_url:path}": RouteRule(Access.LOGIN, file_path=("path", "path_or_url")),
    "GET /gradio_api/file/{path:path}": RouteRule(Access.LOGIN, file_path=("path", "path")),
}


def rule_for(method: str, route_path: str) -> RouteRule:
    """The rule for one of Gradio's route templates.

    An unlisted route of Gradio's API (``/gradio_api/…``: one a Gradio release or a setting
    adds, and nobody has classified) is not served; any other unlisted route (the pages of a
    multipage app, ``/{page}``) needs the login.
    """
    rule = GRADIO_ROUTES.get(f"{'GET' if method == 'HEAD' else method} {route_path}")
    if rule is not None:
        return rule
    return BLOCKED if route_path.startswith(_API_PREFIX) else PAGE_ROUTE


def _flatten(routes: Iterable[Any]) -> list[Any]:
    flat: list[Any] = []
    for route in routes:
        # FastAPI >= 0.16x keeps included routers lazily; their effective routes match alike.
        effective = getattr(route, "effective_route_contexts", None)
        flat.extend(_flatten(effective()) if effective is not None else [route])
    return flat


class GradioRouteIndex:
    """Finds the route a request will reach the way the mounted Gradio app's router does.

    Matching with Gradio's own routes, in their order and with their methods, means the
    guard never disagrees with Gradio about which handler (and which identifiers) a path
    means: ``GET /gradio_api/call/v2/x`` is ``call/{api_name}/{event_id}`` to Gradio, so it
    is to the guard too.
    """

    def __init__(self, gradio_app: Any) -> None:
        self.routes = _flatten(gradio_app.routes)

    def templates(self) -> list[tuple[str, str]]:
        """Every ``(method, template)`` the app serves, for the completeness test."""
        return sorted(
            {("GET" if method == "HEAD" else method, route.path) for route in self.routes for method in route.methods or ()}
        )

    def match(self, method: str, relative_path: str) -> tuple[RouteRule, dict[str, Any]]:
        scope = {"type": "http", "method": method, "path": relative_path, "root_path": ""}
        for route in self.routes:
            matched, child_scope = route.matches(scope)
            if matched is Match.FULL:
                return rule_for(method, route.path), dict(child_scope.get("path_params", {}))
        # No route of Gradio's: a page's own route, or one Gradio answers 404 (under its API: refused).
        return rule_for(method, relative_path), {}
