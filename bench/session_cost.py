"""(c) What the session adapter costs per request, per engine, against Django's own middleware.

The gateway side is ``resolve_user(session_key_from_headers(headers))``: the cookie parsed
from raw ASGI headers, the session loaded through the engine's ``SessionStore``, the user
decided. Django's side is ``SessionMiddleware`` + ``AuthenticationMiddleware`` around a view
that touches ``request.user``, on a ``RequestFactory`` request carrying the same cookie
(requests are built before the clock starts). Both are timed with ``timeit``, best of N,
in a child process per engine, since ``SESSION_ENGINE`` is read once per process.

A second pair measures the doors as they are used: ``aresolve_user`` (worker thread and
``close_old_connections`` around the lookup) against the same middleware pair inside
Django's ``request_started``/``request_finished`` signals, which close the connection alike.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import timeit
from collections.abc import Callable
from typing import Any

from .config import BenchConfig
from .figures import Figure, Goal, Series
from .sites import ROOT, SiteFactory

__all__ = ["ENGINES", "measure_session_cost"]

REDIS_URL = "redis://127.0.0.1:6379/12"

# name → (SESSION_ENGINE, needs Redis)
ENGINES: dict[str, tuple[str, bool]] = {
    "db": ("django.contrib.sessions.backends.db", False),
    "cache": ("django.contrib.sessions.backends.cache", True),
    "cached_db": ("django.contrib.sessions.backends.cached_db", True),
    "file": ("django.contrib.sessions.backends.file", False),
    "signed_cookies": ("django.contrib.sessions.backends.signed_cookies", False),
}


def measure_session_cost(config: BenchConfig, sites: SiteFactory, log: Any = print) -> tuple[list[Figure], list[dict[str, Any]]]:
    figures: list[Figure] = []
    raw: list[dict[str, Any]] = []
    for name, (engine, redis) in ENGINES.items():
        site = sites.new(f"session-{name}")
        env = {**site.env, "DJANGO_SESSION_ENGINE": engine, "DJANGO_SESSION_FILE_PATH": str(site.directory / "sessions")}
        if redis:
            env["REDIS_URL"] = REDIS_URL
        (site.directory / "sessions").mkdir(exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "bench.session_cost", "--repeat", str(config.micro_repeats), "--number", str(config.micro_number)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"session cost for {name} failed:\n{done.stdout}\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        raw.append({"engine": name, **result})
        log(f"  (c) {name:<15} adapter {min(result['adapter_us']):7.1f} µs ({result['adapter_queries']} queries)  "
            f"django {min(result['django_us']):7.1f} µs ({result['django_queries']} queries)  "
            f"async door {min(result['adapter_async_us']):7.1f} vs {min(result['django_signals_us']):7.1f} µs")
        queries = f"queries: adapter {result['adapter_queries']}, Django {result['django_queries']}"
        figures.append(Figure(
            section="c", key=f"c.{name}.resolve_user", label=f"session adapter, {name}: resolve_user(cookie)", unit="µs",
            value=Series.of(result["adapter_us"]), baseline_label="SessionMiddleware + AuthenticationMiddleware",
            baseline=Series.of(result["django_us"]), goal=Goal("ratio", "<=", 1.0, "#8.2, #5.2"), note=queries,
        ))
        figures.append(Figure(
            section="c", key=f"c.{name}.aresolve_user", label=f"session adapter, {name}: aresolve_user (thread + conn hygiene)",
            unit="µs", value=Series.of(result["adapter_async_us"]),
            baseline_label="the same middleware + request_started/finished", baseline=Series.of(result["django_signals_us"]),
        ))
    return figures, raw


# The child process -------------------------------------------------------------------------


def _per_call_us(stmt: Callable[[], object], repeat: int, number: int) -> list[float]:
    return [t / number * 1e6 for t in timeit.Timer(stmt).repeat(repeat=repeat, number=number)]


def _child(repeat: int, number: int) -> dict[str, Any]:
    import asyncio

    import django

    django.setup()
    import uvloop
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.core import signals
    from django.db import connection
    from django.http import HttpRequest, HttpResponse
    from django.test import Client, RequestFactory
    from django.test.utils import CaptureQueriesContext

    from fastapi_gateway.identity.session import aresolve_user, resolve_user, session_key_from_headers

    alice = get_user_model()._default_manager.get(username="alice")
    client = Client()
    client.force_login(alice)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}; csrftoken=x" + "x" * 31
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"text/html"), (b"cookie", cookie.encode())]

    def view(request: HttpRequest) -> HttpResponse:
        assert request.user.get_username() == "alice"
        return HttpResponse("ok")

    chain = SessionMiddleware(AuthenticationMiddleware(view))
    factory = RequestFactory()

    def adapter() -> None:
        user = resolve_user(session_key_from_headers(headers))
        assert user.get_username() == "alice"

    def fresh_requests() -> Callable[[], object]:
        requests = iter([factory.get("/tickets/", HTTP_COOKIE=cookie) for _ in range(repeat * number + 1)])
        return lambda: chain(next(requests))

    def django_with_signals(call: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            signals.request_started.send(sender=None)
            try:
                return call()
            finally:
                signals.request_finished.send(sender=None)

        return run

    adapter()
    fresh_requests()()
    with CaptureQueriesContext(connection) as adapter_queries:
        adapter()
    with CaptureQueriesContext(connection) as django_queries:
        fresh_requests()()
    # Read now: Django's request_started signal (sent below) empties the query log.
    query_counts = len(adapter_queries.captured_queries), len(django_queries.captured_queries)

    adapter_us = _per_call_us(adapter, repeat, number)
    django_us = _per_call_us(fresh_requests(), repeat, number)
    django_signals_us = _per_call_us(django_with_signals(fresh_requests()), repeat, number)

    key = session_key_from_headers(headers)

    async def async_door() -> list[float]:
        samples = []
        for _ in range(repeat):
            started = timeit.default_timer()
            for _ in range(number):
                user = await aresolve_user(key)
                assert user.get_username() == "alice"
            samples.append((timeit.default_timer() - started) / number * 1e6)
        return samples

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(async_door())  # warm the worker thread
        adapter_async_us = runner.run(async_door())
    return {
        "engine": settings.SESSION_ENGINE,
        "adapter_us": adapter_us,
        "django_us": django_us,
        "adapter_async_us": adapter_async_us,
        "django_signals_us": django_signals_us,
        "adapter_queries": query_counts[0],
        "django_queries": query_counts[1],
        "repeat": repeat,
        "number": number,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=300)
    arguments = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
    print(json.dumps(_child(arguments.repeat, arguments.number)))
