"""The console in a real browser: staff flip a route on one gateway process, another one serves it.

Two uvicorn processes share one SQLite database, as two hosts behind a load balancer share
theirs: the browser talks to the first, and the second, which the console never spoke to,
answers ``/api/tickets/`` from the new side within a couple of seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import GatewayServer, running_gateway
from tests.e2e.test_browser import browser, log_in, page  # noqa: F401  (the browser fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
POLL_SECONDS = "0.5"


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayServer, GatewayServer]]:
    first_dir, second_dir = tmp_path_factory.mktemp("console-a"), tmp_path_factory.mktemp("console-b")
    shared = f"sqlite:///{Path(first_dir) / 'db.sqlite3'}"
    with running_gateway(first_dir, GATEWAY_ROUTE_POLL_SECONDS=POLL_SECONDS) as first:
        with running_gateway(second_dir, DATABASE_URL=shared, GATEWAY_ROUTE_POLL_SECONDS=POLL_SECONDS) as second:
            yield first, second


@contextmanager
def _logged_in(server: GatewayServer, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        token = _CSRF.search(client.get("/accounts/login/").text)
        assert token
        client.post("/accounts/login/", data={"username": username, "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
        yield client


def _choose(page: Page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_staff_flip_a_route_in_the_console_and_another_process_serves_it(
    two_processes: tuple[GatewayServer, GatewayServer], page: Page,  # noqa: F811
) -> None:
    first, second = two_processes
    elsewhere: list[str] = []  # the page, its charts and fonts come from the gateway alone: no CDN
    page.on("request", lambda request: None if request.url.startswith((first.url, "data:", "blob:")) else elsewhere.append(request.url))
    with _logged_in(second, "alice") as alice:
        assert alice.get("/api/tickets/").headers["x-served-by"] == "legacy"

        page.goto(f"{first.url}/ui/migration/")
        expect(page).to_have_url(f"{first.url}/accounts/login/?next=/ui/migration/")
        log_in(page, "admin")
        expect(page).to_have_url(f"{first.url}/ui/migration/")
        expect(page.locator("#site-header nav")).to_contain_text("Signed in as admin")
        expect(page).to_have_title("Migration console · Support desk")
        routes = page.locator("#console-routes")
        for name in ("api-tickets", "api-ticket-detail", "tickets-page"):
            expect(routes).to_contain_text(name)

        page.get_by_role("tab", name="Actions").click()
        expect(page.locator("#console-route input")).to_have_value("api-tickets")
        _choose(page, "console-state", "new")
        page.locator("#console-reason textarea").fill("the new list is ready")
        page.locator("#console-review-set-state").click()
        expect(page.locator("#console-review")).to_contain_text("Move api-tickets from legacy to new")
        page.locator("#console-confirm").click()
        expect(page.locator("#console-result")).to_contain_text("api-tickets is now new")
        flipped = time.monotonic()

        served_by = ""
        while time.monotonic() - flipped < 2.5:
            served_by = alice.get("/api/tickets/").headers["x-served-by"]
            if served_by == "new":
                break
            time.sleep(0.05)
        assert served_by == "new", "the other process still serves legacy 2.5 s after the console's flip"
        print(f"\nthe other process served the new side {time.monotonic() - flipped:.2f} s after the confirmation")

        # The overview and the audit trail say so, with who and why.
        expect(routes.locator("tr", has_text="api-tickets").first).to_contain_text("new")
        page.get_by_role("tab", name="Audit trail").click()
        expect(page.locator("#console-audit")).to_contain_text("console:admin")
        expect(page.locator("#console-audit")).to_contain_text("the new list is ready")
    assert not elsewhere, elsewhere


def test_a_user_who_is_not_staff_is_refused_the_console(two_processes: tuple[GatewayServer, GatewayServer], page: Page) -> None:  # noqa: F811
    first, _ = two_processes
    page.goto(f"{first.url}/ui/migration/")
    log_in(page, "bob")
    expect(page.get_by_text("this page is not open to your account")).to_be_visible()
