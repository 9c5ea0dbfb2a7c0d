"""Shadow mode: call the new side with the user's request after Django has answered, compare.

The user's answer is Django's and is never held back: the legacy response is copied as it
streams out, and the comparison is queued only once it has been sent. The queue is bounded
(a full queue drops the comparison and counts it), each new-side call has a timeout, and
mismatches are stored deduplicated (route + signature of the differing paths) and redacted
with the parity tools' ``Redactor`` before they are written (the URL's secret parameters,
the differences, the bodies: the database never holds a secret), so ``manage.py parity
--from-shadow`` can replay them, with the secrets' placeholders.

A comparison is a second request's worth of work (the new handler, its queries, the diff) in
the serving process, and the control always wins: a queued comparison starts only once the
process has used less than ``idle_share`` of a CPU over the last ``quiet_window`` seconds, so
it fills the gaps between users' requests instead of making the next one wait (measured:
p99 2.6x at one connection when comparisons ran straight after each answer), and only when
no Django call started or ended in its last 5 ms and none runs or waits for its turn at its end. A comparison
that finds no such gap within ``max_wait`` is dropped and counted (``reason="busy"``): a
saturated worker shadows nothing, a worker with headroom shadows everything. A page that
arrives while a comparison runs does not wait for it either: the comparison stops at its next
``await`` and is done again in the next quiet moment, and its third try runs to its end (a
slow new side's answers must be counted too); one that finds no quiet moment again in time is
dropped (``reason="preempted"``).

A comparison that fails is counted (``result="error"``) and logged the way its cause deserves:
an outage of the database or session store as one line when it starts and one when
comparisons succeed again, a bug with its traceback (see ``_FailureLog``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import anyio
from django.conf import settings
from django.db import IntegrityError, transaction
from anyio.streams.memory import MemoryObjectSendStream
from starlette.types import ASGIApp, Scope

from fastapi_gateway.exceptions import BackendUnavailable
from fastapi_gateway.http.outage import is_outage
from fastapi_gateway.legacy.admission import QuietWindow, on_legacy_call
from fastapi_gateway.identity.session import resolve_user, session_key_from_headers
from fastapi_gateway.orm import run_orm
from fastapi_gateway.parity.compare import Difference, Reply, Rules, compare_replies, decode_json, is_html, is_json, text_of
from fastapi_gateway.parity.html_document import html_lines, parse_html
from fastapi_gateway.parity.redaction import Redactor
from fastapi_gateway.migrated_route import MigratedRoute
from fastapi_gateway.routing.metrics import SHADOW_DROPPED, SHADOW_PREEMPTED, SHADOW_RESULTS
from fastapi_gateway.routing.replay import Answer, call_in_process, legacy_path
from fastapi_gateway.routing.identity import verified_identity
from fastapi_gateway.routing.traffic import RECORDER

__all__ = ["ShadowJob", "ShadowRunner", "redact", "redactor", "stored_body"]

logger = logging.getLogger("fastapi_gateway.routing")

_STORED_BODY_LIMIT = 4096
_LATE_WAKE = 0.003  # timers fire within about a millisecond when the loop has the GIL to itself
_TRACEBACK_EVERY_SECONDS = 10.0  # per route and kind of exception, as OutageMiddleware logs its 503s
#: Times a comparison is stopped for a page that arrived, at most: the next try, in a quiet
#: moment of its own, runs to its end.
PREEMPTIONS = 2
_COMPARING: contextvars.ContextVar[bool] = contextvars.ContextVar("shadow_comparing", default=False)


@dataclass(frozen=True)
class ShadowJob:
    app: ASGIApp  # the gateway below the routing layer, where the new URL is served
    route: MigratedRoute
    scope: Scope  # the request, already pointed at the new URL
    body: bytes
    legacy: Answer


def redactor() -> Redactor:
    """Secret-looking fields, plus the fields named by the ``GATEWAY["PARITY_REDACT"]`` setting."""
    return Redactor.from_settings()


def redact(value: Any) -> Any:
    """Mask fields whose names look secret (or are configured), at any depth, before anything is stored."""
    return redactor().json(value)


def _result(route: str, result: str, *, gated: bool = True) -> None:
    SHADOW_RESULTS.labels(route, result).inc()
    if gated:  # the numbers the console and the rollout gates read: verified identities only
        RECORDER.shadow(route, result)


def _dropped(route: str, reason: str) -> None:
    SHADOW_DROPPED.labels(route, reason).inc()
    RECORDER.shadow(route, "dropped")


def _reply(answer: Answer, target: str) -> Reply:
    return Reply.of(answer.status, answer.raw_headers or answer.headers, answer.body, target)


def stored_body(reply: Reply, secrets: Redactor) -> str:
    """A body as the shadow store keeps it: redacted (JSON fields, HTML token inputs, text pairs), capped."""
    text: str | None = None
    if is_json(reply.media_type):
        try:
            text = json.dumps(secrets.json(decode_json(reply.body)), indent=1, sort_keys=True, ensure_ascii=False)
        except ValueError:
            text = None
    if text is None and is_html(reply.media_type):
        document = parse_html(text_of(reply))
        text = "\n".join(line for _, line in html_lines(document, attrs_filter=secrets.html_attrs, text_filter=secrets.html_text))
    if text is None:
        text = secrets.text(text_of(reply))
    return text[:_STORED_BODY_LIMIT]


def _target(scope: Scope, path: str) -> str:
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _count_again(route: str, signature: str) -> bool:
    """One more sighting on the stored row, counted by the database (``F``): none is lost to a
    concurrent one. False when there is no row yet."""
    from django.db.models import F

    from fastapi_gateway.routing.models import ShadowMismatch

    return bool(ShadowMismatch.objects.filter(route=route, signature=signature).update(count=F("count") + 1))


def _record_mismatch(job: ShadowJob, new: Answer | None, differences: list[Difference]) -> None:
    """Count the mismatch on its row, or store it (redacted) as a new one.

    Two comparisons of the same new mismatch (two workers, or two hosts) can both
    find no row to count on, and both insert: the unique route + signature lets one in. The
    other's insert runs in a savepoint of its own, so its ``IntegrityError`` rolls back that
    insert alone (PostgreSQL would refuse every later statement of a failed transaction) and
    the sighting is counted on the row the first one made instead of being lost.
    """
    from fastapi_gateway.routing.models import ShadowMismatch

    paths = sorted(difference.path for difference in differences)
    signature = hashlib.sha256("\n".join(paths).encode()).hexdigest()
    if _count_again(job.route.name, signature):
        return
    secrets = redactor()
    legacy_target = _target(job.scope, legacy_path(job.scope) or job.scope["path"])
    legacy = _reply(job.legacy, legacy_target)
    new_reply = _reply(new, _target(job.scope, job.scope["path"])) if new else None
    user = job.scope.get("user") or resolve_user(session_key_from_headers(job.scope.get("headers", ())))
    try:
        with transaction.atomic():
            ShadowMismatch.objects.create(
                route=job.route.name,
                signature=signature,
                method=job.scope["method"],
                path=secrets.url(legacy_target),
                username=user.get_username() if user.is_authenticated else "",
                differences=[difference.as_dict() for difference in secrets.differences(differences, legacy, new_reply)],
                legacy_status=job.legacy.status,
                new_status=new.status if new else None,
                legacy_body=stored_body(legacy, secrets),
                new_body=stored_body(new_reply, secrets) if new_reply else "",
            )
    except IntegrityError:
        if _count_again(job.route.name, signature):
            return  # another comparison stored it since the first try: counted on its row
        raise  # no row to count on, so the insert broke some other rule: a bug to hear about
    stale = ShadowMismatch.objects.filter(route=job.route.name).order_by("-last_seen").values_list("pk", flat=True)[100:]
    ShadowMismatch.objects.filter(pk__in=list(stale)).delete()


def _is_outage(exc: BaseException) -> bool:
    """The database or session store unreachable: ``is_outage``'s test, or the identity layer
    saying so (it wraps the cause in ``BackendUnavailable``)."""
    return isinstance(exc, BackendUnavailable) or is_outage(exc)


class _FailureLog:
    """How a runner logs its failed comparisons: an outage as one event, a bug with its traceback.

    An outage of the database or session store fails every comparison until it ends, all for
    one known reason, and a traceback each said nothing new (127 in a ten-second outage). So
    the first failure logs one line, the failures after it are only counted (the metric's
    ``error``; each one at DEBUG), and the first comparison that succeeds once ``quiet`` seconds have passed
    without an outage failure logs the end. A success sooner than that does not end it: a
    comparison that never touched the store (an anonymous visitor's, say) succeeds in the
    middle of an outage, and the log would flap with the mix of traffic.

    Any other exception is a bug in the new side or here, and keeps its traceback, though not
    one per request either: one per route and kind of exception every ten seconds, the next
    one saying how many it stands for.
    """

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self.outage_since: float | None = None
        self._outage_last = 0.0
        self._outage_failures = 0
        self._tracebacks: dict[tuple[str, str], tuple[float, int]] = {}  # last traceback, failures since

    def failed(self, route: str, exc: Exception) -> None:
        now = time.monotonic()
        if _is_outage(exc):
            if self.outage_since is None:
                self.outage_since, self._outage_failures = now, 0
                logger.warning(
                    "shadow comparisons failing: the database or session store is unreachable (%r, on %s); "
                    "counted as errors, one line again when they succeed",
                    exc.cause if isinstance(exc, BackendUnavailable) else exc, route,
                    extra={"event": "shadow_outage", "route": route},
                )
            self._outage_last = now
            self._outage_failures += 1
            logger.debug("shadow comparison of %s failed in the outage: %r", route, exc)  # each one, for whoever asks
            return
        key = (route, f"{type(exc).__module__}.{type(exc).__qualname__}")
        last, skipped = self._tracebacks.get(key, (-math.inf, 0))
        if now - last < _TRACEBACK_EVERY_SECONDS:
            self._tracebacks[key] = (last, skipped + 1)
            return
        self._tracebacks[key] = (now, 0)
        logger.warning(
            "shadow comparison of %s failed%s", route,
            f" ({skipped} more like it since the last traceback)" if skipped else "", exc_info=exc,
        )

    def succeeded(self) -> None:
        if self.outage_since is None:
            return
        now = time.monotonic()
        if now - self._outage_last < self.quiet:
            return
        logger.warning(
            "shadow comparisons succeed again: the outage lasted %.1f s, %d comparisons failed",
            self._outage_last - self.outage_since, self._outage_failures, extra={"event": "shadow_outage_over"},
        )
        self.outage_since = None


class ShadowRunner:
    """A bounded queue of comparisons and one worker task draining it in the process's quiet moments."""

    def __init__(
        self,
        *,
        max_queue: int = 100,
        timeout: float = 2.0,
        idle_share: float = 0.5,
        quiet_window: float = 0.02,
        max_wait: float = 10.0,
        outage_quiet: float = 1.0,
    ) -> None:
        self.timeout = timeout
        self.max_queue = max_queue
        self.idle_share = idle_share
        self.quiet_window = quiet_window
        self.max_wait = max_wait
        self._send: MemoryObjectSendStream[tuple[float, ShadowJob]] | None = None
        self.completed = 0
        self.dropped_busy = 0  # dropped for want of a quiet moment (first, or after being stopped for a page)
        self.preempted = 0  # comparisons abandoned for a page (tried again, or dropped)
        self.failures = _FailureLog(outage_quiet)

    def has_room(self) -> bool:
        """Whether a comparison submitted now would be queued, not dropped as ``queue_full``:
        a request that finds no room is served with nothing copied for it (``drop``)."""
        send = self._send
        if send is None:
            return False
        queue = send.statistics()
        return queue.current_buffer_used < queue.max_buffer_size or queue.tasks_waiting_receive > 0

    def drop(self, route: MigratedRoute) -> None:
        """Count a comparison of ``route`` that found no room, as ``submit`` counts it."""
        _dropped(route.name, "queue_full")

    def submit(self, job: ShadowJob) -> None:
        """Queue a comparison without waiting; when the queue is full (or not running), drop it."""
        try:
            if self._send is None:
                raise anyio.WouldBlock
            self._send.send_nowait((time.monotonic(), job))
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            _dropped(job.route.name, "queue_full")

    async def run_forever(self) -> None:
        send, receive = anyio.create_memory_object_stream[tuple[float, ShadowJob]](self.max_queue)
        self._send = send
        try:
            async with send, receive:
                async for queued_at, job in receive:
                    if await self._quiet_moment(queued_at + self.max_wait):
                        await self._run(job, queued_at + self.max_wait)
                    else:
                        self.dropped_busy += 1
                        _dropped(job.route.name, "busy")
        finally:
            self._send = None

    async def _quiet_moment(self, deadline: float) -> bool:
        """Wait for a ``quiet_window`` in which this process used under ``idle_share`` of a CPU
        (all its threads: legacy views, new routes, Gradio) and the event loop woke on time
        (a late wake-up means threads queuing for the GIL, or for a CPU on a starved machine,
        where the CPU share alone would look low), and with no Django call running or waiting
        for its turn at its end (a page arriving now would wait behind the comparison: at 16
        saturating connections the CPU test alone let a few through, p99 1.36x), nor any
        started or ended in its last 5 ms (one client's back-to-back pages leave the bridge idle
        for a fraction of a millisecond between two; a comparison started there made the next
        page wait: p99 1.10x at one connection); False at ``deadline``."""
        while True:
            window = QuietWindow()
            if window.wall >= deadline:
                return False
            await anyio.sleep(self.quiet_window)
            if window.was_quiet(self.quiet_window, cpu_share=self.idle_share, late_wake=_LATE_WAKE):
                return True

    async def _run(self, job: ShadowJob, deadline: float) -> None:
        """Compare, in this quiet moment or, each time a page arrives before the new side has
        answered, in the next one until ``deadline``: ``PREEMPTIONS`` times, and the last try
        runs to its end whatever arrives. Stopped every time, the slow answers (a new side that
        hangs until its timeout, slow errors) would never be counted, and a rollout's gate
        would see only the quick ones. No quiet moment by ``deadline``: dropped, counted as
        ``preempted``."""
        try:
            tries = 0
            while (compared := await self._preemptible(job, preemptible=tries < PREEMPTIONS)) is None:
                tries += 1
                self.preempted += 1
                SHADOW_PREEMPTED.labels(job.route.name).inc()
                if not await self._quiet_moment(deadline):
                    self.dropped_busy += 1
                    _dropped(job.route.name, "preempted")
                    return
            await self._conclude(job, *compared)
        except Exception as exc:  # noqa: BLE001 - a broken comparison must not stop the next ones
            _result(job.route.name, "error")
            self.failures.failed(job.route.name, exc)
        else:
            self.failures.succeeded()
        self.completed += 1

    async def _preemptible(self, job: ShadowJob, *, preemptible: bool) -> tuple[bool, Answer | None, list[Difference]] | None:
        """The comparison's own work (the identity, the new side's answer, the differences), or
        None, abandoned, if a Django call was handed over meanwhile (``preemptible``): a page
        that arrives while a comparison runs would wait for it (paced pages' p99 1.30x the
        legacy state's), so the comparison stops at its next ``await``, the control wins, and
        it is tried again in the next quiet moment. A call the new side itself makes to Django
        does not count. Work handed to a thread (the identity's lookup, a query through
        ``run_orm`` or a sync endpoint) is shielded: the comparison stops once it returns."""
        if not preemptible:
            token = _COMPARING.set(True)  # no page stops it; its calls still are not pages to another's
            try:
                return await self._compare(job)
            finally:
                _COMPARING.reset(token)
        loop = asyncio.get_running_loop()
        with anyio.CancelScope() as scope:

            def page_arrived() -> None:
                if _COMPARING.get():
                    return  # this comparison's own call
                try:
                    on_loop = asyncio.get_running_loop() is loop
                except RuntimeError:  # a thread with no loop
                    on_loop = False
                if on_loop:
                    scope.cancel()
                else:
                    with contextlib.suppress(RuntimeError):  # the loop closed: nothing runs to stop
                        loop.call_soon_threadsafe(scope.cancel)

            stop_watching = on_legacy_call(page_arrived)
            token = _COMPARING.set(True)
            try:
                return await self._compare(job)
            finally:
                _COMPARING.reset(token)
                stop_watching()
        return None  # cancelled: a page arrived

    async def _compare(self, job: ShadowJob) -> tuple[bool, Answer | None, list[Difference]]:
        new: Answer | None = None
        # A comparison for no verified identity (a made-up session cookie) counts for
        # Prometheus only: a flood of requests both sides refuse alike must not outvote
        # real users' differences in the rollout gates (see ``routing.identity``).
        gated = await verified_identity(job.scope) is not None
        with anyio.move_on_after(job.route.new_timeout or self.timeout) as deadline:
            new = await call_in_process(job.app, job.scope, job.body)
        if deadline.cancelled_caught or new is None:
            return gated, None, [Difference("timeout", None, f"> {job.route.new_timeout} s")]
        rules = Rules.for_route(job.route).plus(
            # The middleware keeps legacy headers as a dict (one Set-Cookie): cookies only
            # compare when it handed over the raw list.
            Rules(ignore_cookies=(settings.CSRF_COOKIE_NAME,), compare_cookies=bool(job.legacy.raw_headers))
        )
        legacy_target = _target(job.scope, legacy_path(job.scope) or job.scope["path"])
        # No ``await`` from here on: the loop hands no page over while this runs, and what has
        # been compared is kept.
        differences = compare_replies(
            _reply(job.legacy, legacy_target), _reply(new, _target(job.scope, job.scope["path"])), rules
        )
        return gated, new, differences

    async def _conclude(self, job: ShadowJob, gated: bool, new: Answer | None, differences: list[Difference]) -> None:
        """Count the comparison, and store a mismatch (not abandoned for a page: it is known now)."""
        if new is None:
            _result(job.route.name, "timeout", gated=gated)
        elif not differences:
            _result(job.route.name, "agree", gated=gated)
            return
        else:
            _result(job.route.name, "differ", gated=gated)
        logger.warning(
            "shadow mismatch on %s: %s", job.route.name, ", ".join(d.path for d in differences[:5]),
            extra={"event": "shadow_mismatch", "route": job.route.name},
        )
        await run_orm(_record_mismatch, job, new, differences)
