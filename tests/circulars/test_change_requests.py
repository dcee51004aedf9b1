"""Change requests: a submitter proposes, a moderator approves (version n+1) or rejects; mails."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from circulars.conftest import Author, author
from circulars.test_portal import csrf_of, log_in
from conftest import serving
from skyalert.broker.core.settings import Settings
from support.email import Mailbox, text_of
from support.ingest import find_messages

pytestmark = pytest.mark.usefixtures("topics")
PROBLEM = "application/problem+json"
SUBJECT = "GRB 251210A: Swift-BAT detection"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    server = Mailbox()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def portal(settings: Settings, mailbox: Mailbox) -> Iterator[str]:
    with serving(settings.model_copy(update={"smtp_url": mailbox.url})) as url:
        yield url


def call(portal: str, who: Author, path: str, body: object | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {who.token}"}
    url = f"{portal}/api/v1/circulars{path}"
    if body is None and not path.endswith(("approve", "reject")):
        return httpx.get(url, headers=headers, timeout=30)
    return httpx.post(url, json=body, headers=headers, timeout=30)


def circular(portal: str, who: Author, body: str = "A typo in the positoin.") -> int:
    created = call(portal, who, "", {"subject": SUBJECT, "body": body})
    assert created.status_code == 201, created.text
    number: int = created.json()["circularId"]
    return number


def propose(portal: str, who: Author, number: int, body: str) -> httpx.Response:
    return call(portal, who, f"/{number}/change-requests", {"subject": SUBJECT, "body": body})


def test_approved_request_becomes_the_next_version_and_is_streamed(
    settings: Settings, app_url: str, portal: str, mailbox: Mailbox
) -> None:
    ada = author(settings, app_url)
    other = author(settings, app_url, name="Otto Other")
    moderator = author(settings, app_url, groups=("circular-moderator",), name="Mo Derator")
    number = circular(portal, ada)
    requested = propose(portal, other, number, "The position, fixed.")  # any submitter may ask
    assert requested.status_code == 201, requested.text
    request_id = requested.json()["id"]
    [asked] = mailbox.wait_until(lambda mails: len(mails) == 1, moderator.email)
    assert f"GCN Circular {number}" in text_of(asked.message)
    assert "The position, fixed." in text_of(asked.message)

    listed = call(portal, moderator, f"/{number}/change-requests").json()["changeRequests"]
    shown = [(r["id"], r["baseVersion"], r["status"]) for r in listed]
    assert shown == [(request_id, 1, "pending")]
    approved = call(portal, moderator, f"/{number}/change-requests/{request_id}/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json() == {"id": request_id, "status": "approved", "version": 2}
    current = httpx.get(f"{portal}/api/v1/circulars/{number}").json()
    assert (current["version"], current["body"]) == (2, "The position, fixed.")
    assert current["editedBy"].startswith("Mo Derator")
    assert current["submitter"].startswith("Ada Observer")
    [told] = mailbox.wait_until(lambda mails: len(mails) == 1, other.email)
    assert "approved" in text_of(told.message)
    messages = find_messages(
        settings,
        "gcn.circulars",
        lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
        count=2,
    )
    assert sorted(json.loads(m.value() or b"")["version"] for m in messages) == [1, 2]

    again = call(portal, moderator, f"/{number}/change-requests/{request_id}/reject")
    assert again.status_code == 409
    assert again.headers["content-type"].startswith(PROBLEM)
    assert call(portal, moderator, f"/{number}/change-requests").json()["changeRequests"] == []


def test_refusals(settings: Settings, app_url: str, portal: str, mailbox: Mailbox) -> None:
    ada = author(settings, app_url)
    stranger = author(settings, app_url, groups=())
    moderator = author(settings, app_url, groups=("circular-moderator",))
    number = circular(portal, ada)
    refused = {
        "no scope": propose(portal, stranger, number, "x").status_code,
        "unknown circular": propose(portal, ada, 10**8, "x").status_code,
        "no subject": call(portal, ada, f"/{number}/change-requests", {"body": "x"}).status_code,
        "list, no moderator": call(portal, ada, f"/{number}/change-requests").status_code,
    }
    assert refused == {
        "no scope": 403,
        "unknown circular": 404,
        "no subject": 422,
        "list, no moderator": 403,
    }
    first = propose(portal, ada, number, "First proposal.").json()["id"]
    second = propose(portal, ada, number, "Second proposal.").json()["id"]
    assert call(portal, ada, f"/{number}/change-requests/{first}/approve").status_code == 403
    assert call(portal, moderator, f"/{number}/change-requests/{first}/approve").status_code == 200
    conflict = call(portal, moderator, f"/{number}/change-requests/{second}/approve")
    assert conflict.status_code == 409, conflict.text
    assert "changed since" in conflict.json()["detail"]
    assert httpx.get(f"{portal}/api/v1/circulars/{number}").json()["version"] == 2
    assert call(portal, moderator, f"/{number}/change-requests/{second}/reject").status_code == 200
    [_, rejected] = mailbox.wait_until(lambda mails: len(mails) == 2, ada.email)
    assert "not accepted" in text_of(rejected.message)

    spam = circular(portal, ada, "Buy now.")
    pending = propose(portal, ada, spam, "Still spam.").json()["id"]
    with httpx.Client(base_url=portal, timeout=30) as browser:
        log_in(browser, moderator.email)
        token = csrf_of(browser.get(f"/circulars/{spam}/edit"))
        assert browser.post(f"/circulars/{spam}/withdraw", data={"csrf_token": token}).is_redirect
    assert propose(portal, ada, spam, "x").status_code == 410
    assert call(portal, moderator, f"/{spam}/change-requests/{pending}/approve").status_code == 410


def test_portal_request_form_and_moderator_page(
    settings: Settings, app_url: str, portal: str, mailbox: Mailbox
) -> None:
    ada = author(settings, app_url)
    moderator = author(settings, app_url, groups=("circular-moderator",))
    number = circular(portal, ada)
    with httpx.Client(base_url=portal, timeout=30) as browser:
        log_in(browser, ada.email)
        page = browser.get(f"/circulars/{number}")
        assert 'id="change-request-form"' in page.text
        assert "positoin" in page.text  # the form starts from the current text
        fields = {"subject": SUBJECT, "body": "Fixed by <b>form</b>.", "format": "text/plain"}
        sent = browser.post(
            f"/circulars/{number}/change-requests", data={"csrf_token": csrf_of(page), **fields}
        )
        assert sent.status_code == 200
        assert 'id="change-request-notice"' in sent.text
        bad = browser.post(f"/circulars/{number}/change-requests", data=fields)
        assert bad.status_code == 403  # no CSRF token
        assert browser.get("/circulars/change-requests").status_code == 403

        log_in(browser, moderator.email)
        queue = browser.get("/circulars/change-requests")
        assert queue.status_code == 200
        assert "Fixed by &lt;b&gt;form&lt;/b&gt;." in queue.text
        request_id = call(portal, moderator, f"/{number}/change-requests").json()["changeRequests"][
            0
        ]["id"]
        decided = browser.post(
            f"/circulars/change-requests/{request_id}",
            data={"csrf_token": csrf_of(queue), "number": str(number), "decision": "approve"},
        )
        assert decided.status_code == 303
        done = browser.get(decided.headers["location"])
        assert "approved" in done.text
        assert f'id="change-request-{request_id}"' not in done.text
    assert httpx.get(f"{portal}/api/v1/circulars/{number}").json()["version"] == 2
    told = mailbox.wait_until(bool, ada.email)
    assert "approved" in text_of(told[0].message)
