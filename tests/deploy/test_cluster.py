"""``deploy/cluster`` and ``deploy/nginx/*.conf.template`` for real: nginx (Debian's
nginx-light) in front of several gateway processes sharing PostgreSQL and Redis sessions,
first on one host, then on two (network namespaces).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from .conftest import (
    LAUNCHER,
    ROOT,
    RunningCluster,
    TicketDatabase,
    free_port_range,
    gateway_env,
    nginx_binary,
    port_refuses,
    running_cluster,
)
from .journey import Browser, final_upstream, logged, run_journey, served_by
from .netns import NetworkHost, network_hosts, tcp_forwarders

pytestmark = pytest.mark.deploy

GATEWAYS = 3


# The configuration on its own ----------------------------------------------------------------


def test_printed_nginx_config_is_sticky_for_gradio_only_and_nginx_accepts_it(tmp_path: Path) -> None:
    printed = subprocess.run(
        [sys.executable, str(LAUNCHER), "--print-nginx-config", "--gateways", "2", "--base-port", "9001",
         "--upstream", "10.0.0.7:9001"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    ui_upstream = printed.split("upstream gateway_ui {")[1].split("}")[0]
    app_upstream = printed.split("upstream gateway_app {")[1].split("}")[0]
    assert "hash $cookie_sessionid consistent;" in ui_upstream
    assert "hash" not in app_upstream and "least_conn;" in app_upstream
    for upstream in (ui_upstream, app_upstream):
        for address in ("127.0.0.1:9001", "127.0.0.1:9002", "10.0.0.7:9001"):
            assert f"server {address} " in upstream
    assert "client_max_body_size 51m;" in printed
    wrapper = tmp_path / "nginx.conf"
    site = printed.replace("/var/log/nginx/", f"{tmp_path}/")
    wrapper.write_text(f"pid {tmp_path}/nginx.pid;\nevents {{}}\nhttp {{\n{site}\n}}\n")
    checked = subprocess.run(
        [nginx_binary(), "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(wrapper)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr


# One host: nginx and three gateway processes on 127.0.0.1 -------------------------------------


@pytest.fixture(scope="class")
def one_host_cluster(
    ticket_database: TicketDatabase, redis_sessions: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningCluster]:
    nginx_binary()
    base_port = free_port_range(GATEWAYS + 1)
    env = gateway_env(
        ticket_database.url,
        media_root=tmp_path_factory.mktemp("media-one-host"),
        redis_url=redis_sessions,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
    )
    arguments = ["--gateways", str(GATEWAYS), "--base-port", str(base_port + 1), "--nginx-port", str(base_port),
                 "--nginx-workers", "2"]  # fmt: skip
    with running_cluster(arguments, env=env, run_dir=tmp_path_factory.mktemp("one-host")) as cluster:
        yield cluster


def _strings(value: Any) -> Iterator[str]:
    """Every string in a JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _gateway_urls(cluster: RunningCluster) -> list[str]:
    """The gateways that run (a killed one stays dead: the harness restarts nothing)."""
    return [gateway["url"] for gateway in cluster.gateways if gateway["pid"]]


@dataclass
class _Traffic:
    """Requests a user keeps making while a gateway dies: what each one got."""

    gets: list[tuple[str, int]] = field(default_factory=list)
    creates: list[tuple[str, int]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _keep_using(
    nginx_url: str, cookies: httpx.Cookies, stop: threading.Event, traffic: _Traffic, label: str = "traffic"
) -> None:
    with httpx.Client(base_url=nginx_url, cookies=cookies, timeout=20) as client:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                for path in ("/tickets/", "/api/v2/tickets", "/api/tickets/"):
                    traffic.gets.append((path, client.get(path).status_code))
                title = f"deploy {label} {os.getpid()}-{number}"
                created = client.post(
                    "/api/v2/tickets",
                    json={"title": title},
                    headers={"X-CSRFToken": client.cookies["csrftoken"], "Origin": nginx_url},
                )
                traffic.creates.append((title, created.status_code))
            except httpx.HTTPError as exc:
                traffic.errors.append(repr(exc))


def _rolling_restart(cluster: RunningCluster, gateway: dict[str, Any], *, timeout: float = 60) -> None:
    """``systemctl reload gateway@PORT``: SIGHUP to the launcher, then wait until it says every
    worker was replaced (its log) and the port answers."""
    log = Path(gateway["log"])
    done_before = log.read_text(errors="replace").count("Restarted every worker.")
    os.kill(gateway["pid"], signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Restarted every worker.") == done_before:
        assert time.monotonic() < deadline, f"{gateway['address']} did not restart within {timeout:.0f} s:\n{cluster.logs()}"
        time.sleep(0.2)
    assert httpx.get(gateway["url"] + "/readyz", timeout=5).status_code == 200


class TestOneHost:
    def test_journey_repeatedly_across_processes(
        self, one_host_cluster: RunningCluster, ticket_database: TicketDatabase
    ) -> None:
        cluster = one_host_cluster
        started = time.monotonic()
        reports = [
            run_journey(cluster.nginx_url, _gateway_urls(cluster), cluster.access_log, ticket_database, username)
            for username in ("alice", "bob", "alice", "bob")
        ]
        for report in reports:
            assert report.logout_gateway.split("//")[1] not in {report.login_upstream, *report.ui_upstreams}
        # Over several sessions, every process served someone.
        served = set().union(*(report.legacy_upstreams | report.ui_upstreams for report in reports))
        assert served == {urlsplit(url).netloc for url in _gateway_urls(cluster)}
        assert time.monotonic() - started < 60

    def test_rolling_restart_of_every_process_under_load_loses_nothing(
        self, one_host_cluster: RunningCluster, ticket_database: TicketDatabase
    ) -> None:
        """Each launcher in turn gets SIGHUP (``systemctl reload gateway@PORT``) while three
        clients keep reading and writing through nginx: every answer is a 200 or a 201, every
        acknowledged write is stored once, and the Gradio page's stream on a restarted process
        ends cleanly; a reload brings the page back."""
        cluster = one_host_cluster
        with Browser(cluster.nginx_url, "rolling") as browser:
            assert browser.log_in("bob").status_code == 302
            page = browser.open_gradio_page("/ui/tickets")
            heartbeat = page.hold_heartbeat()
            stop = threading.Event()
            traffics = [_Traffic() for _ in range(3)]
            workers = [
                threading.Thread(
                    target=_keep_using,
                    args=(cluster.nginx_url, browser.client.cookies, stop, traffic, f"rolling {index}"),
                    daemon=True,
                )
                for index, traffic in enumerate(traffics)
            ]
            for worker in workers:
                worker.start()
            try:
                time.sleep(1.0)
                for gateway in cluster.gateways:
                    _rolling_restart(cluster, gateway)
                time.sleep(1.0)
            finally:
                stop.set()
                for worker in workers:
                    worker.join(timeout=30)

            assert heartbeat.ended.wait(15), "the Gradio stream outlived its process's restart"
            assert heartbeat.status == 200 and heartbeat.error is None, (heartbeat.status, heartbeat.error)
            reloaded = browser.open_gradio_page("/ui/tickets")
            assert reloaded.run("signed_in_text") == ["Signed in as bob"]

        gets = [status for traffic in traffics for _, status in traffic.gets]
        creates = [entry for traffic in traffics for entry in traffic.creates]
        assert not [error for traffic in traffics for error in traffic.errors]
        assert len(gets) > 100 and set(gets) == {200}, sorted(set(gets))
        assert len(creates) > 30 and {status for _, status in creates} == {201}, [c for c in creates if c[1] != 201]
        stored = ticket_database.titles_like("deploy rolling %")
        assert sorted(stored) == sorted(title for title, _ in creates), "a write was lost or replayed"
        # Every process was replaced: none of the old launchers' workers serve any more.
        assert all(gateway["pid"] for gateway in cluster.gateways)

    def test_a_killed_gateway_costs_no_page_and_no_write(
        self, one_host_cluster: RunningCluster, ticket_database: TicketDatabase
    ) -> None:
        cluster = one_host_cluster
        with Browser(cluster.nginx_url, "kill") as browser:
            assert browser.log_in("alice").status_code == 302
            page = browser.open_gradio_page("/ui/tickets")
            assert page.run("signed_in_text") == ["Signed in as alice"]
            kill_lines = served_by(logged(cluster.access_log, browser.last_request_id), "kill")
            sticky = {final_upstream(e) for e in kill_lines if e["uri"].startswith("/ui/")}
            assert len(sticky) == 1
            (sticky_address,) = sticky
            victim = next(g for g in cluster.gateways if g["address"] == sticky_address)
            victim_host, victim_port = victim["address"].rsplit(":", 1)

            # The page holds a heartbeat stream open on the process about to die.
            heartbeat = page.hold_heartbeat()

            stop, traffic = threading.Event(), _Traffic()
            worker = threading.Thread(
                target=_keep_using, args=(cluster.nginx_url, browser.client.cookies, stop, traffic), daemon=True
            )
            worker.start()
            try:
                time.sleep(1.0)
                assert not heartbeat.ended.is_set() and heartbeat.status == 200
                # The host process and its worker die at once (the launcher leads its own group).
                os.killpg(victim["pid"], signal.SIGKILL)
                killed_at = time.monotonic()
                assert heartbeat.ended.wait(5), "the Gradio stream on the killed process hung instead of ending"
                assert port_refuses(victim_host, int(victim_port), within=2), "the killed process still listens"

                # Legacy pages keep answering through nginx while the process is gone.
                for _ in range(10):
                    assert browser.client.get("/tickets/").status_code == 200
                    assert browser.client.get("/api/v2/me").status_code == 200

                # The old page's session died with its process: reading it is refused cleanly
                # (the frontend shows an error and the user reloads), never a 5xx or a hang.
                stale = browser.client.get(
                    "/ui/tickets/gradio_api/queue/data", params={"session_hash": page.session_hash}, timeout=5
                )
                assert stale.status_code in (403, 404), (stale.status_code, stale.text[:300])

                # The Gradio page recovers on reload, at once: page, config, a new queue round trip.
                reloaded = browser.open_gradio_page("/ui/tickets")
                assert reloaded.run("signed_in_text") == ["Signed in as alice"]
                _status, table = reloaded.run("load_tickets_page")
                assert table["data"]
                recovered_after = time.monotonic() - killed_at
                gradio_ticket = reloaded.create_ticket("deploy kill gradio after reload")
                assert recovered_after < 5, f"the Gradio page took {recovered_after:.1f} s to come back"
                kill_lines = served_by(logged(cluster.access_log, browser.last_request_id), "kill")
                reload_lines = [e for e in kill_lines if e["uri"].startswith("/ui/")]
                moved_to = {final_upstream(e) for e in reload_lines if e["status"] == 200} - {victim["address"]}
                assert len(moved_to) == 1, f"after the reload the session is not sticky: {moved_to}"
                assert port_refuses(victim_host, int(victim_port)), "the gateway was back before the checks ended"
                time.sleep(0.5)
            finally:
                stop.set()
                worker.join(timeout=30)

            assert not traffic.errors, traffic.errors
            assert traffic.gets and all(status == 200 for _, status in traffic.gets), [
                g for g in traffic.gets if g[1] != 200
            ]
            assert {status for _, status in traffic.creates} <= {201, 502}, traffic.creates
            acknowledged = [title for title, status in traffic.creates if status == 201]
            stored = ticket_database.titles_like("deploy traffic %")
            assert len(acknowledged) >= 5
            missing = set(acknowledged) - set(stored)
            assert not missing, f"writes answered 201 but not stored: {missing}"
            assert len(stored) == len(set(stored)), "a ticket write was replayed"
            assert ticket_database.owner_of(gradio_ticket) == "alice"

            # The harness restarts nothing (that is systemd's or the container engine's job):
            # it reports the death, and nginx keeps the others serving.
            deadline = time.monotonic() + 5
            while next(g for g in cluster.gateways if g["address"] == victim["address"])["pid"] is not None:
                assert time.monotonic() < deadline, cluster.state()
                time.sleep(0.2)
            assert f"gateway {victim['address']} exited" in cluster.output.read_text()

        # A new visitor is served whole by the processes left.
        with Browser(cluster.nginx_url, "after-kill") as browser:
            assert browser.log_in("bob").status_code == 302
            assert browser.client.get("/tickets/").status_code == 200
            page = browser.open_gradio_page("/ui/tickets")
            assert page.run("signed_in_text") == ["Signed in as bob"]
            created = browser.create_ticket_via_api("deploy after kill")
            assert created.status_code == 201, created.text
            assert ticket_database.owner_of(created.json()["id"]) == "bob"
            last_request = browser.last_request_id
        after_kill = {final_upstream(e) for e in served_by(logged(cluster.access_log, last_request), "after-kill")}
        assert after_kill and victim["address"] not in after_kill

    def test_uploads_over_the_gateway_limit_get_its_clear_413_through_nginx(
        self, one_host_cluster: RunningCluster
    ) -> None:
        """nginx's ceiling sits just above GATEWAY_MAX_UPLOAD_MB, so users see the gateway's message."""
        just_over = b"x" * (50 * 1024 * 1024 + 1024)
        with Browser(one_host_cluster.nginx_url, "upload") as browser:
            assert browser.log_in("bob").status_code == 302
            origin = {"Origin": browser.base_url, "X-CSRFToken": browser.client.cookies["csrftoken"]}
            for path in ("/api/v2/tickets", "/ui/tickets/gradio_api/upload"):
                refused = browser.client.post(path, content=just_over, headers={**origin, "Content-Type": "text/plain"})
                assert refused.status_code == 413, (path, refused.status_code, refused.text[:300])
                assert refused.text == "Content Too Large"  # the gateway's (Starlette's) answer, not nginx's page
            far_over = browser.client.post("/api/v2/tickets", content=b"x" * (52 * 1024 * 1024), headers=origin)
            assert far_over.status_code == 413  # nginx's own page: no gateway is troubled with it

    def test_a_clients_request_id_is_kept_when_well_formed_and_replaced_otherwise(
        self, one_host_cluster: RunningCluster
    ) -> None:
        """nginx passes an ``X-Request-ID`` of the gateway's accepted form through to Django and
        back, and makes up its own for anything else, so its log never holds the client's bytes."""
        cluster = one_host_cluster
        kept = httpx.get(cluster.nginx_url + "/healthz", headers={"X-Request-ID": "edge-lb:4f2a_9.1"})
        assert kept.headers["X-Request-ID"] == "edge-lb:4f2a_9.1"
        for hostile in ("a b", "x" * 201, '"},"status":1,{"', "id\u00e9"):
            answered = httpx.get(cluster.nginx_url + "/tickets/", headers={"X-Request-ID": hostile.encode()})
            made_up = answered.headers["X-Request-ID"]
            assert re.fullmatch(r"[0-9a-f]{32}", made_up), (hostile, made_up)
            lines = [e for e in logged(cluster.access_log, made_up) if e["request_id"] == made_up]
            assert lines and lines[0]["uri"] == "/tickets/"
        assert not [e for e in cluster.access_log() if "a b" == e["request_id"] or '"status"' in str(e["request_id"])]

    def test_a_clients_own_forwarding_headers_never_reach_the_gateway(self, one_host_cluster: RunningCluster) -> None:
        """The gateway believes nginx's forwarding headers (it is a trusted proxy), so nginx passes
        only those it sets itself: Gradio builds its root URL from ``X-Forwarded-Host``."""
        with Browser(one_host_cluster.nginx_url, "forwarded") as browser:
            assert browser.log_in("bob").status_code == 302
            forged = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Port": "4443", "X-Forwarded-Prefix": "/evil-prefix",
                      "Forwarded": "host=evil.example;proto=https", "X-Real-IP": "203.0.113.9"}
            config = browser.client.get("/ui/tickets/config", headers=forged)
            assert config.status_code == 200, config.text[:300]
            assert "evil" not in config.text, [line for line in config.text.split(",") if "evil" in line]
            # The port is looked for in the URLs only: the config's random app_id may hold 4443.
            urls = [value for value in _strings(config.json()) if "://" in value]
            assert urls and not [url for url in urls if ":4443" in url or "evil" in url], urls
            assert config.json()["root"].startswith(browser.base_url), config.json()["root"]

    def test_sigterm_stops_nginx_and_every_gateway(self, one_host_cluster: RunningCluster) -> None:
        cluster = one_host_cluster
        state = cluster.state()
        pids = [g["pid"] for g in state["gateways"] if g["pid"]] + [state["nginx"]["pid"]]
        ports = [urlsplit(g["url"]).port for g in state["gateways"]] + [urlsplit(state["nginx"]["url"]).port]
        assert cluster.stop() == 0, cluster.logs()
        assert cluster.leftover_pids() == []
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        assert all(port_refuses("127.0.0.1", int(port)) for port in ports if port)


# Two hosts: gateway processes in two network namespaces, nginx in the root one ----------------


GATEWAYS_PER_HOST = 2
GATEWAY_BASE_PORT = 8001


@dataclass
class TwoHosts:
    balancer: RunningCluster
    hosts: list[NetworkHost]
    gateway_clusters: list[RunningCluster]

    @property
    def gateway_urls(self) -> list[str]:
        return [g["url"] for cluster in self.gateway_clusters for g in cluster.gateways]


def _through(url: str, host: str) -> str:
    """``url`` with its host replaced: the same service, reached from another host."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}{host}:{parts.port}").geturl()


@pytest.fixture(scope="class")
def two_hosts(
    ticket_database: TicketDatabase, redis_sessions: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoHosts]:
    """Two gateway hosts (namespaces, ``deploy/cluster --no-nginx``) and nginx in the root namespace.

    PostgreSQL and Redis listen on the root namespace's loopback only: each host reaches them
    at the root end of its link, where a TCP forwarder listens, as it would a database host.
    """
    nginx_binary()
    services = [urlsplit(ticket_database.url), urlsplit(redis_sessions)]
    with ExitStack() as stack:
        hosts = stack.enter_context(network_hosts(2))
        routes = [(f"{host.peer_address}:{s.port}", f"{s.hostname}:{s.port}") for host in hosts for s in services]
        stack.enter_context(tcp_forwarders(routes))
        allowed_hosts = ",".join(["127.0.0.1", "localhost", *(host.address for host in hosts)])
        gateway_clusters = []
        for index, host in enumerate(hosts):
            env = gateway_env(
                _through(ticket_database.url, host.peer_address),
                media_root=tmp_path_factory.mktemp(f"media-host{index}"),
                redis_url=_through(redis_sessions, host.peer_address),
                DJANGO_ALLOWED_HOSTS=allowed_hosts,
                # nginx reaches this host from the root end of the link.
                GATEWAY_TRUSTED_PROXIES=host.peer_address,
            )
            arguments = ["--no-nginx", "--host", host.address, "--gateways", str(GATEWAYS_PER_HOST),
                         "--base-port", str(GATEWAY_BASE_PORT)]  # fmt: skip
            if index == 0:
                # The deploy step a gateway host runs, over its own network path to PostgreSQL.
                arguments.append("--migrate")
            run_dir = tmp_path_factory.mktemp(f"host{index}")
            started = running_cluster(arguments, env=env, run_dir=run_dir, exec_prefix=host.exec_prefix())
            gateway_clusters.append(stack.enter_context(started))
        balancer_args = ["--gateways", "0", "--nginx-port", str(free_port_range(1)), "--nginx-workers", "2"]
        for cluster in gateway_clusters:
            for gateway in cluster.gateways:
                balancer_args += ["--upstream", gateway["address"]]
        env = gateway_env(ticket_database.url, media_root=tmp_path_factory.mktemp("media-balancer"))
        run_dir = tmp_path_factory.mktemp("balancer")
        balancer = stack.enter_context(running_cluster(balancer_args, env=env, run_dir=run_dir))
        yield TwoHosts(balancer=balancer, hosts=hosts, gateway_clusters=gateway_clusters)


class TestTwoHosts:
    def test_journey_across_two_hosts(self, two_hosts: TwoHosts, ticket_database: TicketDatabase) -> None:
        balancer = two_hosts.balancer
        gateway_urls = two_hosts.gateway_urls
        assert len(gateway_urls) == GATEWAYS_PER_HOST * 2
        reports = [
            run_journey(balancer.nginx_url, gateway_urls, balancer.access_log, ticket_database, username)
            for username in ("alice", "bob", "alice")
        ]
        served_hosts = {
            upstream.rsplit(":", 1)[0]
            for report in reports
            for upstream in report.legacy_upstreams | report.ui_upstreams
        }
        assert served_hosts == {host.address for host in two_hosts.hosts}
