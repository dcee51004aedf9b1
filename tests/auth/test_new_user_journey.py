"""Acceptance: a new user, through HTTP only, from sign-up to a revoked token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from support.auth import csrf_of, shown_credential
from support.email import link_in
from support.smtp import SMTPServer


@pytest.fixture
def mailing_app(settings: Settings, smtp_server: SMTPServer) -> Iterator[str]:
    with serving(settings.model_copy(update={"smtp_url": smtp_server.url})) as url:
        yield url


def test_sign_up_to_revoked_token(mailing_app: str, smtp_server: SMTPServer) -> None:
    email = "new.astronomer@example.org"
    password = "a long enough passphrase"
    with httpx.Client(base_url=mailing_app, timeout=15) as browser:
        page = browser.get("/account/signup")
        answer = browser.post(
            "/account/signup",
            data={
                "csrf_token": csrf_of(page),
                "email": email,
                "password": password,
                "name": "Ada",
                "affiliation": "Observatory",
            },
        )
        assert answer.status_code == 200
        assert "Check your inbox" in answer.text

        (mail,) = smtp_server.wait_for(1)
        assert mail.recipients == [email]
        body = mail.message.get_content()
        confirmed = browser.get(link_in(body, "/account/verify"))
        assert "Address confirmed" in confirmed.text

        page = browser.get("/account/login")
        logged_in = browser.post(
            "/account/login",
            data={
                "csrf_token": csrf_of(page),
                "email": email,
                "password": password,
                "next": "/account/credentials",
            },
        )
        assert logged_in.status_code == 303
        assert logged_in.headers["location"] == "/account/credentials"

        page = browser.get("/account/credentials")
        assert page.status_code == 200
        created = browser.post(
            "/account/credentials",
            data={"csrf_token": csrf_of(page), "name": "my pipeline", "scope": "all"},
        )
        assert created.status_code == 200
        client_id, secret = shown_credential(created)

    token = httpx.post(
        f"{mailing_app}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    listed = httpx.get(f"{mailing_app}/api/v1/credentials", headers=bearer)
    assert listed.status_code == 200
    (mine,) = listed.json()["credentials"]
    assert mine["client_id"] == client_id
    assert mine["use_count"] == 1
    assert mine["scopes"] == ["read:public"]

    deleted = httpx.delete(f"{mailing_app}/api/v1/credentials/{client_id}", headers=bearer)
    assert deleted.status_code == 204
    refused = httpx.get(f"{mailing_app}/api/v1/credentials", headers=bearer)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert "deleted" in refused.json()["detail"]
    assert refused.headers["www-authenticate"].startswith("Bearer")
