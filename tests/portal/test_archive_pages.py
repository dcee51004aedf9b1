"""The archive browser and alert pages, on alerts published through the real HTTP API."""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Page

from skyalert.broker.core.settings import Settings
from support.auth import DEFAULT_PASSWORD, make_user, token_for
from support.browser import accessibility_problems, log_in, screenshot
from support.classic import TEXT_RA, bat_packet, text_notice
from support.ingest import (
    BAT_DEC,
    BAT_RA,
    BAT_TOPIC,
    GUANO_TOPIC,
    XRT_TOPIC,
    ivorn_of,
    unique_bat,
    xrt_as_v2,
)
from support.stream import EXAMPLES, guano, post_voevent


def publish(publisher: httpx.Client, alert: dict[str, object]) -> str:
    response = publisher.post(f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=alert)
    assert response.status_code == 201, response.text
    alert_id: str = response.json()["id"]
    return alert_id


def publish_voevent(publisher: httpx.Client, raw: bytes, topic: str = BAT_TOPIC) -> str:
    return post_voevent(publisher, raw, topic)


def lonely_spot() -> tuple[float, float]:
    """A sky position no other test uses, so a small cone isolates this test's alerts."""
    return round(random.uniform(10, 350), 4), round(random.uniform(-60, 60), 4)


def test_archive_filters_by_cone_and_pages(page: Page, publisher: httpx.Client) -> None:
    ra, dec = lonely_spot()
    tag = f"m{uuid.uuid4().hex[:10]}"
    ids = [publish(publisher, guano(tag, ra=ra, dec=dec)) for _ in range(27)]
    far = publish(publisher, guano(tag, ra=(ra + 90) % 360, dec=dec))
    page.goto(f"/alerts?topic={GUANO_TOPIC}&ra={ra}&dec={dec}&radius=0.5")
    assert accessibility_problems(page) == []
    shown = page.locator("tr[data-alert]").evaluate_all("rows => rows.map(r => r.dataset.alert)")
    assert shown == list(reversed(ids))[:25]
    assert far not in shown
    assert page.locator("#skymap .markers circle.alert").count() == 25
    screenshot(page, "archive")
    page.get_by_role("link", name="Older alerts").click()
    older = page.locator("tr[data-alert]").evaluate_all("rows => rows.map(r => r.dataset.alert)")
    assert older == list(reversed(ids))[25:]
    assert page.get_by_role("link", name="Older alerts").count() == 0
    page.get_by_role("link", name="Newest alerts").click()
    assert page.locator("tr[data-alert]").first.get_attribute("data-alert") == ids[-1]


def test_archive_time_window(publisher: httpx.Client, app_url: str) -> None:
    ra, dec = lonely_spot()
    alert_id = publish(publisher, guano(f"m{uuid.uuid4().hex[:10]}", ra=ra, dec=dec))
    cone = f"ra={ra}&dec={dec}&radius=0.1"
    now = datetime.now(UTC)
    before = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    after = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    inside = httpx.get(f"{app_url}/alerts?{cone}&since={before}&until={after}").text
    assert f'data-alert="{alert_id}"' in inside
    later = httpx.get(f"{app_url}/alerts?{cone}&since={after}").text
    assert f'data-alert="{alert_id}"' not in later
    assert "0 alerts" in later


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "from: &#39;yesterday&#39; is not a date and time"),
        ("since=2025-02-01T00:00&until=2025-01-01T00:00", "the start is after the end"),
        ("ra=10&dec=20", "give all of RA, Dec and radius"),
        ("ra=10&dec=20&radius=0", "radius must be within (0, 180]"),
        ("ra=400&dec=20&radius=1", "ra must be within [0, 360)"),
        ("ra=ten&dec=20&radius=1", "RA: &#39;ten&#39; is not a number"),
        ("topic=igwn.nope", "is not a topic you may read"),
        ("topic=igwn.early_warning.gwalert", "is not a topic you may read"),
        ("cursor=garbage", "the page link is damaged"),
    ],
)
def test_bad_archive_filters_say_what_to_fix(app_url: str, query: str, message: str) -> None:
    response = httpx.get(f"{app_url}/alerts?{query}")
    assert response.status_code == 400
    assert message in response.text


def test_json_alert_page_shows_summary_position_and_json(
    page: Page, publisher: httpx.Client, app_url: str
) -> None:
    ra, dec = lonely_spot()
    tag = f"m{uuid.uuid4().hex[:10]}"
    alert_id = publish(publisher, guano(tag, ra=ra, dec=dec))
    page.goto(f"/alerts/{alert_id}")
    assert accessibility_problems(page) == []
    assert page.locator("h1").inner_text() == "Swift BAT-GUANO alert"
    position = page.locator("#position").inner_text()
    assert f"RA {ra:.4f}°" in position
    assert f"Dec {dec:+.4f}°" in position
    assert tag in page.locator("#alert-json").inner_text()
    assert page.locator("#alert-xml").count() == 0
    assert page.locator("#skymap circle.alert").count() == 1
    screenshot(page, "alert-json")
    download = httpx.get(f"{app_url}/alerts/{alert_id}/download?format=json")
    assert download.headers["content-disposition"] == (
        f'attachment; filename="{GUANO_TOPIC}.{alert_id}.json"'
    )
    assert download.json()["id"] == [tag]
    assert httpx.get(f"{app_url}/alerts/{alert_id}/download?format=xml").status_code == 404
    assert httpx.get(f"{app_url}/alerts/{alert_id}/download?format=pdf").status_code == 400


def test_voevent_alert_page_shows_xml_and_downloads_it_unchanged(
    page: Page, publisher: httpx.Client, app_url: str
) -> None:
    raw = unique_bat()
    alert_id = publish_voevent(publisher, raw)
    page.goto(f"/alerts/{alert_id}")
    assert "ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_" in page.locator("dl.facts").inner_text()
    assert f"RA {BAT_RA:.4f}°" in page.locator("#position").inner_text()
    assert "2012-09-07 00:24:23.080 UTC" in page.locator("dl.facts").inner_text()
    assert "<voe:VOEvent" in page.locator("#alert-xml").inner_text()
    assert page.locator("#alert-json").inner_text().startswith("{")
    screenshot(page, "alert-voevent")
    download = httpx.get(f"{app_url}/alerts/{alert_id}/download?format=xml")
    assert download.content == raw
    assert download.headers["content-type"] == "application/x-voevent+xml"
    assert BAT_DEC < 0


def test_classic_text_and_binary_alert_pages_download_them_unchanged(
    page: Page, publisher: httpx.Client, app_url: str
) -> None:
    text = text_notice(random.randrange(2**31))
    topic = "gcn.classic.text.SWIFT_BAT_GRB_POS_ACK"
    posted = publisher.post(
        f"/api/v1/topics/{topic}/alerts", content=text, headers={"Content-Type": "text/plain"}
    )
    assert posted.status_code == 201, posted.text
    alert_id = posted.json()["id"]
    page.goto(f"/alerts/{alert_id}")
    assert f"RA {TEXT_RA:.4f}°" in page.locator("#position").inner_text()
    shown = page.locator("#alert-original").inner_text()
    assert "NOTICE_TYPE:      Swift-BAT GRB Position" in shown
    assert accessibility_problems(page) == []
    download = httpx.get(f"{app_url}/alerts/{alert_id}/download?format=txt")
    assert download.content == text
    assert download.headers["content-type"] == "text/plain; charset=utf-8"
    assert httpx.get(f"{app_url}/alerts/{alert_id}/download?format=xml").status_code == 404

    packet = bat_packet(serial=random.randrange(2**31))
    posted = publisher.post(
        "/api/v1/topics/gcn.classic.binary.SWIFT_BAT_GRB_POS_ACK/alerts",
        content=packet,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert posted.status_code == 201, posted.text
    binary_id = posted.json()["id"]
    page.goto(f"/alerts/{binary_id}")
    assert page.locator("#alert-original").count() == 0
    page.get_by_role("link", name="Download", exact=True).wait_for()
    download = httpx.get(f"{app_url}/alerts/{binary_id}/download?format=bin")
    assert download.content == packet


def test_alert_pages_link_citations_both_ways(page: Page, publisher: httpx.Client) -> None:
    bat = unique_bat()
    bat_id = publish_voevent(publisher, bat)
    xrt = xrt_as_v2().replace(
        b"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_644259-771", ivorn_of(bat).encode()
    )
    xrt = xrt.replace(b"SWIFT#XRT_Pos_644259-941", f"SWIFT#XRT_Pos_{uuid.uuid4().hex}".encode())
    xrt_id = publish_voevent(publisher, xrt, XRT_TOPIC)
    page.goto(f"/alerts/{xrt_id}")
    citations = page.locator("ul.citations")
    assert "This alert follows up" in citations.inner_text()
    citations.get_by_role("link", name=ivorn_of(bat)).click()
    page.wait_for_url(f"**/alerts/{bat_id}")
    cited_by = page.locator("ul.citations li")
    assert f"{xrt_id} on {XRT_TOPIC} follows up this alert" in cited_by.inner_text()


def test_unknown_alert_is_a_404_page(app_url: str) -> None:
    for alert_id in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "not-an-id"):
        response = httpx.get(f"{app_url}/alerts/{alert_id}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "There is no alert" in response.text


def test_home_and_topic_pages_list_the_latest_alerts(publisher: httpx.Client, app_url: str) -> None:
    alert_id = publish(publisher, guano(f"m{uuid.uuid4().hex[:10]}", *lonely_spot()))
    for path in ("/", f"/topics/{GUANO_TOPIC}"):
        text = httpx.get(app_url + path).text
        assert re.search(rf'data-alert="{alert_id}"', text), path


def test_restricted_alerts_only_for_their_group(
    app_url: str, settings: Settings, page: Page, catalog_topics: None
) -> None:
    example = json.loads((EXAMPLES / "igwn.early_warning.gwalert.example.json").read_text())
    example["superevent_id"] = f"MS{random.randint(100000, 999999)}abc"
    token = token_for(settings, app_url, groups=["producers.igwn"])
    response = httpx.post(
        f"{app_url}/api/v1/topics/igwn.early_warning.gwalert/alerts",
        json=example,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    alert_id = response.json()["id"]
    anonymous = httpx.get(f"{app_url}/alerts/{alert_id}")
    assert anonymous.status_code == 403
    assert "restricted" in anonymous.text
    assert "log in" in anonymous.text.lower()
    assert alert_id not in httpx.get(f"{app_url}/alerts").text

    member = make_user(settings, groups=["restricted.lvk_early"])
    log_in(page, member.email, DEFAULT_PASSWORD)
    allowed = page.goto(f"/alerts/{alert_id}")
    assert allowed is not None
    assert allowed.status == 200
    page.goto("/alerts?topic=igwn.early_warning.gwalert")
    assert page.locator(f'tr[data-alert="{alert_id}"]').count() == 1
