"""The contract's journey against a real uvicorn on 127.0.0.1, over real sockets."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gradio_protocol import new_session_hash, parse_sse

from .conftest import GatewayServer, running_gateway

pytestmark = pytest.mark.e2e

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def log_in(client: httpx.Client, username: str, next_url: str = "") -> httpx.Response:
    form = client.get("/accounts/login/", params={"next": next_url} if next_url else None)
    token = _CSRF.search(form.text)
    assert token
    return client.post(
        "/accounts/login/" + (f"?next={next_url}" if next_url else ""),
        data={"username": username, "password": "demo-password", "csrfmiddlewaretoken": token.group(1), "next": next_url},
    )


def log_out(client: httpx.Client) -> None:
    response = client.post("/accounts/logout/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]})
    assert response.status_code == 302


def gradio_event(client: httpx.Client, mount: str, api_name: str, data: list[Any], query: str = "") -> dict[str, Any]:
    config = client.get(f"{mount}/config").json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == api_name)
    session_hash = new_session_hash()
    origin = {"Origin": str(client.base_url).rstrip("/")}
    joined = client.post(
        f"{mount}/gradio_api/queue/join{query}",
        json={"data": data, "fn_index": fn_index, "session_hash": session_hash},
        headers=origin,
    )
    assert joined.status_code == 200, joined.text
    stream = client.get(f"{mount}/gradio_api/queue/data", params={"session_hash": session_hash})
    completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
    assert completed and completed[0]["success"], stream.text
    return completed[0]["output"]


def test_one_login_for_legacy_pages_api_and_gradio(gateway_server: GatewayServer) -> None:
    with httpx.Client(base_url=gateway_server.url, timeout=20) as client:
        anonymous = client.get("/ui/tickets/?status=open", headers={"Accept": "text/html"})
        assert anonymous.status_code == 302
        assert anonymous.headers["location"] == "/accounts/login/?next=/ui/tickets/%3Fstatus%3Dopen"
        assert client.get("/ui/tickets/config").status_code == 401
        assert client.get("/api/v2/me").status_code == 401
        assert client.get("/healthz").status_code == 200

        landed = log_in(client, "alice", next_url="/ui/tickets/?status=open")
        assert landed.status_code == 302 and landed.headers["location"] == "/ui/tickets/?status=open"

        assert client.get("/ui/tickets/?status=open", headers={"Accept": "text/html"}).status_code == 200
        assert gradio_event(client, "/ui/tickets", "signed_in_text", [])["data"] == ["Signed in as alice"]
        status, table = gradio_event(client, "/ui/tickets", "load_tickets_page", [], query="?status=open")["data"]
        assert status == "open"
        titles = [row[1] for row in table["data"]]
        assert titles and all(title.startswith("Alice:") for title in titles)

        legacy = client.get("/tickets/?status=open")
        assert legacy.status_code == 200 and "Alice:" in legacy.text and "Bob:" not in legacy.text
        assert client.get("/api/v2/me").json() == {"username": "alice", "is_staff": False}
        api_titles = {ticket["title"] for ticket in client.get("/api/v2/tickets", params={"status": "open"}).json()}
        assert api_titles == set(titles)

        log_out(client)
        assert client.get("/ui/tickets/config").status_code == 401
        assert client.get("/api/v2/me").status_code == 401
        assert client.get("/tickets/").status_code == 302


def test_open_gradio_stream_ends_when_the_user_logs_out(gateway_server: GatewayServer) -> None:
    with httpx.Client(base_url=gateway_server.url, timeout=20) as client:
        log_in(client, "bob")
        session_hash = new_session_hash()
        ended = threading.Event()

        def hold_heartbeat() -> None:
            with client.stream("GET", f"/ui/tickets/gradio_api/heartbeat/{session_hash}") as stream:
                assert stream.status_code == 200
                for _ in stream.iter_bytes():
                    pass
            ended.set()

        holder = threading.Thread(target=hold_heartbeat, daemon=True)
        holder.start()
        time.sleep(1.0)
        assert not ended.is_set(), "the heartbeat stream should stay open while bob is logged in"
        started = time.monotonic()
        with httpx.Client(base_url=gateway_server.url, cookies=client.cookies, timeout=20) as other_tab:
            log_out(other_tab)
        assert ended.wait(timeout=10), "the stream was still open 10 s after the logout"
        assert time.monotonic() - started < 5


def test_the_server_can_be_left_to_the_kernel_s_scheduling(tmp_path: Path) -> None:
    """GATEWAY_CPU_AFFINITY=off: no pinning, for hosts where an operator pins things otherwise."""
    with running_gateway(tmp_path, GATEWAY_CPU_AFFINITY="off") as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        (pid,) = server.serving_pids()
        assert sorted(os.sched_getaffinity(pid)) == sorted(os.sched_getaffinity(0))
