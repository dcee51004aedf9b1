"""A submitter in a real browser (Chromium): prefilled form, live Markdown preview (sanitised),
submit, read it, find it by a subject: search; no console or CSP error anywhere."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from circulars.conftest import author
from portal.conftest import browser, browser_page, console_errors, logged_in
from skyalert.broker.core.settings import Settings
from support.browser import accessibility_problems

pytestmark = pytest.mark.usefixtures("topics")
__all__ = ["browser", "console_errors"]  # fixtures of tests/portal

BODY = "The afterglow is **bright**.\n\n<script>document.title='pwned'</script>\n"


def test_submit_with_live_preview_and_find_it(
    settings: Settings, app_url: str, browser: Browser, console_errors: list[str]
) -> None:
    ada = author(settings, app_url)
    state = logged_in(app_url, ada.email)
    with browser_page(browser, app_url, console_errors, state) as page:
        page.goto("/circulars/new?subject=GRB%20251212A%3A%20Swift-XRT%20afterglow")
        expect(page.get_by_label("Subject")).to_have_value("GRB 251212A: Swift-XRT afterglow")
        page.get_by_label("Format").select_option("text/markdown")
        page.get_by_label("Body").fill(BODY)
        expect(page.locator("#circular-preview strong")).to_have_text("bright")
        expect(page.locator("#circular-preview")).to_contain_text("<script>")  # as text
        assert accessibility_problems(page) == []
        page.get_by_role("button", name="Submit").click()
        page.wait_for_url(re.compile(r"/circulars/\d+$"))
        number = page.url.rsplit("/", 1)[1]
        expect(page.locator("#circular-subject")).to_have_text(
            f"GCN Circular {number}: GRB 251212A: Swift-XRT afterglow"
        )
        expect(page.locator("#circular-body strong")).to_have_text("bright")
        assert page.title() != "pwned"
        page.goto("/circulars")
        page.get_by_role("searchbox", name="Search").fill('subject:"251212A" bright')
        page.get_by_role("button", name="Search", exact=True).click()
        expect(page.locator(f'a[href="/circulars/{number}"]')).to_be_visible()
        assert accessibility_problems(page) == []
