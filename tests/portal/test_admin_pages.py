"""Admin pages: an admin grants a producer group in the browser; the user's next credential
publishes. Topics, publishers and their rejects, credentials and the audit log."""

from __future__ import annotations

import uuid

import httpx
from playwright.sync_api import Page

from skyalert.broker.core.settings import Settings
from support.auth import get_token, make_credential, make_user
from support.browser import accessibility_problems, screenshot
from support.ingest import GUANO_TOPIC
from support.stream import guano

ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/topics",
    "/admin/publishers",
    "/admin/credentials",
    "/admin/audit",
]


def try_publish(app_url: str, token: str, alert: dict[str, object]) -> httpx.Response:
    return httpx.post(
        f"{app_url}/api/v1/topics/{GUANO_TOPIC}/alerts",
        json=alert,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_admin_grants_a_producer_group_and_the_next_credential_publishes(
    admin_page: Page, settings: Settings, app_url: str, catalog_topics: None
) -> None:
    user = make_user(settings)
    before = get_token(app_url, *make_credential(settings, user, "all"))
    refused = try_publish(app_url, before, guano(f"m{uuid.uuid4().hex[:10]}"))
    assert refused.status_code == 403

    admin_page.goto("/admin/users")
    admin_page.get_by_label("Email or name contains").fill(user.email)
    admin_page.get_by_role("button", name="Search").click()
    admin_page.get_by_role("link", name=user.email).click()
    admin_page.get_by_label("Grant the group").select_option("producers.gcn")
    admin_page.get_by_role("button", name="Grant").click()
    assert admin_page.locator('li[data-group="producers.gcn"]').count() == 1
    assert accessibility_problems(admin_page) == []
    screenshot(admin_page, "admin-user")

    after = get_token(app_url, *make_credential(settings, user, "all"))
    accepted = try_publish(app_url, after, guano(f"m{uuid.uuid4().hex[:10]}"))
    assert accepted.status_code == 201, accepted.text

    admin_page.goto("/admin/audit")
    assert user.email in admin_page.locator("table.audit").inner_text()
    admin_page.goto(f"/admin/users?group=producers.gcn&q={user.email}")
    assert admin_page.locator(f'tr[data-user="{user.email}"]').count() == 1

    admin_page.goto("/admin/users")
    admin_page.get_by_label("Email or name contains").fill(user.email)
    admin_page.get_by_role("button", name="Search").click()
    admin_page.get_by_role("link", name=user.email).click()
    admin_page.get_by_role("button", name="Revoke producers.gcn").click()
    assert admin_page.locator('li[data-group="producers.gcn"]').count() == 0
    assert try_publish(app_url, after, guano(f"m{uuid.uuid4().hex[:10]}")).status_code == 403


def test_every_admin_page_is_accessible(admin_page: Page, catalog_topics: None) -> None:
    for path in ADMIN_PAGES:
        response = admin_page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert accessibility_problems(admin_page) == [], path
        screenshot(admin_page, "admin-" + (path.rsplit("/", 1)[-1] or "index"))


def test_topics_page_shows_kafka_next_to_the_catalog(
    admin_page: Page, catalog_topics: None
) -> None:
    admin_page.goto("/admin/topics")
    row = admin_page.locator(f'tr[data-topic="{GUANO_TOPIC}"]')
    assert row.locator(".sync").inner_text() == "in sync"
    assert "1 / 1" in row.inner_text()
    assert "14 / 14" in row.inner_text()


def test_publishers_page_shows_members_and_rejects(
    admin_page: Page, publisher: httpx.Client, settings: Settings
) -> None:
    bad = {**guano(f"m{uuid.uuid4().hex[:10]}"), "ra": "east"}  # NASA's schema wants a number
    response = publisher.post(f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=bad)
    assert response.status_code == 422
    admin_page.goto("/admin/publishers")
    assert admin_page.locator('tr[data-group="producers.gcn"]').count() == 1
    newest = admin_page.locator("table.rejections tbody tr").first
    assert GUANO_TOPIC in newest.inner_text()
    assert "/ra" in newest.inner_text()


def test_credentials_overview_lists_owners(admin_page: Page, settings: Settings) -> None:
    user = make_user(settings)
    client_id, _ = make_credential(settings, user, "all")
    admin_page.goto("/admin/credentials")
    admin_page.get_by_label("Owner's email contains").fill(user.email)
    admin_page.get_by_role("button", name="Search").click()
    row = admin_page.locator(f'tr[data-credential="{client_id}"]')
    assert user.email in row.inner_text()


def test_admin_pages_are_for_admins_only(member_page: Page, app_url: str) -> None:
    anonymous = httpx.get(f"{app_url}/admin/users")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/account/login?next=/admin/users"
    response = member_page.goto("/admin/users")
    assert response is not None
    assert response.status == 403
    assert "for administrators" in member_page.content()


def test_group_changes_need_the_csrf_token(
    admin_page: Page, settings: Settings, app_url: str
) -> None:
    user = make_user(settings)
    cookies = {c["name"]: c["value"] for c in admin_page.context.cookies()}
    forged = httpx.post(
        f"{app_url}/admin/users/{user.id}/grant", data={"group": "admins"}, cookies=cookies
    )
    assert forged.status_code == 403
    assert "CSRF" in forged.text
    admin_page.goto(f"/admin/users/{user.id}")
    assert admin_page.locator('li[data-group="admins"]').count() == 0


def test_granting_an_unknown_group_says_which_exist(
    admin_page: Page, settings: Settings, app_url: str
) -> None:
    user = make_user(settings)
    admin_page.goto(f"/admin/users/{user.id}")
    token = admin_page.locator('input[name="csrf_token"]').first.get_attribute("value")
    cookies = {c["name"]: c["value"] for c in admin_page.context.cookies()}
    response = httpx.post(
        f"{app_url}/admin/users/{user.id}/grant",
        data={"group": "producers.nasa", "csrf_token": token or ""},
        cookies=cookies,
    )
    assert response.status_code == 422
    assert "unknown group" in response.text
    assert "producers.gcn" in response.text


def test_admin_disables_and_re_enables_an_account(
    admin_page: Page, settings: Settings, app_url: str
) -> None:
    user = make_user(settings)
    client = make_credential(settings, user, "all")
    token = get_token(app_url, *client)
    me = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{app_url}/api/v1/credentials", headers=me, timeout=10).status_code == 200

    admin_page.goto("/admin/users")
    admin_page.get_by_label("Email or name contains").fill(user.email)
    admin_page.get_by_role("button", name="Search").click()
    admin_page.get_by_role("link", name=user.email).click()
    admin_page.get_by_role("button", name="Disable this account").click()
    assert admin_page.locator('[data-access="disabled"]').count() == 1
    assert accessibility_problems(admin_page) == []

    # The token already issued is refused at once, and no new one is issued.
    refused = httpx.get(f"{app_url}/api/v1/credentials", headers=me, timeout=10)
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]
    issued = httpx.post(
        f"{app_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=client,
        timeout=10,
    )
    assert issued.status_code == 401

    admin_page.get_by_role("button", name="Enable this account").click()
    assert admin_page.locator('[data-access="active"]').count() == 1
    again = get_token(app_url, *client)
    ok = httpx.get(
        f"{app_url}/api/v1/credentials", timeout=10, headers={"Authorization": f"Bearer {again}"}
    )
    assert ok.status_code == 200
    admin_page.goto(f"/admin/audit?q={user.email}")
    audit = admin_page.locator("table.audit").inner_text()
    assert "user.disable" in audit
    assert "user.enable" in audit
