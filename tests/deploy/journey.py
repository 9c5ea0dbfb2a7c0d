"""A user's session through nginx, as a browser makes it, with what the test must see on the way.

Every request carries ``X-Request-ID: <browser label>-<n>``; nginx logs it with the gateway
process that answered (``upstream``), so the test can tell which process served what without
the gateway knowing it is being watched.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.gradio_protocol import new_session_hash, parse_sse

from .conftest import TicketDatabase

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_CREATED = re.compile(r"Created ticket #(\d+)\.")
AccessLog = Callable[[], list[dict[str, Any]]]


class Browser:
    """One browser session (one cookie jar) talking to nginx."""

    def __init__(self, base_url: str, label: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = label
        self._numbers = count(1)
        self.last_request_id = ""
        self.client = httpx.Client(base_url=self.base_url, timeout=20, event_hooks={"request": [self._tag]})

    def _tag(self, request: httpx.Request) -> None:
        self.last_request_id = f"{self.label}-{next(self._numbers)}"
        request.headers["X-Request-ID"] = self.last_request_id

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={self.client.cookies[name]}" for name in ("sessionid", "csrftoken"))

    def log_in(self, username: str) -> httpx.Response:
        form = self.client.get("/accounts/login/")
        token = _CSRF.search(form.text)
        assert form.status_code == 200 and token, form.text[:500]
        return self.client.post(
            "/accounts/login/",
            data={"username": username, "password": "demo-password", "csrfmiddlewaretoken": token.group(1)},
        )

    def create_ticket_via_api(self, title: str) -> httpx.Response:
        return self.client.post(
            "/api/v2/tickets",
            json={"title": title, "body": "written through nginx"},
            headers={"X-CSRFToken": self.client.cookies["csrftoken"], "Origin": self.base_url},
        )

    def open_gradio_page(self, mount: str) -> GradioPage:
        """What a page (re)load does: the HTML, the config, a new Gradio session."""
        page = self.client.get(f"{mount}/", headers={"Accept": "text/html"})
        assert page.status_code == 200, f"{mount}/ answered {page.status_code}: {page.text[:300]}"
        config = self.client.get(f"{mount}/config")
        assert config.status_code == 200, f"{mount}/config answered {config.status_code}: {config.text[:300]}"
        return GradioPage(self, mount, config.json(), new_session_hash())


@dataclass
class GradioPage:
    """One loaded Gradio page: its config and its ``session_hash``, used by every event on it."""

    browser: Browser
    mount: str
    config: dict[str, Any]
    session_hash: str

    def fn_index(self, api_name: str) -> int:
        for index, dependency in enumerate(self.config["dependencies"]):
            if dependency.get("api_name") == api_name:
                return int(dependency.get("id", index))
        raise LookupError(f"no event {api_name!r} in {[d.get('api_name') for d in self.config['dependencies']]}")

    def join(self, api_name: str, data: Sequence[Any]) -> httpx.Response:
        return self.browser.client.post(
            f"{self.mount}/gradio_api/queue/join",
            json={"data": list(data), "fn_index": self.fn_index(api_name), "session_hash": self.session_hash,
                  "event_data": None, "trigger_id": None},
            headers={"Origin": self.browser.base_url},
        )  # fmt: skip

    def run(self, api_name: str, data: Sequence[Any] = ()) -> list[Any]:
        """A full queue round trip: ``queue/join``, then the SSE stream to ``process_completed``."""
        joined = self.join(api_name, data)
        assert joined.status_code == 200, f"queue/join of {api_name}: {joined.status_code} {joined.text[:300]}"
        stream = self.browser.client.get(
            f"{self.mount}/gradio_api/queue/data", params={"session_hash": self.session_hash}
        )
        assert stream.status_code == 200, f"queue/data: {stream.status_code} {stream.text[:300]}"
        completed = [m for m in parse_sse(stream.text) if m.get("msg") == "process_completed"]
        assert completed and completed[-1].get("success"), stream.text[:1000]
        return list(completed[-1]["output"]["data"])

    def hold_heartbeat(self) -> HeldStream:
        """Open the page's heartbeat stream, as the page does, in a thread; ``ended`` is set when it closes."""
        held = HeldStream(threading.Event())
        cookies = httpx.Cookies(self.browser.client.cookies)
        url = f"{self.browser.base_url}{self.mount}/gradio_api/heartbeat/{self.session_hash}"

        def read() -> None:
            try:
                with httpx.Client(cookies=cookies, timeout=60) as client, client.stream("GET", url) as stream:
                    held.status = stream.status_code
                    for _ in stream.iter_bytes():
                        pass
            except httpx.HTTPError as exc:
                held.error = repr(exc)
            held.ended.set()

        threading.Thread(target=read, daemon=True).start()
        return held

    def create_ticket(self, title: str) -> int:
        _rows, _title, _body, message = self.run("create_ticket_from_form", [title, "from Gradio", "normal", "All"])
        created = _CREATED.search(str(message))
        assert created, f"the create form said {message!r}"
        return int(created.group(1))


@dataclass
class HeldStream:
    """``error`` is None when the stream ended cleanly (the server finished the response)."""

    ended: threading.Event
    status: int | None = None
    error: str | None = None


# What the access log says ------------------------------------------------------------------


def logged(access_log: AccessLog, request_id: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The whole access log once the line of ``request_id`` is in it. nginx writes a request's
    line after the client has its answer, so a test that reads the log at once can miss it."""
    deadline = time.monotonic() + timeout
    while True:
        entries = access_log()
        if any(e["request_id"] == request_id for e in entries):
            return entries
        if time.monotonic() > deadline:
            raise AssertionError(f"nginx logged no line for {request_id} within {timeout:g} s; last lines: {entries[-3:]}")
        time.sleep(0.05)


def served_by(entries: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """The access log lines of one browser's requests, in order."""
    prefix = f"{label}-"
    numbered = [e for e in entries if str(e["request_id"]).startswith(prefix)]
    return sorted(numbered, key=lambda e: int(str(e["request_id"])[len(prefix):]))


def final_upstream(entry: dict[str, Any]) -> str:
    """The process that answered (nginx lists every one it tried, the last one answered)."""
    return str(entry["upstream"]).split(",")[-1].strip()


# The journey -------------------------------------------------------------------------------


@dataclass
class JourneyReport:
    login_upstream: str
    ui_upstreams: set[str]
    legacy_upstreams: set[str]
    logout_gateway: str
    ticket_ids: list[int] = field(default_factory=list)


def _direct(gateway_url: str, path: str, cookie_header: str, **kwargs: Any) -> httpx.Response:
    """A request straight to one gateway process, bypassing nginx, with the browser's cookies."""
    method = kwargs.pop("method", "GET")
    headers = {"Cookie": cookie_header, **kwargs.pop("headers", {})}
    return httpx.request(method, gateway_url + path, headers=headers, timeout=20, **kwargs)


def run_journey(
    nginx_url: str,
    gateway_urls: Sequence[str],
    access_log: AccessLog,
    database: TicketDatabase,
    username: str,
) -> JourneyReport:
    """Log in, use legacy pages, /api/v2 and a Gradio page through nginx, log out on another
    process, then find the old cookie refused everywhere."""
    label = f"{username}-{secrets.token_hex(3)}"
    with Browser(nginx_url, label) as browser:
        client = browser.client
        assert client.get("/healthz").status_code == 200
        assert client.get("/api/v2/me").status_code == 401
        assert client.get("/ui/tickets/config").status_code == 401

        logged_in = browser.log_in(username)
        assert logged_in.status_code == 302, logged_in.text[:500]
        assert "sessionid" in client.cookies

        # Legacy pages and the legacy JSON API, several times: they may land anywhere.
        for _ in range(3):
            listing = client.get("/tickets/")
            assert listing.status_code == 200 and f"Signed in as <strong>{username}</strong>" in listing.text
            assert client.get("/tickets/", params={"status": "open"}).status_code == 200
            legacy_api = client.get("/api/tickets/")
            assert legacy_api.status_code == 200 and legacy_api.json()
        own_ticket = legacy_api.json()[0]["id"]
        assert client.get(f"/tickets/{own_ticket}/").status_code == 200

        # The new API, a write included.
        assert client.get("/api/v2/me").json() == {"username": username, "is_staff": False}
        created = browser.create_ticket_via_api(f"deploy {label} api")
        assert created.status_code == 201, created.text
        api_ticket = int(created.json()["id"])

        # The Gradio page: load events, then a ticket created through the form, twice.
        page = browser.open_gradio_page("/ui/tickets")
        assert page.run("signed_in_text") == [f"Signed in as {username}"]
        for round_trip in range(2):
            status, table = page.run("load_tickets_page")
            assert status == "All" and table["data"], table
            gradio_ticket = page.create_ticket(f"deploy {label} gradio {round_trip}")
        assert page.run("signed_in_text") == [f"Signed in as {username}"]

        # Both writes are in the shared database, and visible through whichever process.
        for ticket_id in (api_ticket, gradio_ticket):
            assert database.owner_of(ticket_id) == username
            assert client.get(f"/tickets/{ticket_id}/").status_code == 200
            assert client.get(f"/api/v2/tickets/{ticket_id}").status_code == 200

        lines = served_by(logged(access_log, browser.last_request_id), label)
        login = next(e for e in lines if e["method"] == "POST" and e["uri"] == "/accounts/login/")
        login_upstream = final_upstream(login)
        ui_upstreams = {final_upstream(e) for e in lines if e["uri"].startswith("/ui/") and e["status"] == 200}
        legacy_upstreams = {final_upstream(e) for e in lines if e["uri"].startswith(("/tickets/", "/api/"))}
        assert len(ui_upstreams) == 1, f"one session's Gradio requests reached several processes: {ui_upstreams}"
        assert len(legacy_upstreams) >= 2, f"legacy and API requests were not spread: {legacy_upstreams}"

        # The open page keeps its heartbeat stream on its process while the user logs out elsewhere.
        heartbeat = page.hold_heartbeat()
        assert not heartbeat.ended.wait(0.5), "the heartbeat stream closed while the user was logged in"
        assert heartbeat.status == 200

        # Log out on a process that served neither the login nor the Gradio page.
        others = [url for url in gateway_urls if urlsplit(url).netloc not in {login_upstream, *ui_upstreams}]
        assert others, f"no third process among {gateway_urls}"
        logout_gateway = others[-1]
        cookie_header = browser.cookie_header
        logged_out = _direct(
            logout_gateway, "/accounts/logout/", cookie_header, method="POST",
            data={"csrfmiddlewaretoken": client.cookies["csrftoken"]},
        )  # fmt: skip
        assert logged_out.status_code == 302, logged_out.text[:500]

        # The stream on the Gradio process sees the logout made on another one.
        assert heartbeat.ended.wait(5), "the Gradio stream stayed open 5 s after the logout on another process"

        # The browser still holds the old cookie (a tab left open): refused on the next request.
        assert client.get("/api/v2/me").status_code == 401
        assert client.get("/ui/tickets/config").status_code == 401
        assert page.join("signed_in_text", []).status_code == 401
        back_to_login = client.get("/tickets/")
        assert back_to_login.status_code == 302 and back_to_login.headers["location"].startswith("/accounts/login/")
        refused_write = browser.create_ticket_via_api(f"deploy {label} after logout")
        assert refused_write.status_code in (401, 403)
        # ... and by every process, not only the ones nginx happened to pick.
        for gateway_url in gateway_urls:
            assert _direct(gateway_url, "/api/v2/me", cookie_header).status_code == 401, gateway_url
            assert _direct(gateway_url, "/ui/tickets/config", cookie_header).status_code == 401, gateway_url
        assert database.titles_like(f"deploy {label} after logout") == []

    return JourneyReport(
        login_upstream=login_upstream,
        ui_upstreams=ui_upstreams,
        legacy_upstreams=legacy_upstreams,
        logout_gateway=logout_gateway,
        ticket_ids=[api_ticket, gradio_ticket],
    )
