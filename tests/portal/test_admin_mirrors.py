"""/admin/mirrors: each configured mirror's lag per upstream partition and its last alert."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, StorageState

from conftest import serving
from portal.conftest import browser_page
from skyalert.broker.core.settings import Mirror, Settings
from support.browser import accessibility_problems, screenshot
from support.gcn_examples import guano
from support.ingest import GUANO_TOPIC, find_messages, header
from support.mirror import mirroring, own_cluster_mirror, produce, upstream_topic


def test_admins_see_each_mirrors_lag_per_partition_and_its_last_alert(
    browser: Browser,
    settings: Settings,
    admin_state: StorageState,
    member_state: StorageState,
    console_errors: list[str],
    catalog_topics: None,
) -> None:
    upstream = upstream_topic(settings, partitions=2)
    name = f"m{uuid.uuid4().hex[:8]}"
    mirror = own_cluster_mirror(settings, name, {upstream: GUANO_TOPIC})
    # Nothing listens on port 1: its row says so instead of failing the page.
    gone = Mirror(name=f"{name}-gone", bootstrap="127.0.0.1:1", topics={upstream: GUANO_TOPIC})
    produce(settings, upstream, [(guano(), "up-1")], partition=0)
    with mirroring(settings, mirror):
        (arrived,) = find_messages(
            settings,
            GUANO_TOPIC,
            lambda m: header(m, "sender") == f"mirror:{name} {upstream}[0]@0".encode(),
        )
    alert_id = (header(arrived, "alert-id") or b"").decode()
    # Produced while the mirror is stopped: partition 1 is one behind, partition 0 is not.
    produce(settings, upstream, [(guano(), "up-2")], partition=1)

    configured = settings.model_copy(update={"mirrors": [mirror, gone]})
    with serving(configured) as url:
        with browser_page(browser, url, console_errors, admin_state) as page:
            response = page.goto("/admin/mirrors")
            assert response is not None
            assert response.status == 200
            section = page.locator(f'section[data-mirror="{name}"]')
            first = section.locator(f'tr[data-partition="{upstream}[0]"]')
            second = section.locator(f'tr[data-partition="{upstream}[1]"]')
            assert first.locator("td").all_inner_texts()[1:] == ["0", "1", "1", "0"]
            assert second.locator("td").all_inner_texts()[1:] == ["1", "nothing yet", "1", "1"]
            last = section.locator("p.last")
            assert last.get_by_role("link", name=alert_id).get_attribute("href") == (
                f"/alerts/{alert_id}"
            )
            assert last.locator("[data-upstream]").inner_text() == f"{upstream}[0]@0"
            assert GUANO_TOPIC in last.inner_text()
            refused = page.locator(f'section[data-mirror="{name}-gone"] [role="alert"]')
            assert "upstream 127.0.0.1:1 did not answer" in refused.inner_text()
            assert accessibility_problems(page) == []
            screenshot(page, "admin-mirrors")
        with browser_page(browser, url, console_errors, member_state) as page:
            response = page.goto("/admin/mirrors")
            assert response is not None
            assert response.status == 403
            assert name not in page.content()
