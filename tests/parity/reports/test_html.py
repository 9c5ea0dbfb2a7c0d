"""The HTML report: one self-contained file; summaries, fields and a side-by-side diff a person
reads — checked in the markup, and in Debian's chromium through Playwright."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from playwright.sync_api import Browser, Page, expect, sync_playwright

from fastapi_gateway.parity.reports import render_html
from fastapi_gateway.parity.results import RunReport

CHROMIUM = Path("/usr/bin/chromium")
# Without these, chromium keeps calling out to Google's services, which this offline machine refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def test_the_page_needs_nothing_from_elsewhere_and_escapes_what_it_shows(sample_report: RunReport) -> None:
    page = render_html(sample_report)
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", page)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<style>" in page and "@import" not in page


def test_fields_noise_and_latency_are_in_the_page(sample_report: RunReport) -> None:
    page = render_html(sample_report)
    assert '<tr class="differing-field"><td class="path mono">$[0].title</td>' in page
    assert '<tr class="noise-field"><td class="path mono">$[0].updated_at</td>' in page
    assert re.search(r'<td class="replace right field" title="\$\[0\]\.title">', page)
    assert re.search(r'<td class="[^"]*noise" title="\$\[0\]\.updated_at">', page)
    assert "new side unreachable: GET /v2/x raised RuntimeError: boom" in page
    assert '<a href="#route-api-tickets">api-tickets</a>' in page


@contextmanager
def chromium() -> Iterator[Browser]:
    """Started inside the test, after the database fixtures: Playwright's sync API keeps an
    event loop on this thread, and Django refuses ORM calls while one runs."""
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: .ci/run installs it (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_report_of_a_real_run_shows_the_diff_in_a_browser(
    parity_routes: Any, build_gateway: Any, tmp_path: Path
) -> None:
    report = tmp_path / "parity.html"
    with pytest.raises(CommandError):  # exit 1: wrong-tickets differs
        call_command("parity", "wrong-tickets", "clock", "--user", "alice", "--output", str(report),
                     stdout=io.StringIO(), stderr=io.StringIO(), app_factory=build_gateway)
    with chromium() as browser:
        _look_at(browser.new_page(), report, tmp_path)


def _look_at(page: Page, report: Path, tmp_path: Path) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(report.as_uri())

    summary = page.locator("table.summary tbody tr", has_text="wrong-tickets")
    expect(summary.locator("td")).to_have_text(["wrong-tickets", "6", "2", "4", "0", "0", re.compile(r"[\d.]+"), re.compile(r"[\d.]+")])
    summary.get_by_role("link").click()

    first = page.locator("article.case.differ").first
    expect(first).to_be_visible()
    expect(first.locator("h3")).to_contain_text("differ")
    expect(first.locator("table.fields tr.differing-field td.path")).to_have_text(["$[0].title"])
    changed_new = first.locator("table.diff td.right.field")
    changed_old = first.locator("table.diff td.left.field")
    expect(changed_new).to_contain_text("(v2)")
    expect(changed_old).to_be_visible()
    expect(changed_old).not_to_contain_text("(v2)")
    assert changed_new.evaluate("cell => getComputedStyle(cell).backgroundColor") == "rgb(218, 251, 225)"
    assert first.locator("table.diff span.k").count() > 0  # JSON keys highlighted

    noise = page.locator("article.case.noise").first
    expect(noise.locator("tr.noise-field td.path")).to_have_text(["$.lucky", "$.now", "$.token"])
    expect(noise.locator("table.diff td.noise").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "parity.png"), full_page=True)
    assert requested and all(url.startswith("file://") for url in requested), requested
    page.close()
