"""The journey of a new user, in a real browser against the real stack: sign up, verify through
the mailed link, log in, run the quickstart, copy the generated Python and run it, subscribe by
email on the portal, and see an alert a producer publishes printed by that code, listed on the
live feed, plotted on the map and mailed by the email worker.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from skyalert.broker.core.settings import Settings
from support.browser import accessibility_problems, screenshot
from support.email import Mailbox, email_worker, mailed_link, text_of
from support.ingest import GUANO_TOPIC
from support.processes import running
from support.stream import guano, mine

PASSWORD = "a long enough password"


@pytest.mark.slow
def test_new_user_signs_up_and_receives_an_alert_everywhere(
    local_page: Page, local_url: str, settings: Settings, publisher: httpx.Client, tmp_path: Path
) -> None:
    page = local_page
    email = f"new-{uuid.uuid4().hex[:10]}@example.org"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    page.goto("/")
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign up").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    assert accessibility_problems(page) == []
    screenshot(page, "journey-1-signed-up")

    page.goto(mailed_link(settings, email, "/account/verify"))
    page.goto("/account/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/account/login" not in url)

    page.goto("/")
    page.get_by_role("link", name="Start receiving alerts").click()
    page.locator(f'input[name="topic"][value="{GUANO_TOPIC}"]').check()
    page.get_by_role("button", name="Generate my code").click()
    screenshot(page, "journey-2-code")
    section = page.locator('section[data-snippet="python-client"]')
    section.get_by_role("button", name="Copy").click()
    expect(section.locator(".copied")).to_have_text("Copied.")
    code = page.evaluate("navigator.clipboard.readText()")
    assert code == section.locator("pre code").inner_text()
    script = tmp_path / "skyalert_listen.py"
    script.write_text(code)

    tag = f"m{uuid.uuid4().hex[:10]}"
    page.goto("/account/subscriptions")
    page.get_by_label("Name").fill("my bursts")
    page.locator(f'input[name="topic"][value="{GUANO_TOPIC}"]').check()
    page.locator('input[name="format"][value="text"]').check()
    page.get_by_label("Filter (JSON, optional").fill(json.dumps(mine(tag)))
    page.get_by_role("button", name="Subscribe").click()
    assert page.locator("#notice").inner_text() == "Subscription created."

    live = page.context.new_page()
    live.goto("/live")
    expect(live.locator("#live-status")).to_have_attribute("data-state", "subscribed")
    env = {
        "PATH": str(Path(sys.executable).parent),
        "SKYALERT_CLIENT_CACHE_DIR": str(tmp_path / "cache"),
        "SKYALERT_CLIENT_CONFIG_DIR": str(tmp_path / "config"),
    }
    mailbox = Mailbox()
    mailbox.start()
    with (
        email_worker(settings, mailbox.url, tmp_path / "email.log", public_url=local_url),
        running([sys.executable, str(script)], env) as program,
    ):
        response = publisher.post(
            f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=guano(tag, ra=266.4, dec=-28.9)
        )
        assert response.status_code == 201, response.text
        alert_id = response.json()["id"]
        printed = program.wait_for(alert_id)
        (mail,) = mailbox.wait_until(lambda mails: len(mails) == 1, email)
    mailbox.stop()
    assert alert_id in text_of(mail.message)
    assert GUANO_TOPIC in printed
    assert "(266.4, -28.9)" in printed
    item = live.locator(f'#live-feed li[data-alert="{alert_id}"]')
    expect(item).to_be_visible(timeout=20_000)
    expect(live.locator(f'#live-map a[data-alert="{alert_id}"] circle.alert')).to_have_count(1)
    screenshot(live, "journey-3-live")
    item.get_by_role("link").click()
    live.wait_for_url(f"**/alerts/{alert_id}")
    assert tag in live.locator("#alert-json").inner_text()
