"""Containers for real, with Debian's podman: the image the Dockerfile builds, and Compose.

These need a Python base image made from Debian's packages (``make-base-image`` here: about
2 minutes of debootstrap), then about 2 minutes of builds and runs. They run when asked
(``-m container``) or when GATEWAY_CONTAINER_TESTS=1, which .ci/run sets when this machine
already holds the base image; otherwise they are deselected and the header says why.

podman runs here with runc and cgroupfs and the machine's own limits (containers.conf, through
CONTAINERS_CONF). It has no systemd to run healthchecks on a timer, so ``HealthTicker`` runs
``podman healthcheck run`` every two seconds for the project's containers, as the timer would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT

HERE = Path(__file__).resolve().parent
BASE_IMAGE = os.environ.get("GATEWAY_TEST_BASE_IMAGE", "localhost/debian-python:bookworm")
GATEWAY_IMAGE = "localhost/support-desk-gateway:test"
STAND_INS = {name: f"localhost/stand-in-{name}:bookworm" for name in ("postgres", "redis", "nginx")}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "container: builds and runs the image and Compose with podman (opt-in)")


def _asked(config: pytest.Config) -> bool:
    return os.environ.get("GATEWAY_CONTAINER_TESTS") == "1" or "container" in (config.getoption("markexpr") or "")


def pytest_report_header(config: pytest.Config) -> str | None:
    if _asked(config):
        return None
    return f"container tests left out: they need {BASE_IMAGE} (tests/deploy/containers/make-base-image), then -m container"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _asked(config):
        return
    left_out = [item for item in items if item.get_closest_marker("container")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


def podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(HERE / "containers.conf")}


def podman(*arguments: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is not installed: apt-get install podman (.ci/run does, with the base image)")
    done = subprocess.run([binary, *arguments], capture_output=True, text=True, env=podman_env(), timeout=timeout)
    if check:
        assert done.returncode == 0, f"podman {' '.join(arguments[:3])} ...: {done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="session")
def base_image() -> str:
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        pytest.fail(f"no base image {BASE_IMAGE}: run tests/deploy/containers/make-base-image")
    return BASE_IMAGE


@pytest.fixture(scope="session")
def gateway_image(base_image: str) -> str:
    """The root Dockerfile, built as a user would; docker format so HEALTHCHECK is kept."""
    started = time.monotonic()
    podman("build", "--format", "docker", "--network", "host", "--build-arg", f"BASE={base_image}",
           "-t", GATEWAY_IMAGE, str(ROOT), timeout=900)  # fmt: skip
    print(f"gateway image built in {time.monotonic() - started:.0f} s")
    return GATEWAY_IMAGE


@pytest.fixture(scope="session")
def stand_in_images(base_image: str) -> dict[str, str]:
    """PostgreSQL, Redis and nginx from Debian's packages, with the official images' interface."""
    for name, tag in STAND_INS.items():
        podman("build", "--network", "host", "--build-arg", f"BASE={base_image}", "-t", tag,
               "-f", str(HERE / f"{name}.Containerfile"), str(HERE), timeout=600)  # fmt: skip
    return dict(STAND_INS)


@pytest.fixture(scope="session")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker-compatible API on a socket of the test's own, for Docker Compose v2."""
    socket_path = tmp_path_factory.mktemp("podman") / "podman.sock"
    log = socket_path.with_suffix(".log").open("wb")
    service = subprocess.Popen(
        [shutil.which("podman") or "podman", "system", "service", "--time=0", f"unix://{socket_path}"],
        env=podman_env(), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not socket_path.exists():
            assert service.poll() is None and time.monotonic() < deadline, "podman system service did not start"
            time.sleep(0.1)
        yield f"unix://{socket_path}"
    finally:
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        log.close()


class HealthTicker:
    """What systemd's timers do for podman elsewhere: each container's healthcheck, every 2 s."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> HealthTicker:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(2):
            names = podman("ps", "--filter", f"label=com.docker.compose.project={self.project}",
                           "--format", "{{.Names}}", check=False).stdout.split()  # fmt: skip
            for name in names:
                podman("healthcheck", "run", name, check=False, timeout=30)
