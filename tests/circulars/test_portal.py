"""The circulars pages over HTTP: submit through the form, read, search, correct, and hostile
Markdown shown escaped or sanitised on every page that shows it."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from xml.etree import ElementTree

import httpx
import pytest

from circulars.conftest import author
from skyalert.broker.core.settings import Settings
from skyalert.schemas.validation import schema_directory
from support.auth import DEFAULT_PASSWORD, token_for
from support.ingest import find_messages

pytestmark = pytest.mark.usefixtures("topics")
EXAMPLES = schema_directory().joinpath("examples")

HOSTILE_SUBJECT = 'GRB 251204A: <script>alert("s")</script> & "quotes"'
HOSTILE_BODY = """# Afterglow

**Bright** source, see [the notice](https://example.org/n) and <script>alert("b")</script>.

<img src=x onerror=alert("i")> [click](javascript:alert("j"))

| band | mag |
|------|-----|
| r    | 18.2 |
"""


def csrf_of(response: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert found is not None, response.text[:500]
    return found.group(1)


@pytest.fixture
def browser(app_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_url, timeout=30) as client:
        yield client


def log_in(browser: httpx.Client, email: str) -> None:
    token = csrf_of(browser.get("/account/login"))
    response = browser.post(
        "/account/login", data={"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303


def submit_form(browser: httpx.Client, **fields: str) -> httpx.Response:
    token = csrf_of(browser.get("/circulars/new"))
    return browser.post("/circulars/new", data={"csrf_token": token, **fields})


class Elements(HTMLParser):
    """Every element of a page with its attributes, as a browser would build them."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def assert_no_markup_injected(html: str) -> None:
    """Nothing from the hostile text became an element, a handler or a script link."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag != "img" or "/static/" in (attrs.get("src") or ""), attrs
        assert tag != "script" or (attrs.get("src") or "").endswith(".js"), attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not (attrs.get("href") or "").lower().startswith("javascript:"), attrs


def test_submit_by_form_then_read_search_and_every_form(
    settings: Settings, app_url: str, browser: httpx.Client
) -> None:
    ada = author(settings, app_url)
    log_in(browser, ada.email)
    prefilled = browser.get("/circulars/new", params={"subject": "GRB 251204A: x", "body": "y"})
    assert 'value="GRB 251204A: x"' in prefilled.text
    preview = submit_form(
        browser,
        subject=HOSTILE_SUBJECT,
        body=HOSTILE_BODY,
        format="text/markdown",
        action="preview",
    )
    assert preview.status_code == 200
    assert "<strong>Bright</strong>" in preview.text
    assert_no_markup_injected(preview.text)

    done = submit_form(
        browser,
        subject=HOSTILE_SUBJECT,
        body=HOSTILE_BODY,
        format="text/markdown",
        action="submit",
    )
    assert done.status_code == 303, done.text[:500]
    number = int(done.headers["location"].rsplit("/", 1)[1])

    page = browser.get(f"/circulars/{number}").text
    assert "<h1>Afterglow</h1>" in page
    assert '<a href="https://example.org/n" rel="nofollow noopener noreferrer">' in page
    assert "<td>18.2</td>" in page
    assert "&lt;script&gt;" in page
    assert_no_markup_injected(page)
    assert f"GCN Circ. {number}" in page

    for shown in (
        browser.get("/circulars").text,
        browser.get("/circulars", params={"query": "subject:afterglow OR body:afterglow"}).text,
        browser.get("/circulars/events/GRB 251204A").text,
    ):
        assert f'href="/circulars/{number}"' in shown
        assert_no_markup_injected(shown)

    feed = browser.get("/circulars.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(feed.content)
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert f"GCN Circular {number}: {HOSTILE_SUBJECT}" in titles

    text = browser.get(f"/circulars/{number}.txt")
    assert text.headers["content-type"].startswith("text/plain")
    assert f"NUMBER:  {number}" in text.text
    assert json.loads(browser.get(f"/circulars/{number}.json").text)["body"].startswith(
        "# Afterglow"
    )
    live = browser.post(
        "/circulars/preview",
        data={"body": HOSTILE_BODY, "format": "text/markdown"},
        headers={"X-CSRF-Token": csrf_of(browser.get("/circulars/new"))},
    )
    assert "<strong>Bright</strong>" in live.text
    assert_no_markup_injected(live.text)


def test_strangers_see_why_and_nothing_is_numbered(
    settings: Settings, app_url: str, browser: httpx.Client
) -> None:
    stranger = author(settings, app_url, groups=())
    log_in(browser, stranger.email)
    form = browser.get("/circulars/new")
    assert 'id="not-submitter"' in form.text
    refused = submit_form(browser, subject="GRB 251205A: note", body="Hi", action="submit")
    assert refused.status_code == 403
    assert "circular-submitter" in refused.text
    anonymous = httpx.get(f"{app_url}/circulars/new", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/account/login")


def test_moderator_correction_makes_version_two_and_streams_both(
    settings: Settings, app_url: str, browser: httpx.Client
) -> None:
    ada = author(settings, app_url)
    created = httpx.post(
        f"{app_url}/api/v1/circulars",
        json={"subject": "GRB 251206A: Swift detection", "body": "Typo in the positoin."},
        headers={"Authorization": f"Bearer {ada.token}"},
        timeout=30,
    )
    number = created.json()["circularId"]
    moderator = author(settings, app_url, groups=("circular-moderator",), name="Mo Derator")
    log_in(browser, moderator.email)
    token = csrf_of(browser.get(f"/circulars/{number}/edit"))
    saved = browser.post(
        f"/circulars/{number}/edit",
        data={
            "csrf_token": token,
            "subject": "GRB 251206A: Swift detection",
            "body": "Typo in the position fixed.",
            "format": "text/plain",
        },
    )
    assert saved.status_code == 303, saved.text[:400]
    current = httpx.get(f"{app_url}/api/v1/circulars/{number}").json()
    first = httpx.get(f"{app_url}/api/v1/circulars/{number}", params={"version": 1}).json()
    assert current["version"] == 2
    assert current["body"] == "Typo in the position fixed."
    assert current["editedBy"].startswith("Mo Derator")
    assert first["version"] == 1
    assert first["body"] == "Typo in the positoin."
    page = browser.get(f"/circulars/{number}", params={"version": 1}).text
    assert "current version is 2" in page
    assert settings.kafka_bootstrap is not None
    messages = find_messages(
        settings,
        "gcn.circulars",
        lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
        count=2,
    )
    assert sorted(json.loads(m.value() or b"")["version"] for m in messages) == [1, 2]

    log_in(browser, ada.email)  # a submitter is no moderator
    token = csrf_of(browser.get(f"/circulars/{number}/edit"))
    refused = browser.post(
        f"/circulars/{number}/edit",
        data={"csrf_token": token, "subject": "GRB 251206A: mine", "body": "x"},
    )
    assert refused.status_code == 403
    assert httpx.get(f"{app_url}/api/v1/circulars/{number}").json()["version"] == 2


def test_event_page_shows_circulars_beside_notices(
    settings: Settings, app_url: str, browser: httpx.Client
) -> None:
    notice = json.loads(EXAMPLES.joinpath("igwn.gwalert.example.json").read_text("utf-8"))
    superevent = f"S2406{uuid.uuid4().int % 100:02d}{''.join(random.choices('abcdefgh', k=3))}"
    notice["superevent_id"] = superevent
    publisher = token_for(settings, app_url, groups=["producers.igwn"])
    published = httpx.post(
        f"{app_url}/api/v1/topics/igwn.gwalert/alerts",
        json=notice,
        headers={"Authorization": f"Bearer {publisher}"},
        timeout=30,
    )
    assert published.status_code == 201, published.text
    ada = author(settings, app_url)
    event = f"LIGO/Virgo/KAGRA {superevent}"
    created = httpx.post(
        f"{app_url}/api/v1/circulars",
        json={"subject": f"{event}: Identification of a GW candidate", "body": "Found."},
        headers={"Authorization": f"Bearer {ada.token}"},
        timeout=30,
    )
    number = created.json()["circularId"]
    page = browser.get(f"/circulars/events/{event}")
    assert page.status_code == 200
    assert f'href="/circulars/{number}"' in page.text
    assert f'href="/alerts/{published.json()["id"]}"' in page.text
    detail = browser.get(f"/circulars/{number}").text
    assert f'href="/circulars/events/{event}"' in detail
    assert browser.get("/circulars/events/GRB 000000A").status_code == 404


def test_moderator_withdraws_spam_everywhere(
    settings: Settings, app_url: str, browser: httpx.Client
) -> None:
    spammer = author(settings, app_url)
    subject = f"GRB 251214A: cheap pills {uuid.uuid4().hex[:6]}"
    created = httpx.post(
        f"{app_url}/api/v1/circulars",
        json={"subject": subject, "body": "Buy now."},
        headers={"Authorization": f"Bearer {spammer.token}"},
        timeout=30,
    )
    number = created.json()["circularId"]
    log_in(browser, spammer.email)  # a submitter may not withdraw
    token = csrf_of(browser.get(f"/circulars/{number}/edit"))
    assert (
        browser.post(f"/circulars/{number}/withdraw", data={"csrf_token": token}).status_code == 403
    )
    moderator = author(settings, app_url, groups=("circular-moderator",))
    log_in(browser, moderator.email)
    page = browser.get(f"/circulars/{number}/edit")
    assert "Withdraw circular" in page.text
    done = browser.post(f"/circulars/{number}/withdraw", data={"csrf_token": csrf_of(page)})
    assert done.status_code == 303
    gone = httpx.get(f"{app_url}/api/v1/circulars/{number}")
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    assert browser.get(f"/circulars/{number}").status_code == 410
    assert browser.get(f"/circulars/{number}.json").status_code == 410
    found = httpx.get(f"{app_url}/api/v1/circulars", params={"query": f'subject:"{subject}"'})
    assert found.json()["circulars"] == []
    assert f"/circulars/{number}<" not in browser.get("/circulars.atom").text
