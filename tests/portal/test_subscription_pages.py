"""Email subscriptions on the portal: create, send a test message, edit, delete; bad input."""

from __future__ import annotations

import time
from email import message_from_bytes

import httpx
import pytest
from playwright.sync_api import Page

from skyalert.auth.models import User
from skyalert.broker.core.mail import outbox
from skyalert.broker.core.settings import Settings
from support.browser import accessibility_problems, screenshot
from support.ingest import GUANO_TOPIC


def mails_to(settings: Settings, address: str) -> list[str]:
    """Subjects of the mails in the outbox addressed to ``address``."""
    found = []
    for path in sorted(outbox(settings).glob("*.eml")):
        message = message_from_bytes(path.read_bytes())
        if message["To"] == address:
            found.append(str(message["Subject"]))
    return found


def create(page: Page, name: str, topics: list[str], fmt: str = "text") -> str:
    page.goto("/account/subscriptions")
    page.get_by_label("Name").fill(name)
    for topic in topics:
        page.locator(f'input[name="topic"][value="{topic}"]').check()
    page.locator(f'input[name="format"][value="{fmt}"]').check()
    page.get_by_role("button", name="Subscribe").click()
    row = page.locator("tr[data-subscription]", has_text=name)
    sub_id = row.get_attribute("data-subscription")
    assert sub_id is not None
    return sub_id


def test_create_test_edit_and_delete_a_subscription(
    member_page: Page, member: User, settings: Settings
) -> None:
    page = member_page
    name = f"bursts {time.monotonic_ns()}"
    sub_id = create(page, name, [GUANO_TOPIC])
    assert page.locator("#notice").inner_text() == "Subscription created."
    row = page.locator(f'tr[data-subscription="{sub_id}"]')
    assert GUANO_TOPIC in row.inner_text()
    assert "active" in row.inner_text()
    assert accessibility_problems(page) == []
    screenshot(page, "subscriptions")

    before = len(mails_to(settings, member.email))
    row.get_by_role("button", name=f"Send a test message for {name}").click()
    assert f"on its way to {member.email}" in page.locator("#notice").inner_text()
    assert len(mails_to(settings, member.email)) == before + 1

    page.locator(f'tr[data-subscription="{sub_id}"]').get_by_role(
        "link", name=name, exact=True
    ).click()
    page.get_by_label("Active (untick to pause the mails)").uncheck()
    page.get_by_label("Filter (JSON, optional").fill(
        '{"field": "rate_snr", "op": "gt", "value": 8}'
    )
    page.get_by_role("button", name="Save").click()
    assert page.locator("#notice").inner_text() == "Subscription saved."
    row = page.locator(f'tr[data-subscription="{sub_id}"]')
    assert "stopped" in row.inner_text()
    assert "filtered" in row.inner_text()

    row.get_by_role("link", name=f"Delete {name}").click()
    assert name in page.locator("h1").inner_text()
    page.get_by_role("button", name="Delete it").click()
    assert page.locator("#notice").inner_text() == "Subscription deleted."
    assert page.locator(f'tr[data-subscription="{sub_id}"]').count() == 0


@pytest.mark.parametrize(
    ("topics", "filter_text", "message"),
    [
        ([], "", "topic"),
        ([GUANO_TOPIC], "{not json", "filter: not valid JSON"),
        ([GUANO_TOPIC], '{"field": "ra", "op": "equals", "value": 1}', "equals"),
    ],
)
def test_bad_subscriptions_are_refused_with_the_reason(
    member_page: Page, topics: list[str], filter_text: str, message: str
) -> None:
    page = member_page
    page.goto("/account/subscriptions")
    for topic in topics:
        page.locator(f'input[name="topic"][value="{topic}"]').check()
    page.get_by_label("Filter (JSON, optional").fill(filter_text)
    page.get_by_role("button", name="Subscribe").click()
    assert message in page.locator("#form-errors").inner_text()
    # What was typed is kept for the next try.
    assert page.get_by_label("Filter (JSON, optional").input_value() == filter_text


def test_subscription_forms_need_the_csrf_token(member_page: Page, app_url: str) -> None:
    member_page.goto("/account/subscriptions")
    cookies = {c["name"]: c["value"] for c in member_page.context.cookies()}
    forged = httpx.post(
        f"{app_url}/account/subscriptions", data={"topic": GUANO_TOPIC}, cookies=cookies
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.text


def test_subscriptions_need_a_login(app_url: str) -> None:
    response = httpx.get(f"{app_url}/account/subscriptions")
    assert response.status_code == 303
    assert response.headers["location"] == "/account/login?next=/account/subscriptions"


def test_someone_elses_subscription_is_not_found(member_page: Page) -> None:
    response = member_page.goto("/account/subscriptions/999999")
    assert response is not None
    assert response.status == 404
