"""Bad input to the subscription API and the mail links: each refused with a clear answer."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from skyalert.auth.models import User
from skyalert.broker.core.settings import Settings
from support.auth import DEFAULT_PASSWORD, csrf_of, get_token, make_credential, make_user
from support.email import Api, ApiFor, Mailbox, link_path, never
from support.ingest import BAT_TOPIC, GUANO_TOPIC

RESTRICTED = "igwn.early_warning.gwalert"


@pytest.fixture(scope="module")
def owner(settings: Settings) -> User:
    return make_user(settings)


@pytest.fixture(scope="module")
def api(settings: Settings, mail_app: str, owner: User) -> Iterator[Api]:
    client = Api(mail_app, get_token(mail_app, *make_credential(settings, owner)))
    yield client
    client.close()


@pytest.fixture(scope="module")
def subscription(api: Api) -> dict[str, Any]:
    wanted = {"name": "mine", "topics": [GUANO_TOPIC], "filter": never()}
    created = api.post("/subscriptions", wanted)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def detail(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    text: str = response.json()["detail"]
    return text


@pytest.mark.parametrize(
    ("filter_", "pointer"),
    [
        ({"field": "ra", "op": "near", "value": 1}, "/filter/op"),
        (
            {
                "all": [
                    {"field": "dec", "op": "gt", "value": 1},
                    {"cone": {"ra": 400, "dec": 0, "radius": 1}},
                ]
            },
            "/filter/all/1/cone/ra",
        ),
        ({"anything": []}, "/filter/anything"),
    ],
)
def test_malformed_filter_points_at_the_mistake(
    api: Api, filter_: dict[str, Any], pointer: str
) -> None:
    answer = api.post("/subscriptions", {"topics": [GUANO_TOPIC], "filter": filter_})
    assert answer.status_code == 422
    assert f"invalid filter at {pointer}:" in detail(answer)


def test_unknown_and_unmailable_topics(api: Api) -> None:
    answer = api.post("/subscriptions", {"topics": ["gcn.notices.swift.bat.guanoo"]})
    assert answer.status_code == 422
    assert "no topic named 'gcn.notices.swift.bat.guanoo'" in detail(answer)
    assert f"did you mean {GUANO_TOPIC}" in detail(answer)
    answer = api.post("/subscriptions", {"topics": ["skyalert.heartbeat"]})
    assert answer.status_code == 422
    assert "carries no alerts" in detail(answer)
    answer = api.post("/subscriptions", {"topics": []})
    assert answer.status_code == 422
    assert "non-empty list" in detail(answer)


def test_restricted_topic_needs_its_group(settings: Settings, api: Api, api_for: ApiFor) -> None:
    answer = api.post("/subscriptions", {"topics": [RESTRICTED]})
    assert answer.status_code == 403
    assert "read:restricted.lvk_early" in detail(answer)
    member = make_user(settings, groups=["restricted.lvk_early"])
    partner = api_for(member)
    made = partner.post("/subscriptions", {"topics": [RESTRICTED], "filter": never()})
    assert made.status_code == 201


def test_missing_scope(settings: Settings, api_for: ApiFor) -> None:
    narrow = api_for(make_user(settings, groups=["producers.gcn"]), ["publish:gcn"])
    answer = narrow.post("/subscriptions", {"topics": [GUANO_TOPIC]})
    assert answer.status_code == 403
    assert "'read:public'" in detail(answer)


def test_no_token(mail_app: str) -> None:
    answer = httpx.post(f"{mail_app}/api/v1/subscriptions", json={"topics": [GUANO_TOPIC]})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_voevent_format_needs_voevent_topics(api: Api) -> None:
    answer = api.post("/subscriptions", {"topics": [GUANO_TOPIC, BAT_TOPIC], "format": "voevent"})
    assert answer.status_code == 422
    assert f"{GUANO_TOPIC} carry JSON alerts" in detail(answer)
    voevent = {"topics": [BAT_TOPIC], "format": "voevent", "filter": never()}
    assert api.post("/subscriptions", voevent).status_code == 201


def test_unverified_recipient_and_bad_address(api: Api) -> None:
    answer = api.post("/subscriptions", {"topics": [GUANO_TOPIC], "recipient": "x@example.com"})
    assert answer.status_code == 422
    assert "x@example.com is not verified" in detail(answer)
    assert "POST /api/v1/email-recipients" in detail(answer)
    answer = api.post("/email-recipients", {"address": "not an address"})
    assert answer.status_code == 422
    assert "is not an email address" in detail(answer)


def test_unknown_fields_and_types(api: Api, subscription: dict[str, Any]) -> None:
    answer = api.post("/subscriptions", {"topics": [GUANO_TOPIC], "colour": "blue"})
    assert answer.status_code == 422
    assert answer.json()["violations"][0]["path"] == "/body/colour"
    answer = api.patch(f"/subscriptions/{subscription['id']}", {"format": "pdf"})
    assert answer.status_code == 422
    answer = api.patch(f"/subscriptions/{subscription['id']}", {"filter": {"not": 1}})
    assert answer.status_code == 422
    assert "invalid filter at /filter/not" in detail(answer)
    assert (
        api.get(f"/subscriptions/{subscription['id']}").json()["filter"] == subscription["filter"]
    )


def test_someone_elses_subscription(
    settings: Settings, api_for: ApiFor, subscription: dict[str, Any]
) -> None:
    stranger = api_for(make_user(settings))
    sub_id = subscription["id"]
    assert stranger.get(f"/subscriptions/{sub_id}").status_code == 404
    assert stranger.patch(f"/subscriptions/{sub_id}", {"active": False}).status_code == 404
    assert stranger.delete(f"/subscriptions/{sub_id}").status_code == 404
    assert stranger.post(f"/subscriptions/{sub_id}/test", {}).status_code == 404
    assert stranger.get("/subscriptions").json() == {"subscriptions": []}


def test_tampered_unsubscribe_links(
    mail_app: str, api: Api, subscription: dict[str, Any], mailbox: Mailbox, owner: User
) -> None:
    sent = api.post(f"/subscriptions/{subscription['id']}/test", {})
    assert sent.status_code == 202, sent.text
    mail = mailbox.wait_until(lambda mails: len(mails) >= 1, owner.email)[-1]
    assert str(mail.message["Subject"]).startswith("[skyalert] [TEST]")
    good = link_path(str(mail.message["List-Unsubscribe"]).strip("<>"))
    found = re.search(r"token=([\d.]+)-([0-9a-f]+)", good)
    assert found is not None
    ids, signature = found.groups()
    other = int(ids) + 1
    forged = [
        good.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:]),
        good.replace(f"token={ids}-", f"token={ids}.{other}-"),
        good.replace(f"token={ids}-", f"token={other}-"),
        "/email/unsubscribe?token=",
        "/email/unsubscribe",
    ]
    with httpx.Client(base_url=mail_app, timeout=20) as browser:
        for link in forged:
            for method in ("GET", "POST"):
                answer = browser.request(method, link, data={"List-Unsubscribe": "One-Click"})
                assert answer.status_code == 400, (method, link)
                assert "broken or was altered" in answer.text
    assert api.get(f"/subscriptions/{subscription['id']}").json()["active"] is True


def test_bad_confirmation_links(mail_app: str) -> None:
    with httpx.Client(base_url=mail_app, timeout=20) as browser:
        for answer in (
            browser.get("/email/confirm?token=nonsense"),
            browser.post("/email/confirm", data={"token": "nonsense"}),
            browser.post("/email/confirm"),
        ):
            assert answer.status_code == 400
            assert "unknown, was already used or has expired" in answer.text


def test_cookie_calls_need_the_csrf_header(settings: Settings, mail_app: str) -> None:
    user = make_user(settings, email=f"portal-{uuid.uuid4().hex[:8]}@example.org")
    with httpx.Client(base_url=mail_app, timeout=20) as browser:
        page = browser.get("/account/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        csrf = found.group(1)
        login = browser.post(
            "/account/login",
            data={"csrf_token": csrf, "email": user.email, "password": DEFAULT_PASSWORD},
        )
        assert login.status_code == 303
        wanted = {"topics": [GUANO_TOPIC], "filter": never()}
        refused = browser.post("/api/v1/subscriptions", json=wanted)
        assert refused.status_code == 403
        assert "CSRF" in refused.json()["detail"]
        assert browser.get("/api/v1/subscriptions").json() == {"subscriptions": []}
        # The token is bound to the session since login: the page's new one, not the old.
        stale = browser.post("/api/v1/subscriptions", json=wanted, headers={"X-CSRF-Token": csrf})
        assert stale.status_code == 403
        csrf = csrf_of(browser.get("/account/subscriptions"))
        made = browser.post("/api/v1/subscriptions", json=wanted, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text


def test_confirmation_mails_are_rate_limited(api: Api, mailbox: Mailbox) -> None:
    address = f"victim-{uuid.uuid4().hex[:8]}@example.net"
    for _ in range(5):
        assert api.post("/email-recipients", {"address": address}).status_code == 202
    refused = api.post("/email-recipients", {"address": address})
    assert refused.status_code == 429
    assert "too many confirmation mails" in detail(refused)
    assert int(refused.headers["retry-after"]) > 0
    assert len(mailbox.wait_until(lambda mails: len(mails) == 5, address)) == 5
