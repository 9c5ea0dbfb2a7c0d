"""Each route's numbers across every process and host, for the console and the rollout gates.

Prometheus' counters live in one process's memory: behind nginx two workers each know half
of the traffic, and a scraper is not something the gateway may ask. So every process also
keeps a few counters of its own (a dict increment per request, on the event loop) and writes
them every ``TRAFFIC_FLUSH_SECONDS`` to ``TrafficSample`` rows of its own (``source`` is
host:pid, so no two writers share a row), in ``BUCKET_SECONDS`` time buckets. Reading sums the
rows of a window over every source: the totals are the same whichever process is asked.

What is kept per route and side: requests, 5xx answers, a log-spaced latency histogram (p50
and p99 within 20 %), fallbacks and shadow results. Per Django URL pattern (the coverage of
the move): the requests each side answered there. Paths are resolved to patterns in the
writer thread, never while serving; a process keeps at most ``_MAX_PATHS`` distinct paths
between two writes, so random URLs cannot grow its memory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.urls import Resolver404, resolve
from django.utils import timezone, translation

from fastapi_gateway.compat import get_route_path

if TYPE_CHECKING:
    from fastapi_gateway.orm import KeptConnectionThread

__all__ = [
    "BUCKET_SECONDS",
    "CountingLegacy",
    "RECORDER",
    "SideNumbers",
    "TrafficRecorder",
    "UNMATCHED",
    "UNVERIFIED",
    "UNRESOLVED",
    "pattern_counts",
    "route_numbers",
    "route_timeline",
]

logger = logging.getLogger("fastapi_gateway.routing")

BUCKET_SECONDS = 10
_MAX_PATHS = 4096
_MAX_PATH_LENGTH = 1024  # a longer path is counted, not kept or resolved
_PATTERN_LENGTH = 255  # the pattern column's size: a longer pattern is cut, and counts under the cut
# The pattern names of requests no pattern answered, and of paths past the cap: "<404>" and
# "<+>" are no route a URLconf can have (path() refuses such a converter name).
UNMATCHED = "<404>"
# The side of the new side's answers to no verified identity (see ``routing.identity``): shown
# apart, never read by the rollout gates.
UNVERIFIED = "unverified"  # fits the side column (10)
UNRESOLVED = "<+>"
_LATENCY_BASE_MS = 0.1
_LATENCY_GROWTH = 1.2
_LATENCY_LAST = 90  # 0.1 ms × 1.2^91 ≈ 16 min: everything slower lands in the last bucket
_LOG_GROWTH = math.log(_LATENCY_GROWTH)


def latency_index(seconds: float) -> int:
    milliseconds = seconds * 1000
    if milliseconds <= _LATENCY_BASE_MS:
        return 0
    return min(_LATENCY_LAST, int(math.log(milliseconds / _LATENCY_BASE_MS) / _LOG_GROWTH))


def latency_upper_ms(index: int) -> float:
    """The upper edge of a histogram bucket, in milliseconds: what a percentile reports."""
    return _LATENCY_BASE_MS * _LATENCY_GROWTH ** (index + 1)


@dataclass
class SideNumbers:
    """One side of one route over a window (or a bucket), summed over every process."""

    requests: int = 0
    errors: int = 0
    latency_sum: float = 0.0
    latency: dict[int, int] = field(default_factory=dict)
    fallbacks: int = 0
    shadow_agree: int = 0
    shadow_differ: int = 0
    shadow_error: int = 0
    shadow_dropped: int = 0

    def add(self, other: SideNumbers | Any) -> None:
        for name in ("requests", "errors", "latency_sum", "fallbacks", "shadow_agree", "shadow_differ", "shadow_error", "shadow_dropped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for index, count in (other.latency or {}).items():
            self.latency[int(index)] = self.latency.get(int(index), 0) + int(count)

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def compared(self) -> int:
        return self.shadow_agree + self.shadow_differ + self.shadow_error

    @property
    def mismatch_rate(self) -> float:
        """Shadow comparisons that differed or failed (a timeout is not agreement)."""
        return (self.shadow_differ + self.shadow_error) / self.compared if self.compared else 0.0

    @property
    def attempts(self) -> int:
        """Requests the new side was asked to answer: the ones it answered and the fallbacks."""
        return self.requests + self.fallbacks

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.attempts if self.attempts else 0.0

    def percentile(self, share: float) -> float | None:
        """Milliseconds below which ``share`` of the requests finished (the bucket's upper edge)."""
        total = sum(self.latency.values())
        if not total:
            return None
        rank, seen = share * total, 0
        for index in sorted(self.latency):
            seen += self.latency[index]
            if seen >= rank:
                return round(latency_upper_ms(index), 3)
        return round(latency_upper_ms(max(self.latency)), 3)

    @property
    def p50(self) -> float | None:
        return self.percentile(0.5)

    @property
    def p99(self) -> float | None:
        return self.percentile(0.99)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "errors": self.errors, "error_rate": round(self.error_rate, 4),
            "p50_ms": self.p50, "p99_ms": self.p99, "fallbacks": self.fallbacks,
            "shadow_agree": self.shadow_agree, "shadow_differ": self.shadow_differ,
            "shadow_error": self.shadow_error, "shadow_dropped": self.shadow_dropped,
        }


def _source() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class TrafficRecorder:
    """This process's counters since its last write. Recording is a dict update or two."""

    def __init__(self, source: str | None = None) -> None:
        self.source = source  # host:pid unless given (a test's second "host")
        self._routes: dict[tuple[str, str], SideNumbers] = {}
        self._paths: dict[tuple[str | None, str], int] = {}  # path None: past the caps
        self._last_prune: float | None = None  # monotonic time; None: at the next write (a machine up
        # for less than the prune interval has a monotonic clock below it)

    # -- recording, on the serving path -------------------------------------------------
    def _side(self, route: str, side: str) -> SideNumbers:
        numbers = self._routes.get((route, side))
        if numbers is None:
            numbers = self._routes[(route, side)] = SideNumbers()
        return numbers

    def request(self, route: str, side: str, status: int | None, seconds: float | None) -> None:
        """One answer of ``side``; ``seconds`` None when its time says nothing of the side's."""
        numbers = self._side(route, side)
        numbers.requests += 1
        if status is None or status >= 500:
            numbers.errors += 1
        if seconds is not None:
            numbers.latency_sum += seconds
            index = latency_index(seconds)
            numbers.latency[index] = numbers.latency.get(index, 0) + 1

    def fallback(self, route: str) -> None:
        self._side(route, "new").fallbacks += 1

    def shadow(self, route: str, result: str) -> None:
        """``result``: agree, differ, error, timeout (counted as error) or dropped."""
        numbers = self._side(route, "new")
        if result == "agree":
            numbers.shadow_agree += 1
        elif result == "differ":
            numbers.shadow_differ += 1
        elif result == "dropped":
            numbers.shadow_dropped += 1
        else:
            numbers.shadow_error += 1

    def path(self, path: str, side: str) -> None:
        """A request to an old URL, answered by ``side``: the coverage of the move."""
        paths = self._paths
        key: tuple[str | None, str] = (path, side) if len(path) <= _MAX_PATH_LENGTH else (None, side)
        if key not in paths and len(paths) >= _MAX_PATHS:
            key = (None, side)
        paths[key] = paths.get(key, 0) + 1

    # -- writing, in a worker thread ------------------------------------------------------
    def take(self) -> tuple[dict[tuple[str, str], SideNumbers], dict[tuple[str | None, str], int]]:
        routes, self._routes = self._routes, {}
        paths, self._paths = self._paths, {}
        return routes, paths

    def flush(self, *, keep_hours: float = 48.0, now: datetime | None = None) -> int:
        """Write what was counted since the last write; the number of rows written."""
        routes, paths = self.take()
        if not routes and not paths:
            return 0
        now = now or timezone.now()
        bucket = bucket_start(now)
        source = self.source or _source()
        route_rows: dict[tuple[str, str, str], SideNumbers] = {}
        for (route, side), numbers in routes.items():
            route_rows.setdefault((route, side, ""), SideNumbers()).add(numbers)
        pattern_rows: dict[tuple[str, str, str], SideNumbers] = {}
        for (path, side), count in paths.items():
            pattern = UNRESOLVED if path is None else url_pattern(path)
            key = ("", side, (UNMATCHED if pattern is None else pattern)[:_PATTERN_LENGTH])
            pattern_rows.setdefault(key, SideNumbers()).requests += count
        # Two writes: the rollout gates' numbers never wait on the coverage's (nor fail with them).
        failed: Exception | None = None
        try:
            _write(route_rows, bucket, source)
        except Exception as error:  # noqa: BLE001 - kept for the next write, raised below
            failed = error
            for (route, side), numbers in routes.items():  # an outage delays numbers, it does not lose them
                self._side(route, side).add(numbers)
        try:
            _write(pattern_rows, bucket, source)
        except Exception as error:  # noqa: BLE001 - kept for the next write, raised below
            failed = failed or error
            for path_key, count in paths.items():
                self._paths[path_key] = self._paths.get(path_key, 0) + count
        if failed is not None:
            raise failed
        rows = route_rows.keys() | pattern_rows.keys()
        if self._last_prune is None or time.monotonic() - self._last_prune > 600:
            self._last_prune = time.monotonic()
            from fastapi_gateway.routing.models import TrafficSample

            TrafficSample.objects.filter(bucket__lt=now - timedelta(hours=keep_hours)).delete()
        return len(rows)

    async def flush_forever(self, interval: float, *, keep_hours: float = 48.0,
                            orm: KeptConnectionThread | None = None) -> None:
        """Write every ``interval`` seconds, on ``orm``'s kept connection if given."""
        from fastapi_gateway.orm import run_orm
        from fastapi_gateway.routing.periodic import every

        runner = orm.run if orm is not None else run_orm
        await every(interval, functools.partial(runner, self.flush, keep_hours=keep_hours), logger=logger,
                    failing="route traffic not written (%s); kept for the next try", recovered="route traffic written again")


RECORDER = TrafficRecorder()


def bucket_start(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, tz=moment.tzinfo or timezone.get_current_timezone())


def _write(rows: dict[tuple[str, str, str], SideNumbers], bucket: datetime, source: str) -> None:
    from fastapi_gateway.routing.models import TrafficSample

    with transaction.atomic():
        existing = {
            (sample.route, sample.side, sample.pattern): sample
            for sample in TrafficSample.objects.select_for_update().filter(bucket=bucket, source=source)
        }
        for (route, side, pattern), numbers in rows.items():
            sample = existing.get((route, side, pattern))
            if sample is None:
                sample = TrafficSample(bucket=bucket, source=source, route=route, side=side, pattern=pattern)
            merged = _numbers(sample)
            merged.add(numbers)
            for name in ("requests", "errors", "latency_sum", "fallbacks", "shadow_agree", "shadow_differ", "shadow_error", "shadow_dropped"):
                setattr(sample, name, getattr(merged, name))
            sample.latency = {str(index): count for index, count in merged.latency.items()}
            sample.save()


def _numbers(sample: Any) -> SideNumbers:
    numbers = SideNumbers()
    numbers.add(sample)
    return numbers


@functools.lru_cache(maxsize=1024)
def url_pattern(path: str) -> str | None:
    """The Django URL pattern that answers ``path`` (``tickets/<int:pk>/``), None for a 404.

    Resolved in the language the path names (``i18n_patterns``: ``/fr/about/``), as Django's
    ``LocaleMiddleware`` would have activated it, not the writer thread's default."""
    path = path if path.startswith("/") else "/" + path
    try:
        language = translation.get_language_from_path(path)
        with translation.override(language) if language else contextlib.nullcontext():
            match = resolve(path)
    except Resolver404:
        return None
    except Exception:  # noqa: BLE001 - a URLconf that raises for some path counts it as unmatched
        return None
    return str(match.route or "")


@receiver(setting_changed)
def _forget_patterns(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        url_pattern.cache_clear()


class CountingLegacy:
    """The legacy app, each HTTP request counted for the coverage of the move (a dict update)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._script_name = str(getattr(app, "script_name", "") or "")

    def __getattr__(self, name: str) -> Any:  # the bridge's own attributes, for operators and tests
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = get_route_path(scope)
            if self._script_name and path.startswith(self._script_name + "/"):
                path = path[len(self._script_name):]
            RECORDER.path(path, "legacy")
        await self.app(scope, receive, send)


# -- reading ---------------------------------------------------------------------------------
def route_numbers(since: datetime, until: datetime | None = None, names: Iterable[str] | None = None) -> dict[str, dict[str, SideNumbers]]:
    """Per route and side (``legacy``, ``new``), the numbers of every process from ``since``."""
    from fastapi_gateway.routing.models import TrafficSample

    samples = TrafficSample.objects.filter(bucket__gte=bucket_start(since), pattern="").exclude(route="")
    if until is not None:
        samples = samples.filter(bucket__lte=until)
    if names is not None:
        samples = samples.filter(route__in=list(names))
    result: dict[str, dict[str, SideNumbers]] = {}
    for sample in samples:
        sides = result.setdefault(sample.route, {"legacy": SideNumbers(), "new": SideNumbers()})
        sides.setdefault(sample.side, SideNumbers()).add(sample)
    return result


def route_timeline(name: str, since: datetime, *, step_seconds: int = BUCKET_SECONDS) -> list[dict[str, Any]]:
    """One point per ``step_seconds`` per side, summed over every process: for the charts."""
    from fastapi_gateway.routing.models import TrafficSample

    step = max(BUCKET_SECONDS, step_seconds // BUCKET_SECONDS * BUCKET_SECONDS)
    points: dict[tuple[float, str], SideNumbers] = {}
    for sample in TrafficSample.objects.filter(route=name, pattern="", bucket__gte=bucket_start(since)):
        start = sample.bucket.timestamp() // step * step
        points.setdefault((start, sample.side), SideNumbers()).add(sample)
    return [
        {"time": datetime.fromtimestamp(start, tz=since.tzinfo), "side": side, **numbers.as_dict()}
        for (start, side), numbers in sorted(points.items())
    ]


def pattern_counts(since: datetime | None = None) -> dict[str, dict[str, int]]:
    """Per Django URL pattern (``UNMATCHED`` for requests no pattern answered, ``UNRESOLVED`` for
    paths a process saw past its cap), requests per side."""
    from fastapi_gateway.routing.models import TrafficSample

    samples = TrafficSample.objects.filter(route="")
    if since is not None:
        samples = samples.filter(bucket__gte=bucket_start(since))
    counts: dict[str, dict[str, int]] = {}
    for pattern, side, requests in samples.values_list("pattern", "side", "requests"):
        sides = counts.setdefault(pattern, {"legacy": 0, "new": 0})
        sides[side] = sides.get(side, 0) + requests
    return counts
