"""Pure ASGI guard in front of each Gradio mount: login, ownership, origin, live revocation.

For every request under a page's mount path it finds the Gradio route the request will
reach (``gradio_routes``), then: serves public assets as they are; refuses blocked routes
(404); refuses unsafe cross-site requests (403); wants the Django login (401); checks that
the ``session_hash``, ``event_id``, ``upload_id`` or file path named by the request belongs
to this user and Django session (403/404); refuses a request naming, anywhere in its JSON,
a file that is not this user's (403); refuses users the page's own rule does not admit
(``staff_only``, ``permission``: 403); records identifiers the answer hands out; and, for
long-lived streams, re-checks the login (and the page's rule) while the stream is open,
ending it after a logout, password change, deactivation or loss of the permission. The
request then runs under its ``FileAccess``, which Gradio's file handling obeys
(``gradio_file_hooks``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import anyio
from starlette.datastructures import Headers, QueryParams
from starlette.responses import HTMLResponse, JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fastapi_gateway.compat import get_route_path
from fastapi_gateway.http.channels import ResponseTracker, read_body, replay_body
from fastapi_gateway.identity.session import session_key_from_headers, user_for_scope
from fastapi_gateway.pages.access import EVERYONE, PageAccess
from fastapi_gateway.exceptions import CsrfFailure, EventCallRefused, MalformedUpload
from fastapi_gateway.pages.event_target import check_event_call
from fastapi_gateway.pages.file_hooks import is_static_file, using_access
from fastapi_gateway.pages.file_policy import SCOPE_KEY, FileAccess, file_references, served_path
from fastapi_gateway.pages.ownership import Kind, Owner, OwnershipRegistry
from fastapi_gateway.pages.released import ReleasedSessions
from fastapi_gateway.pages.request_shape import check_upload
from fastapi_gateway.pages.routes import Access, GradioRouteIndex, RouteRule, Source
from fastapi_gateway.identity.origin_check import check_same_origin
from fastapi_gateway.identity.login_redirect import script_prefix
from fastapi_gateway.pages.signed_out import signed_out_response
from fastapi_gateway.pages.stream_watch import StreamWatch

__all__ = ["GradioGuardMiddleware"]

logger = logging.getLogger(__name__)

_MAX_INSPECTED_BODY = 8 * 1024 * 1024
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_MAX_IDENTIFIER = 256  # Gradio's own: session hashes of 11 characters, event and upload ids of 32
_MAX_FILE_PATH = 4096  # Linux's PATH_MAX
_BODY_SESSION: Source = ("body", "session_hash")
_BODY_EVENT: Source = ("body", "event_id")
# The stream of results of events already admitted (``queue/data``), opened this soon after an
# admission of the same Django session on this process, uses that admission (see ``_user``).
FRESH_ADMISSION_SECONDS = 1.0
_ADMISSIONS_KEPT = 10_000


_NOT_ALLOWED_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Forbidden</title></head>
<body><h1>Forbidden</h1><p>You are signed in, but this page is not open to your account.</p>
<p><a href="/">Back to the site</a></p></body></html>
"""


class _Refused(Exception):
    def __init__(self, status_code: int, detail: str, *, document: bool = False) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.document = document  # a browser asked for the page itself: answer in HTML


class GradioGuardMiddleware:
    """Guards the Gradio apps mounted at ``mounts`` (mount path → the mounted Gradio app)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        mounts: Mapping[str, Any],
        access: Mapping[str, PageAccess] | None = None,
        registry: OwnershipRegistry | None = None,
        recheck_seconds: float = 2.0,
    ) -> None:
        self.app = app
        self.indexes = {path.rstrip("/"): GradioRouteIndex(gradio_app) for path, gradio_app in mounts.items()}
        self.pages = {path.rstrip("/"): gradio_app for path, gradio_app in mounts.items()}
        self.access = {path.rstrip("/"): rule for path, rule in (access or {}).items()}
        self.registry = registry if registry is not None else OwnershipRegistry()
        self.released = ReleasedSessions(self.pages, self.registry)
        if self.registry.on_release is None:
            self.registry.on_release = self.released.released
        self.recheck_seconds = recheck_seconds
        self.streams = StreamWatch(interval=recheck_seconds, max_sessions_per_user=self.registry.max_sessions_per_user)
        self._admitted: dict[str, tuple[float, Any]] = {}  # session key -> (when, user) of its last lookup

    def _mount_of(self, path: str) -> tuple[str, GradioRouteIndex] | None:
        for mount, index in self.indexes.items():
            if path == mount or path.startswith(mount + "/"):
                return mount, index
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.released.loop = asyncio.get_running_loop()  # where Gradio's queue lives (this app may be served again on another)
        # Below the root path, as the router matches (``uvicorn --root-path``, or the gateway
        # mounted in another app): the mount Gradio is reached at is the one guarded.
        route_path = get_route_path(scope) if scope["type"] in ("http", "websocket") else ""
        found = self._mount_of(route_path) if route_path else None
        if found is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            # Gradio serves no websockets; nothing under its mount may open one.
            await send({"type": "websocket.close", "code": 1008})
            return
        mount, index = found
        page_path = route_path[len(mount):] or "/"
        rule, path_params = index.match(scope["method"], page_path)
        try:
            await self._guard(scope, receive, send, mount, page_path, rule, path_params)
        except _Refused as refusal:
            if refusal.status_code == 401:
                # Says, to a stale tab, that its user signed out and where to sign in again.
                await signed_out_response(mount, prefix=script_prefix(scope))(scope, receive, send)
            elif refusal.document:
                await HTMLResponse(_NOT_ALLOWED_PAGE, status_code=refusal.status_code)(scope, receive, send)
            else:
                await JSONResponse({"detail": refusal.detail}, status_code=refusal.status_code)(scope, receive, send)

    async def _guard(
        self, scope: Scope, receive: Receive, send: Send, mount: str, page_path: str, rule: RouteRule,
        path_params: dict[str, Any],
    ) -> None:
        if rule.access is Access.PUBLIC:
            await self.app(scope, receive, send)
            return
        if rule.access is Access.BLOCKED:
            raise _Refused(404, "Not Found")
        session_key = session_key_from_headers(scope.get("headers", ()))
        user = await self._user(scope, rule, session_key)
        if not user.is_authenticated or not session_key:
            raise _Refused(401, "Not authenticated")
        try:
            check_same_origin(scope)
        except CsrfFailure as exc:
            raise _Refused(403, str(exc)) from exc
        page_access = self.access.get(mount, EVERYONE)
        if page_access.restricted and not await page_access.aallows(user):
            landing = scope["method"] in _SAFE_METHODS and page_path == "/"
            wants_html = "text/html" in Headers(scope=scope).get("accept", "")
            raise _Refused(403, "This page is not open to your account.", document=landing and wants_html)
        owner = Owner.of(getattr(user, "pk", None), session_key)
        access = FileAccess(owner=owner, registry=self.registry, started=time.time())
        scope[SCOPE_KEY] = access  # Gradio's queue processes the event in a task of its own

        body: bytes | None = None
        carries_input = scope["method"] not in _SAFE_METHODS and not rule.multipart
        if carries_input or "body" in (src[0] for src in (rule.session_hash, rule.event_id, rule.upload_id, rule.file_path) if src):
            body, receive = await _buffer_body(receive)
        identifiers = _Identifiers(scope, path_params, body)
        bound_session = self._check_ownership(rule, identifiers, owner, access)
        if carries_input:
            try:
                check_event_call(self.pages[mount].get_blocks(), page_path, identifiers.body)
            except EventCallRefused as exc:
                raise _Refused(exc.status_code, exc.detail) from exc
            _check_named_files(identifiers.body, access)
        if rule.multipart:
            try:
                receive = check_upload(scope, receive)
            except MalformedUpload as exc:
                raise _Refused(400, exc.detail) from exc

        if rule.issues_events or rule.issues_files:
            opens_session = rule.event_names_session and identifiers.get(rule.session_hash) is None
            send = self._recording_send(send, rule, owner, opens_session=opens_session)
        with self.released.in_flight(bound_session, owner), using_access(access):
            if rule.streaming:
                await self._stream_while_logged_in(scope, receive, send, owner, session_key, page_access)
            else:
                await self.app(scope, receive, send)

    async def _user(self, scope: Scope, rule: RouteRule, session_key: str | None) -> Any:
        """The request's Django user, read from the session store and the database.

        One exception: the stream that carries the results of events already admitted
        (``queue/data``: a stream on a session that must be owned already), opened within
        ``FRESH_ADMISSION_SECONDS`` of a lookup for the same Django session on this process (in
        practice the event's own ``queue/join`` a moment before), uses that lookup. It can only
        carry what that lookup admitted: every new event is a ``queue/join``, which always looks
        up, so a logout, a password change or a deactivation still ends access on the next
        event, on every process; and the open stream is re-checked every ``recheck_seconds``
        like any other. That saves one of the two lookups of each event.
        """
        now = time.monotonic()
        reads_admitted_results = rule.streaming and rule.session_hash is not None and not rule.claims_session
        if session_key and reads_admitted_results and "user" not in scope:
            admitted = self._admitted.get(session_key)
            if admitted is not None and now - admitted[0] < FRESH_ADMISSION_SECONDS:
                scope["user"] = admitted[1]
                return admitted[1]
        user = await user_for_scope(scope)
        if session_key and user.is_authenticated:
            self._admitted.pop(session_key, None)  # re-inserted last: the dict stays oldest first
            self._admitted[session_key] = (now, user)
            # Drop what is out of the window (or over the cap) from the old end: memory holds
            # only the last second's sessions, at most _ADMISSIONS_KEPT of them.
            while self._admitted:
                oldest_key, (when, _user) = next(iter(self._admitted.items()))
                if now - when < FRESH_ADMISSION_SECONDS and len(self._admitted) <= _ADMISSIONS_KEPT:
                    break
                del self._admitted[oldest_key]
        else:
            self._admitted.pop(session_key or "", None)
        return user

    def _check_ownership(self, rule: RouteRule, ids: _Identifiers, owner: Owner, access: FileAccess) -> str | None:
        """Check every identifier the request names; the Gradio session it works on, if any."""
        session_hash = ids.get(rule.session_hash)
        if session_hash is not None:
            if rule.claims_session:
                self._claim_session(session_hash, owner)
            elif not self.registry.owns("session", session_hash, owner):
                raise _Refused(403, "This Gradio session is not yours, or has not started.")
        elif rule.session_hash is not None and not rule.event_names_session:
            # Without one, Gradio shares what it keeps (``gr.cache``) among every caller.
            raise _Refused(400, "session_hash is required.")
        body_session = self._check_body_identifiers(rule, ids, owner) if rule.gradio_body else None
        upload_id = ids.get(rule.upload_id)
        if upload_id is not None:
            self._claim("upload", upload_id, owner)
        if rule.event_id is not None:
            event_id = ids.get(rule.event_id)
            if event_id is None or not self.registry.owns("event", event_id, owner):
                raise _Refused(404, "No such event.")
        if rule.file_path is not None:
            path = ids.get(rule.file_path, max_length=_MAX_FILE_PATH)
            if path is None or not (access.holds(path) or is_static_file(path)):
                raise _Refused(404, "File not found.")
        return session_hash or body_session

    def _check_body_identifiers(self, rule: RouteRule, ids: _Identifiers, owner: Owner) -> str | None:
        """A ``session_hash`` or ``event_id`` in a JSON body that the route's rule does not bind
        is still read by Gradio on some routes (``stream/{event_id}`` runs the chunk in the
        body's session, on the body's event): it must be the caller's session, and the event
        the rule checked, or absent."""
        body_session = ids.get(_BODY_SESSION)
        if body_session is not None and rule.session_hash != _BODY_SESSION and not self.registry.owns("session", body_session, owner):
            raise _Refused(403, "This Gradio session is not yours, or has not started.")
        body_event = ids.get(_BODY_EVENT)
        if body_event is not None and rule.event_id != _BODY_EVENT and body_event != ids.get(rule.event_id):
            raise _Refused(400, "event_id is not expected here.")
        return body_session

    def _claim_session(self, session_hash: str, owner: Owner) -> None:
        """Bind a session hash to its first user, on every page (the record is one for all); one
        the record let go of only once nothing works on it any more (``released``)."""
        unheld = not self.registry.owns("session", session_hash, owner) and not self.registry.held("session", session_hash)
        if unheld and not self.released.may_take(session_hash, owner):
            logger.warning("refused a Gradio session hash its earlier owner's work still runs on")
            raise _Refused(403, "This Gradio session belongs to another user.")
        self._claim("session", session_hash, owner)

    def _claim(self, kind: Kind, identifier: str, owner: Owner) -> None:
        if not self.registry.claim(kind, identifier, owner):
            logger.warning("refused a Gradio %s: it belongs to another user or session", kind)
            raise _Refused(403, f"This Gradio {kind} belongs to another user.")

    def _recording_send(self, send: Send, rule: RouteRule, owner: Owner, *, opens_session: bool = False) -> Send:
        """Record event ids and file paths from the answer before the client can use them
        (and, where the event runs in a Gradio session named by its id, that session too)."""
        buffered = bytearray()
        streamed_line = bytearray()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if rule.streaming:
                    streamed_line.extend(chunk)
                    *complete, rest = bytes(streamed_line).split(b"\n")
                    streamed_line[:] = rest
                    for line in complete:
                        if line.startswith(b"data:"):
                            self._record(_parse_json(line[5:]), rule, owner, opens_session)
                elif len(buffered) + len(chunk) <= _MAX_INSPECTED_BODY:
                    buffered.extend(chunk)
                    if not message.get("more_body", False):
                        self._record(_parse_json(bytes(buffered)), rule, owner, opens_session)
            await send(message)

        return recording_send

    def _record(self, payload: Any, rule: RouteRule, owner: Owner, opens_session: bool = False) -> None:
        if payload is None:
            return
        if rule.issues_events and isinstance(payload, dict) and isinstance(payload.get("event_id"), str):
            self.registry.grant("event", payload["event_id"], owner)
            if opens_session:
                self.registry.grant("session", payload["event_id"], owner)
        if rule.issues_files:
            for path in _uploaded_paths(payload):
                self.registry.grant("file", served_path(path), owner)

    async def _stream_while_logged_in(
        self, scope: Scope, receive: Receive, send: Send, owner: Owner, session_key: str, page_access: PageAccess = EVERYONE
    ) -> None:
        """Run a long-lived response, ending it once the session no longer holds this user, or
        the user no longer passes the page's rule (``stream_watch``: re-checked with every
        other open stream of the process)."""
        tracker = ResponseTracker(send)
        revoked = False
        with anyio.CancelScope() as stream:

            def revoke() -> None:
                nonlocal revoked
                revoked = True
                stream.cancel()

            handle = self.streams.watch(session_key, owner.user_pk, page_access, revoke)
            try:
                await self.app(scope, receive, tracker)
            except Exception as exc:
                if not tracker.started:
                    raise
                # Gradio raises inside a stream it already answered 200 (e.g. queue/data
                # for a finished session); the status cannot change, so end it cleanly.
                logger.warning("a Gradio stream failed after it started: %r", exc)
                await tracker.finish()
            finally:
                self.streams.unwatch(handle)
        if revoked:
            if tracker.started:
                await tracker.finish()
            else:
                await JSONResponse({"detail": "Not authenticated"}, status_code=401)(scope, receive, send)


class _Identifiers:
    """Where a rule's identifiers live: path parameters, query string or JSON body."""

    def __init__(self, scope: Scope, path_params: Mapping[str, Any], body: bytes | None) -> None:
        self.path_params = path_params
        self.query = QueryParams(scope.get("query_string", b""))
        self.body = _parse_json(body) if body else None
        if body and not isinstance(self.body, dict):
            raise _Refused(400, "Expected a JSON object body.")

    def get(self, source: Source | None, *, max_length: int = _MAX_IDENTIFIER) -> str | None:
        """The identifier, ``None`` where the request leaves it out (or sends JSON ``null``).

        One that is there but is not a non-empty string of at most ``max_length`` is refused
        (400): Gradio takes ``""`` as a session like any other (one every user would
        share), and the record's budgets count identifiers, not their bytes.
        """
        if source is None:
            return None
        where, name = source
        if where == "path":
            value = self.path_params.get(name)
        elif where == "query":
            value = self.query.get(name)
        else:
            value = self.body.get(name) if isinstance(self.body, dict) else None
        if value is None:
            return None
        if not isinstance(value, str) or not value or len(value) > max_length:
            raise _Refused(400, f"{name} must be a non-empty string of at most {max_length} characters.")
        return value


async def _buffer_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read a (small, JSON) request body to inspect it, and hand the app a replay of it."""
    try:
        body = await read_body(receive, limit=_MAX_INSPECTED_BODY)
    except ConnectionAbortedError as exc:
        raise _Refused(400, "Client disconnected.") from exc
    except OverflowError as exc:
        raise _Refused(413, "Request body too large to inspect.") from exc
    return body, replay_body(body, receive)


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _check_named_files(payload: Any, access: FileAccess) -> None:
    """Refuse a request that names, anywhere in its JSON, a file its user was not given."""
    for path in file_references(payload):
        if not access.holds(path):
            logger.warning("refused a Gradio request naming a file that is not its user's")
            raise _Refused(403, "This request names a file that was not uploaded by you or given to you.")


def _uploaded_paths(payload: Any) -> Iterator[str]:
    """The paths of Gradio's upload answer (a list of strings) inside its upload folder."""
    from fastapi_gateway.compat import get_upload_folder

    folder = os.path.realpath(get_upload_folder())
    if isinstance(payload, list):
        for item in payload:
            if isinstance(item, str) and os.path.realpath(item).startswith(folder + os.sep):
                yield item
