"""Passwords, client secrets, session ids, refresh tokens and mail links never appear in the
database, the logs or later responses: only the one response that hands them out."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets

import httpx
import pytest
from sqlalchemy import MetaData, select, text

from conftest import serving
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from support.auth import csrf_of, shown_credential
from support.smtp import SMTPServer


def database_dump(settings: Settings) -> str:
    """Every row of every table, as text."""
    engine = make_engine(settings)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        lines = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    lines.append(f"{table.name}: {tuple(row)!r}")
            lines.append(repr(connection.execute(text("SELECT 1")).all()))
        return "\n".join(lines)
    finally:
        engine.dispose()


def test_no_secret_is_stored_logged_or_shown_again(
    settings: Settings, smtp_server: SMTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    password = "a passphrase " + secrets.token_hex(8)
    email = f"secretive-{secrets.token_hex(4)}@example.org"
    with (
        serving(settings.model_copy(update={"smtp_url": smtp_server.url})) as url,
        httpx.Client(base_url=url) as browser,
    ):
        page = browser.get("/account/signup")
        browser.post(
            "/account/signup",
            data={
                "csrf_token": csrf_of(page),
                "email": email,
                "password": password,
            },
        )
        (mail,) = smtp_server.wait_for(1)
        link = re.search(r"/account/verify\?token=(\S+)", mail.message.get_content())
        assert link is not None
        mail_token = link.group(1)
        browser.get(link.group(0))
        page = browser.get("/account/login")
        browser.post(
            "/account/login",
            data={
                "csrf_token": csrf_of(page),
                "email": email,
                "password": password,
            },
        )
        session_id = browser.cookies["skyalert_session"]
        page = browser.get("/account/credentials")
        created = browser.post(
            "/account/credentials",
            data={
                "csrf_token": csrf_of(page),
                "name": "pipeline",
                "scope": "all",
            },
        )
        client_id, client_secret = shown_credential(created)
        assert created.headers["cache-control"] == "no-store"

        # An app with the code flow, to get a refresh token too.
        token = httpx.post(
            f"{url}/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, client_secret),
        ).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        app = httpx.post(
            f"{url}/api/v1/credentials",
            headers=bearer,
            json={"name": "app", "redirect_uris": ["http://127.0.0.1:1/cb"]},
        ).json()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        consent = browser.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": app["client_id"],
                "redirect_uri": "http://127.0.0.1:1/cb",
                "scope": "openid",
                "code_challenge": challenge.decode().rstrip("="),
                "code_challenge_method": "S256",
            },
        )
        fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', consent.text))
        back = browser.post("/oauth2/authorize", data={**fields, "decision": "allow"})
        granted = re.search(r"code=([^&]+)", back.headers["location"])
        assert granted is not None, back.headers["location"]
        code = granted.group(1)
        tokens = httpx.post(
            f"{url}/oauth2/token",
            auth=(app["client_id"], app["client_secret"]),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1:1/cb",
                "code_verifier": verifier,
            },
        ).json()
        refresh = tokens["refresh_token"]

        later = [
            browser.get("/account/credentials").text,
            browser.get("/account").text,
            httpx.get(f"{url}/api/v1/credentials", headers=bearer).text,
        ]

    secret_values = {
        "password": password,
        "client secret": client_secret,
        "app secret": app["client_secret"],
        "session id": session_id,
        "refresh token": refresh,
        "mail link token": mail_token,
        "authorization code": code,
    }
    dump = database_dump(settings)
    assert email in dump  # the dump is real
    # Everything the server side logged (httpx/httpcore are the test's own browser: they may
    # well see the cookie the server sent it).
    logs = "\n".join(
        f"{r.name} {r.getMessage()} {r.args!r}"
        for r in caplog.records
        if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "authlib" in logs  # the server's debug logging was captured
    assert client_id in dump
    for name, value in secret_values.items():
        assert value not in dump, f"the {name} is stored in the database"
        assert value not in logs, f"the {name} is in the logs"
        for shown in later:
            assert value not in shown, f"the {name} is shown again"
