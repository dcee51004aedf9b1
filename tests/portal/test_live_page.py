"""The live feed page: a logged-in browser watches alerts arrive over the real WebSocket."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, Page, StorageState, expect

from conftest import serving
from portal.conftest import browser_page
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.browser import accessibility_problems, screenshot
from support.feed_servers import feed_servers
from support.ingest import GUANO_TOPIC
from support.stream import guano, mine


def publish(publisher: httpx.Client, alert: dict[str, object]) -> str:
    response = publisher.post(f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=alert)
    assert response.status_code == 201, response.text
    alert_id: str = response.json()["id"]
    return alert_id


def test_live_page_shows_and_plots_an_arriving_alert(
    member_page: Page, publisher: httpx.Client
) -> None:
    page = member_page
    page.goto("/live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "subscribed")
    assert accessibility_problems(page) == []
    tag = f"m{uuid.uuid4().hex[:10]}"
    alert_id = publish(publisher, guano(tag, ra=83.63, dec=22.01))
    item = page.locator(f'#live-feed li[data-alert="{alert_id}"]')
    expect(item).to_be_visible(timeout=20_000)
    assert GUANO_TOPIC in item.inner_text()
    assert "RA 83.630°, Dec 22.010°" in item.inner_text()
    dot = page.locator(f'#live-map a[data-alert="{alert_id}"] circle.alert')
    expect(dot).to_have_count(1)
    # The same projection as the server's map: RA 83.63 lies left of the centre, Dec 22 above it.
    assert float(dot.get_attribute("cx") or 0) < 180
    assert float(dot.get_attribute("cy") or 0) < 90
    screenshot(page, "live")
    second = publish(publisher, guano(tag, ra=300.0, dec=-40.0))
    expect(page.locator("#live-feed li").first).to_have_attribute("data-alert", second)


def test_live_page_applies_the_chosen_filter(member_page: Page, publisher: httpx.Client) -> None:
    page = member_page
    page.goto("/live")
    tag = f"m{uuid.uuid4().hex[:10]}"
    page.get_by_label("Filter (JSON, optional").fill(json.dumps(mine(tag)))
    page.get_by_role("button", name="Watch").click()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "subscribed")
    other = publish(publisher, guano(f"m{uuid.uuid4().hex[:10]}"))
    wanted = publish(publisher, guano(tag))
    expect(page.locator(f'#live-feed li[data-alert="{wanted}"]')).to_be_visible(timeout=20_000)
    assert page.locator(f'#live-feed li[data-alert="{other}"]').count() == 0


def test_live_page_reports_bad_filters(member_page: Page) -> None:
    page = member_page
    page.goto("/live")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "subscribed")
    page.get_by_label("Filter (JSON, optional").fill("{not json")
    page.get_by_role("button", name="Watch").click()
    expect(page.locator("#live-status")).to_contain_text("the filter is not valid JSON")
    page.get_by_label("Filter (JSON, optional").fill('{"field": "ra", "op": "equals", "value": 1}')
    page.get_by_role("button", name="Watch").click()
    expect(page.locator("#live-status")).to_contain_text("equals")


def test_live_page_asks_anonymous_visitors_to_log_in(page: Page) -> None:
    page.goto("/live")
    assert "log in" in page.locator("#login-needed").inner_text()
    expect(page.get_by_role("button", name="Watch")).to_be_disabled()
    assert page.locator("#live-status").inner_text() == "Not connected."


def test_live_page_watches_through_the_feeds_own_server(
    browser: Browser,
    settings: Settings,
    member_state: StorageState,
    publisher: httpx.Client,
    console_errors: list[str],
) -> None:
    with feed_servers(settings, 1) as (feed_url, _servers):
        feed_port, app_port = urlsplit(feed_url).port, free_port()
        own = settings.model_copy(
            update={
                "stream_port": feed_port,
                "port": app_port,
                "public_url": f"http://127.0.0.1:{app_port}",
            }
        )
        with (
            serving(own, app_port) as url,
            browser_page(browser, url, console_errors, member_state) as page,
        ):
            opened: list[str] = []
            page.on("websocket", lambda socket: opened.append(socket.url))
            page.goto("/live")
            expect(page.locator("#live-status")).to_have_attribute("data-state", "subscribed")
            assert opened == [f"ws://127.0.0.1:{feed_port}/api/v1/stream"]
            alert_id = publish(publisher, guano(f"m{uuid.uuid4().hex[:10]}"))
            expect(page.locator(f'#live-feed li[data-alert="{alert_id}"]')).to_be_visible(
                timeout=20_000
            )
