"""The public pages in a real browser against the real app, Kafka and PostgreSQL."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page

from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog
from skyalert.web.portal.docs import PAGES
from support.browser import accessibility_problems, focus_is_visible, screenshot

#: The accounts engineer's pages, in our look: checked like ours.
ACCOUNT_PAGES = {"login": "/account/login", "signup": "/account/signup", "reset": "/account/reset"}
MAIN_PAGES = {
    "home": "/",
    "topics": "/topics",
    "topic": "/topics/igwn.gwalert",
    "topic-voevent": "/topics/gcn.classic.voevent.SWIFT_XRT_POSITION",
    "topic-text": "/topics/gcn.classic.text.SWIFT_BAT_GRB_POS_ACK",
    "topic-binary": "/topics/gcn.classic.binary.LVC_EARLY_WARNING",
    "status": "/status",
    "docs": "/docs",
    **{f"docs-{slug}": f"/docs/{slug}" for slug, _ in PAGES},
}


@pytest.mark.parametrize("name", sorted(MAIN_PAGES))
def test_page_is_accessible_and_keeps_a_screenshot(page: Page, name: str) -> None:
    response = page.goto(MAIN_PAGES[name])
    assert response is not None
    assert response.status == 200
    assert accessibility_problems(page) == []
    screenshot(page, name)


@pytest.mark.parametrize("name", sorted(ACCOUNT_PAGES))
def test_account_pages_are_accessible(page: Page, name: str) -> None:
    response = page.goto(ACCOUNT_PAGES[name])
    assert response is not None
    assert response.status == 200
    assert accessibility_problems(page) == []
    screenshot(page, f"account-{name}")


def test_api_reference_renders_without_a_cdn(page: Page) -> None:
    page.goto("/api/docs")
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/alerts").count()
    external = page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => !n.startsWith(location.origin))"
    )
    assert external == []
    screenshot(page, "api-docs")


def test_keyboard_focus_is_visible_and_skip_link_works(page: Page) -> None:
    page.goto("/")
    assert focus_is_visible(page)
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_pages_fit_a_phone_screen(browser: Browser, app_url: str) -> None:
    context = browser.new_context(base_url=app_url, viewport={"width": 375, "height": 740})
    try:
        phone = context.new_page()
        for name in ("home", "topics", "topic", "status", "docs-kafka"):
            phone.goto(MAIN_PAGES[name])
            overflow = phone.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} is {overflow} px wider than a phone screen"
            screenshot(phone, f"phone-{name}")
    finally:
        context.close()


def test_every_page_sends_a_strict_content_security_policy(app_url: str) -> None:
    for path in MAIN_PAGES.values():
        response = httpx.get(app_url + path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["x-content-type-options"] == "nosniff"
        # No inline code at all: scripts are files, styles are files.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), path
        assert " style=" not in response.text, path
        assert "<style" not in response.text, path
        assert "//cdn" not in response.text, path


def test_topic_page_lists_schema_fields_with_units_and_an_example(page: Page) -> None:
    page.goto("/topics/gcn.notices.swift.bat.guano")
    assert page.locator("h1").inner_text() == "Swift BAT-GUANO"
    assert page.locator('tr[data-field="ra"] .unit').inner_text() == "deg"
    assert page.locator('tr[data-field="rate_duration"] .unit').inner_text() == "s"
    assert page.locator('tr[data-field="rate_snr"] .unit').inner_text() == "dimensionless"
    # NASA's own example (the fullest of those the package ships for BAT-GUANO).
    example = page.locator("pre", has_text="rate_snr").inner_text()
    assert '"mission": "Swift"' in example
    assert '"$schema": "https://gcn.nasa.gov/schema/v7.2.3/' in example
    facts = page.locator("dl.facts").inner_text()
    assert "application/json" in facts
    assert "https://gcn.nasa.gov/schema/v7.2.3/gcn/notices/swift/bat/Guano.schema.json" in facts


def test_nested_fields_are_listed_with_dotted_names(page: Page) -> None:
    page.goto("/topics/igwn.gwalert")
    assert page.locator('tr[data-field="event.far"] .unit').inner_text() == "Hz"
    assert page.locator('tr[data-field="event.time"] .unit').inner_text() == "UTC"


def test_topic_catalog_groups_topics_by_mission(page: Page) -> None:
    page.goto("/topics")
    catalog = load_catalog()
    for topic in catalog.alert_topics:
        row = page.locator(f'tr[data-topic="{topic.name}"]')
        assert row.count() == 1
        section = row.locator("xpath=ancestor::section")
        assert section.locator("h2").inner_text() == topic.mission
    page.locator('a[href="/topics/igwn.gwalert"]').click()
    page.wait_for_url("**/topics/igwn.gwalert")


def _fermi(name: str) -> bool:
    topic = load_catalog().by_name[name]
    return "fermi" in f"{topic.name} {topic.title} {topic.mission} {topic.instrument}".lower()


def test_searching_the_catalog_for_fermi_leaves_the_fermi_topics(page: Page) -> None:
    catalog = load_catalog()
    assert len(catalog.alert_topics) >= 200
    page.goto("/topics")
    page.get_by_label("Search topics").fill("fermi")
    shown = page.locator("tr[data-topic]:visible")
    names = [shown.nth(i).get_attribute("data-topic") or "" for i in range(shown.count())]
    expected = sorted(t.name for t in catalog.alert_topics if _fermi(t.name))
    assert sorted(names) == expected
    assert len(expected) > 5  # the JSON topics and GCN Classic's in three formats
    assert page.locator("#topic-search-count").inner_text() == (
        f"{len(expected)} of {len(catalog.alert_topics)} topics"
    )
    # No mission section is left showing without a topic in it.
    headings = page.locator("section[data-topic-group]:visible h2").all_inner_texts()
    assert set(headings) == {catalog.by_name[n].mission for n in expected}


def test_the_catalog_search_works_without_javascript(app_url: str) -> None:
    text = httpx.get(app_url + "/topics", params={"q": "fermi gbm text"}, timeout=10).text
    listed = set(re.findall(r'<tr data-topic="([^"]+)"', text))
    assert listed
    assert all(name.startswith("gcn.classic.text.FERMI_GBM") for name in listed), listed


def test_unknown_topic_is_a_clear_html_error(app_url: str) -> None:
    response = httpx.get(app_url + "/topics/igwn.gwalrt")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "igwn.gwalert" in response.text
    assert "There is no topic named" in response.text


def test_unknown_docs_page_is_a_404_page(app_url: str) -> None:
    response = httpx.get(app_url + "/docs/no-such-page")
    assert response.status_code == 404
    assert "see /docs" in response.text


def test_docs_tell_this_servers_real_connection_settings(app_url: str, settings: Settings) -> None:
    text = httpx.get(app_url + "/docs/kafka").text
    assert settings.kafka_bootstrap is not None
    assert settings.kafka_bootstrap in text
    assert f"{settings.base_url}/oauth2/token" in text
    assert load_catalog().heartbeat.name in text
    publishing = httpx.get(app_url + "/docs/publishing").text
    assert "100000 alerts per minute over\nHTTP" in publishing  # the test stack's limit
    assert f"at most\n{settings.ingest_max_bytes / 2**20:g} MiB" in publishing


def test_mirror_docs_are_written_against_this_server(app_url: str, settings: Settings) -> None:
    index = httpx.get(app_url + "/docs").text
    assert 'href="/docs/mirror"' in index
    text = httpx.get(app_url + "/docs/mirror").text
    assert settings.kafka_bootstrap is not None
    assert f'"bootstrap": "{settings.kafka_bootstrap}"' in text
    assert f'"token_url": "{settings.base_url}/oauth2/token"' in text
    assert f"MM2_SOURCE_TOKEN_URL={settings.base_url}/oauth2/token" in text
    assert '"bootstrap": "kafka.gcn.nasa.gov:9092"' in text
    assert "https://auth.gcn.nasa.gov/oauth2/token" in text


def test_status_shows_broker_database_and_worker_heartbeat_age(
    page: Page, settings: Settings, app_url: str
) -> None:
    engine = make_engine(settings)
    liveness = Liveness(make_sessionmaker(engine), "heartbeat", pid=424242)
    liveness.beat("12 heartbeats sent")
    try:
        page.goto("/status")
        assert "up" in page.locator('tr[data-check="broker"]').inner_text()
        assert "up" in page.locator('tr[data-check="database"]').inner_text()
        assert "beating" in page.locator('tr[data-check="heartbeat"]').inner_text()
        worker = page.locator('tr[data-worker="heartbeat"]', has_text="424242")
        assert "12 heartbeats sent" in worker.inner_text()
        body = httpx.get(app_url + "/api/v1/status").json()
        assert body["checks"]["broker"]["ok"] is True
        assert body["checks"]["database"]["ok"] is True
        assert body["heartbeat_age_seconds"] < 60
        mine = [w for w in body["workers"] if w["pid"] == 424242]
        assert mine[0]["kind"] == "heartbeat"
        assert mine[0]["ok"] is True
    finally:
        liveness.gone()
        engine.dispose()


def test_status_says_when_no_worker_reports(app_url: str) -> None:
    body = httpx.get(app_url + "/api/v1/status").json()
    if any(w["kind"] == "heartbeat" and w["ok"] for w in body["workers"]):
        pytest.fail("a heartbeat worker is running in the test stack; this test expects none")
    assert "heartbeat" in body["missing_workers"]
    assert body["ok"] is False
    page_text = httpx.get(app_url + "/status").text
    assert "No live instance of: heartbeat" in page_text
