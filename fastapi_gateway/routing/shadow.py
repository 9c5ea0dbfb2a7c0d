"""Shadow mode: call the new side with the user's request after Django has answered, compare.

The user's answer is Django's and is never held back: the legacy response is copied as it
streams out, and the comparison is queued only once it has been sent. The queue is bounded
(a full queue drops the comparison and counts it), each new-side call has a timeout, and
mismatches are stored deduplicated (route + signature of the differing paths) and redacted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream
from starlette.types import ASGIApp, Scope

from ..orm import run_orm
from ..parity.compare import Difference, compare_responses
from .declarations import MigratedRoute
from .metrics import SHADOW_DROPPED, SHADOW_RESULTS
from .replay import Answer, call_in_process

__all__ = ["ShadowJob", "ShadowRunner", "redact"]

logger = logging.getLogger("fastapi_gateway.routing")

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|csrf|session|cookie|authori[sz]ation|api[_-]?key", re.I)
_STORED_BODY_LIMIT = 4096


@dataclass(frozen=True)
class ShadowJob:
    app: ASGIApp  # the gateway below the routing layer, where the new URL is served
    route: MigratedRoute
    scope: Scope  # the request, already pointed at the new URL
    body: bytes
    legacy: Answer


def redact(value: Any) -> Any:
    """Mask fields whose names look secret, at any depth, before anything is stored."""
    if isinstance(value, dict):
        return {key: "[redacted]" if _SECRET_KEYS.search(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _stored_body(body: bytes) -> str:
    try:
        text = json.dumps(redact(json.loads(body)), indent=1, sort_keys=True)
    except ValueError:
        text = body.decode("utf-8", "replace")
    return text[:_STORED_BODY_LIMIT]


def _record_mismatch(job: ShadowJob, new: Answer | None, differences: list[Difference]) -> None:
    from django.db.models import F

    from .models import ShadowMismatch

    paths = sorted(difference.path for difference in differences)
    signature = hashlib.sha256("\n".join(paths).encode()).hexdigest()
    updated = ShadowMismatch.objects.filter(route=job.route.name, signature=signature).update(count=F("count") + 1)
    if updated:
        return
    ShadowMismatch.objects.create(
        route=job.route.name,
        signature=signature,
        method=job.scope["method"],
        path=job.scope.get("gateway.legacy_path", job.scope["path"]),
        differences=redact([difference.as_dict() for difference in differences]),
        legacy_status=job.legacy.status,
        new_status=new.status if new else None,
        legacy_body=_stored_body(job.legacy.body),
        new_body=_stored_body(new.body) if new else "",
    )
    stale = ShadowMismatch.objects.filter(route=job.route.name).order_by("-last_seen").values_list("pk", flat=True)[100:]
    ShadowMismatch.objects.filter(pk__in=list(stale)).delete()


class ShadowRunner:
    """A bounded queue of comparisons and one worker task draining it."""

    def __init__(self, *, max_queue: int = 100, timeout: float = 2.0) -> None:
        self.timeout = timeout
        self.max_queue = max_queue
        self._send: MemoryObjectSendStream[ShadowJob] | None = None
        self.completed = 0

    def submit(self, job: ShadowJob) -> None:
        """Queue a comparison without waiting; when the queue is full (or not running), drop it."""
        try:
            if self._send is None:
                raise anyio.WouldBlock
            self._send.send_nowait(job)
        except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            SHADOW_DROPPED.labels(job.route.name).inc()

    async def run_forever(self) -> None:
        send, receive = anyio.create_memory_object_stream[ShadowJob](self.max_queue)
        self._send = send
        try:
            async with send, receive:
                async for job in receive:
                    await self._run(job)
        finally:
            self._send = None

    async def _run(self, job: ShadowJob) -> None:
        try:
            await self._compare(job)
        except Exception:  # noqa: BLE001 - a broken comparison must not stop the next ones
            SHADOW_RESULTS.labels(job.route.name, "error").inc()
            logger.warning("shadow comparison of %s failed", job.route.name, exc_info=True)
        self.completed += 1

    async def _compare(self, job: ShadowJob) -> None:
        new: Answer | None = None
        with anyio.move_on_after(job.route.new_timeout or self.timeout) as deadline:
            new = await call_in_process(job.app, job.scope, job.body)
        if deadline.cancelled_caught or new is None:
            SHADOW_RESULTS.labels(job.route.name, "timeout").inc()
            differences = [Difference("timeout", None, f"> {job.route.new_timeout} s")]
        elif job.route.page:
            # A page is not the same document as the legacy one: it must just answer.
            ok = new.status < 400
            differences = [] if ok else [Difference("status", job.legacy.status, new.status)]
        else:
            differences = compare_responses(
                (job.legacy.status, job.legacy.headers, job.legacy.body),
                (new.status, new.headers, new.body),
                ignore=job.route.parity_ignore,
                unordered=job.route.parity_unordered,
            )
        if not differences:
            SHADOW_RESULTS.labels(job.route.name, "agree").inc()
            return
        if new is not None:
            SHADOW_RESULTS.labels(job.route.name, "differ").inc()
        logger.warning(
            "shadow mismatch on %s: %s", job.route.name, ", ".join(d.path for d in differences[:5]),
            extra={"event": "shadow_mismatch", "route": job.route.name},
        )
        await run_orm(_record_mismatch, job, new, differences)
