"""The served process's garbage collection: full collections walk what is new, and everything now
and then. Each test runs in a process of its own: the policy changes the interpreter's collector."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fastapi_gateway.server.gc_policy import GCPolicy

ROOT = Path(__file__).resolve().parents[3]


def _run(code: str, *, env: dict[str, str] | None = None) -> list[str]:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_after_a_full_collection_the_next_ones_walk_only_what_is_new() -> None:
    kept, new, frozen, tracked = map(int, _run("""
        import gc
        from fastapi_gateway.server.gc_policy import GCPolicy
        policy = GCPolicy(3600).start()
        kept = [[n] for n in range(200_000)]  # long-lived, as a process's open streams are
        gc.collect()
        new = [[n] for n in range(1_000)]
        gc.collect(1)  # into the oldest generation: what the next full collection would walk
        print(len(kept), len(new), gc.get_freeze_count(), len(gc.get_objects(generation=2)))
    """))
    assert frozen >= kept
    assert tracked < 3 * new, "a full collection would walk the long-lived objects again"


def test_a_cycle_that_dies_frozen_waits_for_the_walk_of_everything_and_no_longer() -> None:
    lines = _run("""
        import gc, time, weakref
        from fastapi_gateway.server.gc_policy import GCPolicy

        class Node:
            pass

        policy = GCPolicy(3600).start()
        a, b, plain = Node(), Node(), Node()
        a.other, b.other = b, a  # a reference cycle, as an ended stream's frames and exception make
        in_cycle, alone = weakref.ref(a), weakref.ref(plain)
        gc.collect()  # all three survive it: frozen
        del a, b, plain
        print("alone-freed-at-once", alone() is None)  # reference counting frees it, frozen or not
        gc.collect()
        print("cycle-freed-by-a-full-collection", in_cycle() is None)
        policy.walk_everything()
        print("cycle-freed-by-the-walk", in_cycle() is None)
        print("walks", policy.walks)
    """)
    assert lines == ["alone-freed-at-once", "True", "cycle-freed-by-a-full-collection", "False",
                     "cycle-freed-by-the-walk", "True", "walks", "1"]


def test_the_walk_of_everything_comes_every_period_on_its_own() -> None:
    lines = _run("""
        import gc, time, weakref
        from fastapi_gateway.server.gc_policy import GCPolicy

        class Node:
            pass

        policy = GCPolicy(0.2).start()
        a, b = Node(), Node()
        a.other, b.other = b, a
        in_cycle = weakref.ref(a)
        gc.collect()
        del a, b
        deadline = time.monotonic() + 30
        while in_cycle() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        print(in_cycle() is None, policy.walks >= 1)
        policy.stop()
        print(gc.get_freeze_count(), len(gc.callbacks))
    """)
    assert lines[:2] == ["True", "True"]
    assert lines[2:] == ["0", "0"], "stop() hands every object back and removes its callback"


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
    assert _run(probe, env={**env, "GATEWAY_GC_FULL_WALK_SECONDS": "none"}) == ["False", "True"]


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_a_period_that_is_not_positive_is_refused(seconds: float) -> None:
    with pytest.raises(ValueError, match="full_walk_seconds"):
        GCPolicy(seconds)
