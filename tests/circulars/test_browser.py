"""A submitter in a real browser (Chromium): prefilled form, live Markdown preview (sanitised),
submit, read it, find it by a subject: search; no console or CSP error anywhere. And issue 15's
acceptance: a new user's whole path from sign-up to the circular everywhere it should be."""

from __future__ import annotations

import json
import random
import re
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy.orm import Session, sessionmaker

from circulars.conftest import author
from circulars.test_portal import EXAMPLES
from client.test_client_sasl import sasl_server
from portal.conftest import browser, browser_page, console_errors, logged_in
from skyalert.broker.circulars import submission
from skyalert.broker.core.settings import Settings
from skyalert.client import Consumer
from support.auth import get_token, make_credential, make_user, token_for
from support.browser import accessibility_problems
from support.client import within
from support.email import Api, Mailbox, email_worker, mailed_link, text_of, wait_consumed
from support.ingest import find_messages

pytestmark = pytest.mark.usefixtures("topics")
__all__ = ["browser", "console_errors", "sasl_server"]  # fixtures of tests/portal, tests/client
PASSWORD = "a long enough password"

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


def sign_up_and_log_in(page: Page, settings: Settings, email: str) -> None:
    page.goto("/account/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Name").fill("Nia Newcomer")
    page.get_by_role("button", name="Sign up").click()
    page.goto(mailed_link(settings, email, "/account/verify"))
    page.goto("/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/account/login" not in url)


def publish_notice(settings: Settings, app_url: str) -> tuple[str, str]:
    """An IGWN notice of a new superevent: (the event's name in circulars, the alert id)."""
    notice = json.loads(EXAMPLES.joinpath("igwn.gwalert.example.json").read_text("utf-8"))
    superevent = f"S2412{uuid.uuid4().int % 100:02d}{''.join(random.choices('abcdefgh', k=3))}"
    notice["superevent_id"] = superevent
    publisher = token_for(settings, app_url, groups=["producers.igwn"])
    published = httpx.post(
        f"{app_url}/api/v1/topics/igwn.gwalert/alerts",
        json=notice,
        headers={"Authorization": f"Bearer {publisher}"},
        timeout=30,
    )
    assert published.status_code == 201, published.text
    return f"LIGO/Virgo/KAGRA {superevent}", published.json()["id"]


def test_a_new_user_is_endorsed_submits_and_the_circular_is_everywhere(
    settings: Settings,
    app_url: str,
    browser: Browser,
    console_errors: list[str],
    sasl_server: str,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    endorser = author(settings, app_url, name="Sam Submitter")
    event, notice_id = publish_notice(settings, app_url)
    phrase = f"afterglow {uuid.uuid4().hex[:8]}"
    subscriber = make_user(settings)
    credential = make_credential(settings, subscriber, "all")
    reader = Consumer(*credential, sasl_server)
    group = f"test-email-{uuid.uuid4().hex[:8]}"
    mailbox = Mailbox()
    mailbox.start()
    with Api(app_url, get_token(app_url, *credential)) as api:
        made = api.post("/subscriptions", {"topics": ["gcn.circulars"]})
        assert made.status_code == 201, made.text
    email = f"new-{uuid.uuid4().hex[:10]}@example.org"
    try:
        with (
            browser_page(browser, app_url, console_errors) as page,
            email_worker(settings, mailbox.url, tmp_path / "email.log", group, public_url=app_url),
        ):
            sign_up_and_log_in(page, settings, email)
            page.goto("/circulars/endorsements")
            page.get_by_label("Submitter's email address").fill(endorser.email)
            page.get_by_role("button", name="Request endorsement").click()
            expect(page.locator("#endorsement-notice")).to_be_visible()
            link = mailed_link(settings, endorser.email, "/circulars/endorsements/decide")
            with browser_page(browser, app_url, console_errors) as endorser_page:
                endorser_page.goto(link)
                endorser_page.get_by_role("button", name="Approve").click()
                expect(endorser_page.locator("main")).to_contain_text("approved")

            with sessions() as session:
                expected = submission.highest_number(session) + 1
            page.goto("/circulars/new")
            page.get_by_label("Subject").fill(f"{event}: optical {phrase}")
            page.get_by_label("Format").select_option("text/markdown")
            page.get_by_label("Body").fill(f"We see a **{phrase}** in the field.")
            expect(page.locator("#circular-preview strong")).to_have_text(phrase)
            page.get_by_role("button", name="Submit").click()
            page.wait_for_url(re.compile(r"/circulars/\d+$"))
            number = int(page.url.rsplit("/", 1)[1])
            assert number == expected

            page.goto("/circulars")
            expect(page.locator(f'a[href="/circulars/{number}"]').first).to_be_visible()
            for query in (f'subject:"{phrase}"', f'"{phrase} in the field"'):
                page.get_by_role("searchbox", name="Search").fill(query)
                page.get_by_role("button", name="Search", exact=True).click()
                expect(page.locator(f'a[href="/circulars/{number}"]')).to_be_visible()
            page.goto(f"/circulars/events/{event}")
            expect(page.locator(f'a[href="/circulars/{number}"]')).to_be_visible()
            expect(page.locator(f'a[href="/alerts/{notice_id}"]')).to_be_visible()
            assert accessibility_problems(page) == []

            with within(60):
                alerts = reader.alerts("gcn.circulars")
                got = next(a for a in alerts if a.payload.get("circularId") == number)
            assert phrase in got.payload["body"]
            [message] = find_messages(
                settings,
                "gcn.circulars",
                lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
            )
            mailbox.wait_until(bool, subscriber.email)
            wait_consumed(settings, group, message)
        [mail] = mailbox.to(subscriber.email)  # exactly once
        assert phrase in text_of(mail.message)
    finally:
        reader.close()
        mailbox.stop()
