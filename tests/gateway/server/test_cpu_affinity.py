"""Each gateway process keeps to a CPU of its own, shared out between siblings; real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from fastapi_gateway import GatewayConfigurationError
from fastapi_gateway.conf import gateway_settings

ROOT = Path(__file__).resolve().parents[3]
ALLOWED = sorted(os.sched_getaffinity(0))

# Claims a CPU in ``group`` (or the parent's group), prints it and the affinity of a thread
# that existed before the claim, then holds the claim until stdin closes.
CLAIMER = """
import os, sys, threading
from fastapi_gateway.server.cpu_affinity import claim_cpu
before = threading.Thread(target=threading.Event().wait, args=(30,), daemon=True)
before.start()
cpu = claim_cpu(sys.argv[1] if len(sys.argv) > 1 else None)
assert claim_cpu(sys.argv[1] if len(sys.argv) > 1 else None) == cpu  # a second call keeps the CPU and takes no slot
print(cpu, sorted(os.sched_getaffinity(before.native_id)), flush=True)
sys.stdin.read()
"""


class Claimer:
    """A real process that claims a CPU in ``group`` and holds it until released."""

    def __init__(self, group: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", CLAIMER, group], cwd=ROOT, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert self.process.stdout is not None
        cpu, _, threads = self.process.stdout.readline().partition(" ")
        self.cpu = None if cpu == "None" else int(cpu)
        self.threads = json.loads(threads)

    def release(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        self.process.stdout.close()
        self.process.wait(10)

    def kill(self) -> None:
        self.process.kill()
        self.release()


def test_siblings_share_out_the_cpus_evenly_and_every_thread_follows() -> None:
    group = uuid.uuid4().hex
    claimers: list[Claimer] = []
    try:
        for _ in range(2 * len(ALLOWED)):
            claimers.append(Claimer(group))
    finally:
        for claimer in claimers:
            claimer.release()
    if len(ALLOWED) < 2:
        assert all(claimer.cpu is None for claimer in claimers)  # nothing to gain on one CPU
        return
    assert Counter(claimer.cpu for claimer in claimers) == {cpu: 2 for cpu in ALLOWED}
    assert all(claimer.threads == [claimer.cpu] for claimer in claimers)


def test_a_dead_process_s_cpu_goes_to_the_next_one() -> None:
    group = uuid.uuid4().hex
    first, second = Claimer(group), Claimer(group)
    try:
        if len(ALLOWED) < 2:
            assert first.cpu is None and second.cpu is None
            return
        assert first.cpu != second.cpu
        first.kill()
        third = Claimer(group)
        third.release()
        assert third.cpu == first.cpu  # the kernel dropped the dead process's claim
    finally:
        first.release()
        second.release()


# Claims a CPU, then forks one child per CPU, as gunicorn does after preloading the app; each
# child reports the CPUs it may run on after the fork, then claims its own as its lifespan does.
FORKER = """
import json, os, sys, time
from fastapi_gateway.server.cpu_affinity import claim_cpu
parent = claim_cpu(sys.argv[1])
children = []
for _ in range(int(sys.argv[2])):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        inherited = sorted(os.sched_getaffinity(0))
        own = claim_cpu()
        os.write(write, json.dumps([inherited, own, sorted(os.sched_getaffinity(0))]).encode())
        time.sleep(1.0)  # hold the claim while the siblings choose
        os._exit(0)
    os.close(write)
    children.append((pid, read))
print(json.dumps([parent, [json.loads(os.read(read, 200)) for _, read in children]]))
for pid, read in children:
    os.waitpid(pid, 0)
    os.close(read)
"""


def test_forked_workers_do_not_inherit_the_parent_s_cpu_and_choose_among_themselves() -> None:
    done = subprocess.run([sys.executable, "-c", FORKER, uuid.uuid4().hex, str(len(ALLOWED))],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    parent, children = json.loads(done.stdout)
    assert all(inherited == ALLOWED for inherited, _, _ in children), children
    if len(ALLOWED) < 2:
        assert parent is None and all(own is None for _, own, _ in children)
        return
    assert sorted(own for _, own, _ in children) == ALLOWED
    assert all(pinned == [own] for _, own, pinned in children)


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("auto", None), (" OFF ", False), ("on", True)])
def test_the_setting(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"GATEWAY_CPU_AFFINITY": value}
    assert gateway_settings(env)["CPU_AFFINITY"] is expected


def test_a_wrong_setting_is_a_clear_error() -> None:
    with pytest.raises(GatewayConfigurationError, match="GATEWAY_CPU_AFFINITY"):
        gateway_settings({"GATEWAY_CPU_AFFINITY": "maybe"})
