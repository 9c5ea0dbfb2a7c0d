"""The served process's garbage collection: full collections skip what the process keeps, and walk
it all now and then. Each test runs in a process of its own: the policy changes the collector."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastapi_gateway.server.gc_policy import GCPolicy, supported

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str, *, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_what_a_large_collection_leaves_is_skipped_by_the_next_ones() -> None:
    kept, _, tracked, frozen = map(int, _run("""
        import gc
        from fastapi_gateway.server.gc_policy import GCPolicy
        policy = GCPolicy(3600, freeze_at=150_000).start()
        kept = [[n] for n in range(200_000)]  # long-lived, as a process's open streams are
        gc.collect()
        new = [[n] for n in range(1_000)]
        gc.collect(1)  # into the oldest generation: what the next full collection would walk
        print(len(kept), len(new), len(gc.get_objects(generation=2)), policy.frozen)
    """))
    assert frozen >= kept
    assert tracked < kept / 10, "a full collection would walk the long-lived objects again"


def test_a_small_heap_is_left_to_the_collector() -> None:
    """Requests in flight at a full collection would be frozen with it: only a heap worth it is."""
    lines = _run("""
        import gc, weakref
        from fastapi_gateway.server.gc_policy import GCPolicy

        class Request:
            pass

        policy = GCPolicy(3600, freeze_at=150_000).start()
        request = Request()
        request.user = lambda: request  # a cycle, as Django's request.user is
        in_flight = weakref.ref(request)
        gc.collect()  # the request is in flight: it survives
        del request
        gc.collect()
        print(gc.get_freeze_count(), in_flight() is None)
    """)
    assert lines == ["0", "True"]


def test_a_cycle_that_dies_frozen_waits_for_the_walk_of_everything_and_no_longer() -> None:
    lines = _run("""
        import gc, weakref
        from fastapi_gateway.server.gc_policy import GCPolicy

        class Node:
            pass

        policy = GCPolicy(3600, freeze_at=1).start()
        a, b, plain = Node(), Node(), Node()
        a.other, b.other = b, a  # a reference cycle, as an ended stream's frames and exception make
        in_cycle, alone = weakref.ref(a), weakref.ref(plain)
        gc.collect()  # all three survive it: frozen
        del a, b, plain
        print("alone-freed-at-once", alone() is None)  # reference counting frees it, frozen or not
        gc.collect()
        print("cycle-freed-by-a-full-collection", in_cycle() is None, policy.walks)
        policy.thaw()
        gc.collect()
        print("cycle-freed-by-the-walk", in_cycle() is None, policy.walks, gc.get_freeze_count() > 0,
              policy.last_walk_seconds > 0)
    """)
    assert lines == ["alone-freed-at-once", "True", "cycle-freed-by-a-full-collection", "False", "0",
                     "cycle-freed-by-the-walk", "True", "1", "True", "True"]


def test_a_thaw_during_a_collection_leaves_the_walk_to_the_next_one() -> None:
    """Another thread may thaw while a collection runs its finalisers: that collection walked
    none of what was handed back, so it neither counts as the walk nor freezes it all again."""
    lines = _run("""
        import gc, weakref
        from fastapi_gateway.server.gc_policy import GCPolicy

        class Node:
            pass

        class ThawsWhenFinalised:
            def __del__(self):
                policy.thaw()  # as the policy's thread does when it gets the GIL mid-collection

        policy = GCPolicy(3600, freeze_at=1).start()
        a, b = Node(), Node()
        a.other, b.other = b, a
        in_cycle = weakref.ref(a)
        gc.collect()  # frozen
        del a, b
        t1, t2 = ThawsWhenFinalised(), ThawsWhenFinalised()
        t1.other, t2.other = t2, t1
        del t1, t2
        gc.collect()  # finalises them: the thaw comes in the middle of it
        print("during", policy.walks, in_cycle() is None, gc.get_freeze_count() == 0)
        gc.collect()
        print("next", policy.walks, in_cycle() is None, gc.get_freeze_count() > 0)
    """)
    assert lines == ["during", "0", "False", "True", "next", "1", "True", "True"]


_PERIODIC = """
    import gc, os, sys, time, weakref
    from fastapi_gateway.server.gc_policy import GCPolicy

    class Node:
        pass

    def freed_within_a_period():
        a, b = Node(), Node()
        a.other, b.other = b, a
        in_cycle = weakref.ref(a)
        gc.collect()
        del a, b
        deadline = time.monotonic() + 30
        while in_cycle() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
            gc.collect()  # the next full collection after a thaw is the walk
        return in_cycle() is None

    def walked(policy):
        # the count comes once its collection is over: a cycle may be seen freed before
        deadline = time.monotonic() + 10
        while policy.walks < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        return policy.walks >= 1
"""


def test_the_walk_of_everything_comes_every_period_on_its_own() -> None:
    lines = _run(_PERIODIC + """
    policy = GCPolicy(0.2, freeze_at=1).start()
    print(freed_within_a_period(), walked(policy))
    policy.stop()
    print(gc.get_freeze_count(), len(gc.callbacks))
    """)
    assert lines == ["True", "True", "0", "0"], "stop() hands every object back and removes its callback"


def test_the_walk_waits_for_a_quiet_moment() -> None:
    """Its pause falls where nobody waits on it: once the period is over the policy asks, and
    walks only when the process is quiet."""
    lines = _run(_PERIODIC + """
    import threading
    asked = []
    quiet = threading.Event()

    def is_quiet():
        asked.append(time.monotonic())
        return quiet.is_set()

    a, b = Node(), Node()
    a.other, b.other = b, a
    in_cycle = weakref.ref(a)
    policy = GCPolicy(1.0, freeze_at=1, quiet=is_quiet).start()
    gc.collect()
    del a, b
    gc.collect()
    while len(asked) < 3:  # the period is over: it asks, and asks again
        time.sleep(0.01)
    print("busy", policy.walks, in_cycle() is None)
    quiet.set()
    deadline = time.monotonic() + 10
    while policy.walks < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    print("quiet", policy.walks, policy.forced, in_cycle() is None)
    """)
    assert lines == ["busy", "0", "False", "quiet", "1", "0", "True"]


def test_a_process_never_quiet_walks_after_another_period() -> None:
    """Under sustained load the cycles that died frozen must not pile up for ever."""
    lines = _run(_PERIODIC + """
    asked = []
    policy = GCPolicy(0.2, freeze_at=1, quiet=lambda: asked.append(1) or False).start()
    print(freed_within_a_period(), policy.forced >= 1, len(asked) > 1)
    """)
    assert lines == ["True", "True", "True"]


def test_a_quiet_test_that_raises_does_not_stop_the_walks() -> None:
    lines = _run(_PERIODIC + """
    def broken():
        raise RuntimeError("no way to tell")

    policy = GCPolicy(0.2, freeze_at=1, quiet=broken).start()
    print(freed_within_a_period(), policy.forced >= 1)
    """)
    assert lines == ["True", "True"]


def test_the_process_is_quiet_only_with_no_django_call_and_the_cpu_idle() -> None:
    lines = _run("""
        import threading, time
        from fastapi_gateway.legacy.admission import RECENT_SECONDS, Admission
        from fastapi_gateway.server.gc_policy import process_quiet

        def quiet_within(seconds):  # a loaded machine may wake a sleep late now and then
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if process_quiet():
                    return True
            return False

        print("idle", quiet_within(5))
        gate = Admission(limit=1, ceiling=2, overflow_after=30)
        running = object()
        assert gate.enter(running)  # a Django call in progress, asleep on I/O: no CPU
        print("call-running", quiet_within(0.5))
        gate.leave(running)
        print("idle", quiet_within(5))
        stop = threading.Event()
        gaps = []

        def pages_back_to_back():  # each call over at once, the next 2 ms later
            last = None
            while not stop.is_set():
                page = object()
                ticket = gate.queue()
                if last is not None:
                    gaps.append(gate.last_active - last)
                assert gate.enter(page, ticket=ticket)
                gate.leave(page)
                last = gate.last_active
                time.sleep(0.002)

        def burn():  # pure CPU, as a Gradio event or a new route's handler
            while not stop.is_set():
                time.perf_counter()

        for busy in (pages_back_to_back, burn):
            # On a loaded machine the pages' thread can wake from its 2 ms sleep late: a gap of
            # RECENT_SECONDS or more is a quiet moment by the rule, and a round that found one
            # in such a gap proves nothing (tried again, 3 rounds at most).
            for _ in range(3):
                gaps.clear()
                stop.clear()
                worker = threading.Thread(target=busy, daemon=True)
                worker.start()
                quiet = quiet_within(0.5)
                open_gap = time.monotonic() - gate.last_active
                stop.set()
                worker.join()
                if not quiet or busy is burn or max(gaps + [open_gap]) < RECENT_SECONDS:
                    break
            print(busy.__name__, quiet)
        print("idle", quiet_within(5))
    """)
    assert lines == ["idle", "True", "call-running", "False", "idle", "True", "pages_back_to_back", "False",
                     "burn", "False", "idle", "True"]


def test_a_forked_child_keeps_its_own_period() -> None:
    """Threads do not survive a fork: a preloading server's workers would freeze and never thaw."""
    lines = _run(_PERIODIC + """
    policy = GCPolicy(0.2, freeze_at=1).start()
    child = os.fork()
    if child == 0:
        os._exit(0 if freed_within_a_period() else 1)
    _, status = os.waitpid(child, 0)
    print(os.waitstatus_to_exitcode(status))
    """)
    assert lines == ["0"]


def test_the_served_entrypoint_installs_it_and_the_setting_turns_it_off(tmp_path: Path) -> None:
    probe = """
        import gc, fastapi_gateway.asgi
        from fastapi_gateway.server import gc_policy
        installed = gc_policy._installed
        print(installed is not None and installed._after_collection in gc.callbacks, gc.get_freeze_count() > 100_000)
    """
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "GRADIO_ANALYTICS_ENABLED": "False",
           "DJANGO_SETTINGS_MODULE": "legacy_django.settings"}
    assert _run(probe, env=env) == ["True", "True"]
    # Off: only what the process built at start is frozen, once, as before the policy.
    assert _run(probe, env={**env, "GATEWAY_GC_FULL_WALK_SECONDS": "none"}) == ["False", "True"]


def test_only_interpreters_it_was_measured_on_get_it() -> None:
    assert supported((3, 11), False) and supported((3, 13), False)
    assert not supported((3, 14), False)
    assert not supported((3, 13), True)  # free-threaded: freezing stops the world
    assert supported(), "the interpreters the suite runs on are the ones it was measured on"


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_a_period_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="full_walk_seconds"):
        GCPolicy(seconds)
