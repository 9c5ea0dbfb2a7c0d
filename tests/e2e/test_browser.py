"""The journey a person makes, in a real browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .conftest import GatewayServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
# Without these, chromium keeps calling out to Google's services, which this offline
# machine refuses; none of them matter to a test.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def log_in(page: Page, username: str, password: str = "demo-password") -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form [type=submit]")


def test_gradio_page_login_journey(gateway_server: GatewayServer, page: Page) -> None:
    page.goto(f"{gateway_server.url}/ui/tickets/?status=open")
    expect(page).to_have_url(f"{gateway_server.url}/accounts/login/?next=/ui/tickets/%3Fstatus%3Dopen")

    log_in(page, "alice")
    expect(page).to_have_url(f"{gateway_server.url}/ui/tickets/?status=open")
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as alice")
    # The support desk's own header, nav links and colours, and its title pattern.
    header = page.locator("#site-header nav")
    expect(header.locator(".brand")).to_have_text("Support desk")
    expect(header).to_contain_text("Signed in as alice")
    expect(header.get_by_role("link", name="Tickets", exact=True)).to_have_attribute("href", "/tickets/")
    assert header.evaluate("nav => getComputedStyle(nav).backgroundColor") == "rgb(36, 59, 83)"
    expect(page).to_have_title("Tickets · Support desk")
    table = page.locator(".table-wrap, table").first
    expect(table).to_contain_text("Alice:")
    expect(table).not_to_contain_text("Bob:")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{gateway_server.url}/accounts/login/")
    # Really logged out of Django: the legacy site wants a login again.
    page.goto(f"{gateway_server.url}/tickets/")
    expect(page).to_have_url(f"{gateway_server.url}/accounts/login/?next=/tickets/")


def test_tickets_page_redirected_to_gradio_keeps_the_filter(gateway_server: GatewayServer, page: Page) -> None:
    import subprocess
    import sys

    from .conftest import ROOT

    def routes(*argv: str) -> None:
        subprocess.run([sys.executable, "manage.py", "routes", *argv], cwd=ROOT, env=gateway_server.env, check=True, capture_output=True)

    page.goto(f"{gateway_server.url}/accounts/login/")
    log_in(page, "bob")
    routes("set", "tickets-page", "redirect", "--reason", "browser test")
    try:
        page.wait_for_timeout(1200)  # > the route table's poll interval
        page.goto(f"{gateway_server.url}/tickets/?status=pending")
        expect(page).to_have_url(f"{gateway_server.url}/ui/tickets/?status=pending")
        expect(page.get_by_text("Signed in as bob")).to_be_visible()
        table = page.locator(".table-wrap, table").first
        expect(table).to_contain_text("Bob:")
        expect(table).to_contain_text("pending")
        expect(page.get_by_label("Status")).to_have_value("pending")
    finally:
        routes("set", "tickets-page", "legacy", "--reason", "end of browser test")


def test_a_stale_tab_says_it_was_signed_out(gateway_server: GatewayServer, page: Page) -> None:
    page.goto(f"{gateway_server.url}/ui/tickets/")
    log_in(page, "alice")
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    expect(page.locator(".table-wrap, table").first).to_contain_text("Alice:")
    notice = page.get_by_role("alert").filter(has_text="You were signed out")
    expect(notice).to_have_count(0)

    # Signing out in another tab ends the session this tab still shows.
    other_tab = page.context.new_page()
    other_tab.goto(f"{gateway_server.url}/ui/tickets/")
    other_tab.get_by_role("button", name="Sign out").click()
    expect(other_tab).to_have_url(f"{gateway_server.url}/accounts/login/")
    other_tab.close()

    page.get_by_role("button", name="Refresh").click()
    expect(
        notice, "no signed-out notice: is signed_out_head() given to mount_gradio_app(head=...), and does Gradio's client still send its requests through window.fetch? (fastapi_gateway/pages/signed_out.py)"
    ).to_be_visible()
    sign_in = notice.get_by_role("link", name="Sign in again")
    expect(sign_in).to_have_attribute("href", "/accounts/login/?next=/ui/tickets/")

    sign_in.click()
    expect(page).to_have_url(f"{gateway_server.url}/accounts/login/?next=/ui/tickets/")
    log_in(page, "alice")
    expect(page).to_have_url(f"{gateway_server.url}/ui/tickets/")
    expect(page.get_by_text("Signed in as alice")).to_be_visible()
    expect(notice).to_have_count(0)


def test_the_tickets_table_pages_older_and_newer(gateway_server: GatewayServer, page: Page) -> None:
    """60 tickets, 50 a page: "Older ▸" shows the ten oldest, again says there are no older,
    "◂ Newer" comes back to the newest."""
    import subprocess
    import sys

    from .conftest import ROOT

    make_tickets = (
        "from django.contrib.auth import get_user_model\n"
        "from legacy_django.tickets.models import Ticket\n"
        "user, _ = get_user_model().objects.get_or_create(username='pager')\n"
        "user.set_password('demo-password')\n"
        "user.save()\n"
        "Ticket.objects.filter(owner=user).delete()\n"
        "for n in range(60):\n"
        "    Ticket.objects.create(owner=user, title=f'Paged ticket {n:02d}')\n"
    )
    subprocess.run([sys.executable, "manage.py", "shell", "-c", make_tickets], cwd=ROOT, env=gateway_server.env,
                   check=True, capture_output=True)  # fmt: skip
    page.goto(f"{gateway_server.url}/accounts/login/?next=/ui/tickets/")
    log_in(page, "pager")
    table = page.locator("#tickets-table")
    expect(table).to_contain_text("Paged ticket 59")
    expect(table).not_to_contain_text("Paged ticket 09")
    page.locator("#tickets-older").click()
    expect(table).to_contain_text("Paged ticket 09")
    expect(table).to_contain_text("Paged ticket 00")
    expect(table).not_to_contain_text("Paged ticket 59")
    page.locator("#tickets-older").click()
    expect(page.get_by_text("No older tickets.")).to_be_visible()
    expect(table).to_contain_text("Paged ticket 00")
    page.locator("#tickets-newer").click()
    expect(table).to_contain_text("Paged ticket 59")
    expect(table).not_to_contain_text("Paged ticket 00")
