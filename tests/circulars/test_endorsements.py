"""Becoming a submitter: request by address (nothing leaks), approve by the mail link, reject."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from circulars.conftest import author
from circulars.test_portal import csrf_of, log_in
from conftest import serving
from skyalert.broker.core.settings import Settings
from support.auth import make_user
from support.smtp import SMTPServer

pytestmark = pytest.mark.usefixtures("topics")


@pytest.fixture
def portal(settings: Settings, smtp_server: SMTPServer) -> Iterator[str]:
    with serving(settings.model_copy(update={"smtp_url": smtp_server.url})) as url:
        yield url


@pytest.fixture
def browser(portal: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal, timeout=30) as client:
        yield client


def ask(browser: httpx.Client, endorser: str) -> httpx.Response:
    token = csrf_of(browser.get("/circulars/endorsements"))
    return browser.post("/circulars/endorsements", data={"csrf_token": token, "endorser": endorser})


def decide_link(text: str) -> str:
    found = re.search(r"https?://\S+/circulars/endorsements/decide\?token=\S+", text)
    assert found is not None, text
    parts = urlsplit(found.group(0))
    return f"{parts.path}?{parts.query}"


def decide(client: httpx.Client, link: str, decision: str) -> httpx.Response:
    page = client.get(link)
    assert page.status_code == 200, page.text[:300]
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/circulars/endorsements/decide",
        data={"csrf_token": csrf_of(page), "token": token.group(1), "decision": decision},
    )


def test_endorsed_by_mail_link_then_submits(
    settings: Settings, app_url: str, portal: str, browser: httpx.Client, smtp_server: SMTPServer
) -> None:
    endorser = author(settings, app_url, name="Sam Submitter")
    newcomer = author(settings, app_url, groups=(), name="Nia Newcomer", affiliation="Uni")
    log_in(browser, newcomer.email)
    nobody = make_user(settings)  # an account that is no submitter
    answers = [
        ask(browser, address).text
        for address in ("nobody-at-all@example.org", nobody.email, endorser.email)
    ]
    notices = [re.search(r'id="endorsement-notice">([^<]+)<', a) for a in answers]
    assert all(notices)
    assert len({n.group(1) for n in notices if n}) == 1  # the same answer: nothing leaks
    [mail] = smtp_server.wait_for(1)
    assert mail.recipients == [endorser.email]
    text = mail.message.get_content()
    assert f"Nia Newcomer at Uni <{newcomer.email}>" in text
    link = decide_link(text)

    with httpx.Client(base_url=portal, timeout=30) as endorser_browser:  # no login needed
        done = decide(endorser_browser, link, "approve")
        assert done.status_code == 200
        assert "approved" in done.text
        assert endorser_browser.get(link).status_code == 404  # the link works once
    [_, outcome] = smtp_server.wait_for(2)
    assert outcome.recipients == [newcomer.email]
    assert "Sam Submitter" in outcome.message.get_content()
    page = browser.get("/circulars/endorsements")
    assert 'id="is-submitter"' in page.text
    token = csrf_of(browser.get("/circulars/new"))
    submitted = browser.post(
        "/circulars/new",
        data={
            "csrf_token": token,
            "subject": "GRB 251208A: first circular",
            "body": "Hello **world**",
            "format": "text/markdown",
            "action": "submit",
        },
    )
    assert submitted.status_code == 303, submitted.text[:300]


def test_rejected_request_leaves_the_requester_out(
    settings: Settings, app_url: str, portal: str, browser: httpx.Client, smtp_server: SMTPServer
) -> None:
    endorser = author(settings, app_url)
    newcomer = author(settings, app_url, groups=())
    log_in(browser, newcomer.email)
    ask(browser, endorser.email)
    [mail] = smtp_server.wait_for(1)
    with httpx.Client(base_url=portal, timeout=30) as other:
        assert decide(other, decide_link(mail.message.get_content()), "reject").status_code == 200
        bad = other.post(
            "/circulars/endorsements/decide",
            data={
                "csrf_token": csrf_of(other.get("/account/login")),
                "token": "x",
                "decision": "eat",
            },
        )
        assert bad.status_code == 400
    [_, outcome] = smtp_server.wait_for(2)
    assert "not endorsed" in outcome.message.get_content()
    assert 'id="is-submitter"' not in browser.get("/circulars/endorsements").text
    assert "rejected" in browser.get("/circulars/endorsements").text
    assert ask(browser, newcomer.email).status_code == 200  # asking oneself sends nothing
    assert len(smtp_server.messages) == 2
