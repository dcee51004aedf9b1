"""Portal login through an upstream OpenID Connect provider: our own server plays the IdP.

Two real apps: the IdP (PostgreSQL, the session's settings) and a second skyalert (its own
SQLite database) that trusts it by settings. A browser goes through both, HTTP only.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import serving
from skyalert.auth.credentials import create_credential
from skyalert.auth.models import UpstreamIdentity, User
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.schemas.catalog import load_catalog
from support.auth import DEFAULT_PASSWORD, make_user

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Browser:
    """Cookies kept per origin (two apps on one host must not share them), redirects followed
    across origins by hand."""

    def __init__(self) -> None:
        self.clients: dict[str, httpx.Client] = {}

    def _client(self, url: str) -> httpx.Client:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
        if origin not in self.clients:
            self.clients[origin] = httpx.Client(base_url=origin, timeout=15)
        return self.clients[origin]

    def get(self, url: str) -> httpx.Response:
        return self.follow(self._client(url).get(url))

    def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return self.follow(self._client(url).post(url, data=data))

    def follow(self, response: httpx.Response) -> httpx.Response:
        while response.is_redirect:
            target = str(response.url.join(response.headers["location"]))
            response = self._client(target).get(target)
        return response

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def form_fields(page: httpx.Response) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page.text)}


@pytest.fixture
def idp(settings: Settings) -> Iterator[tuple[str, Settings]]:
    """Our own server as the upstream OpenID Connect provider, at a URL that is its issuer."""
    port = free_port()
    idp_settings = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    with serving(idp_settings, port) as url:
        yield url, idp_settings


@contextmanager
def database(settings: Settings) -> Iterator[Session]:
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def relying_party(
    tmp_path: Path, settings: Settings, port: int, provider: dict[str, str]
) -> Settings:
    """A second skyalert, with its own database, that trusts the IdP."""
    rp = Settings(
        var_dir=tmp_path / "rp",
        kafka_bootstrap=settings.kafka_bootstrap,
        public_url=f"http://127.0.0.1:{port}",
        port=port,
        oidc_providers={"skyidp": provider},
    )
    engine = make_engine(rp)
    migrate.upgrade(engine)
    engine.dispose()
    return rp


def partner_app(settings: Settings, owner: User, name: str, callback: str) -> tuple[str, str]:
    """A credential at the IdP that may use the authorization code flow back to ``callback``."""
    with database(settings) as session:
        app, secret = create_credential(
            session,
            secret=server_secret(settings),
            catalog=load_catalog(),
            user=session.merge(owner),
            name=name,
            scopes=["read:public"],
            actor="test",
            redirect_uris=[callback],
        )
        client_id = app.client_id
    assert secret is not None
    return client_id, secret


def test_login_through_upstream_provider_links_by_verified_email(
    idp: tuple[str, Settings], settings: Settings, tmp_path: Path
) -> None:
    idp_url, _ = idp
    person = make_user(settings, email="orcid.person@example.org")
    rp_port = free_port()
    callback = f"http://127.0.0.1:{rp_port}/account/login/skyidp/callback"
    client_id, secret = partner_app(settings, person, "partner portal", callback)
    rp = relying_party(
        tmp_path,
        settings,
        rp_port,
        {"issuer": idp_url, "client_id": client_id, "client_secret": secret, "title": "Sky IdP"},
    )

    browser = Browser()
    with serving(rp, rp_port) as rp_url:
        try:
            login = browser.get(f"{rp_url}/account/login")
            assert "Sky IdP" in login.text
            at_idp = browser.get(f"{rp_url}/account/login/skyidp?next=/account")
            assert at_idp.url.path == "/account/login"  # the IdP asks who we are first
            assert str(at_idp.url).startswith(idp_url)
            credentials = {"email": person.email, "password": DEFAULT_PASSWORD}
            consent = browser.post(
                f"{idp_url}/account/login", data={**form_fields(at_idp), **credentials}
            )
            assert consent.status_code == 200
            assert "partner portal" in consent.text
            assert "openid" in consent.text
            back = browser.post(
                f"{idp_url}/oauth2/authorize", data={**form_fields(consent), "decision": "allow"}
            )
            assert str(back.url).startswith(rp_url)
            assert back.url.path == "/account", back.text
            assert person.email in back.text
        finally:
            browser.close()

    with database(rp) as session:
        (linked,) = session.scalars(select(UpstreamIdentity)).all()
        user = session.get(User, linked.user_id)
        assert user is not None
        assert user.email == person.email
        assert user.verified
        assert user.password_hash is None
        assert linked.subject == person.subject


def test_denied_consent_comes_back_as_a_clear_message(
    idp: tuple[str, Settings], settings: Settings, tmp_path: Path
) -> None:
    idp_url, _ = idp
    person = make_user(settings)
    rp_port = free_port()
    callback = f"http://127.0.0.1:{rp_port}/account/login/skyidp/callback"
    client_id, secret = partner_app(settings, person, "another portal", callback)
    rp = relying_party(
        tmp_path,
        settings,
        rp_port,
        {"issuer": idp_url, "client_id": client_id, "client_secret": secret},
    )
    browser = Browser()
    with serving(rp, rp_port) as rp_url:
        try:
            at_idp = browser.get(f"{rp_url}/account/login/skyidp")
            credentials = {"email": person.email, "password": DEFAULT_PASSWORD}
            consent = browser.post(
                f"{idp_url}/account/login", data={**form_fields(at_idp), **credentials}
            )
            back = browser.post(
                f"{idp_url}/oauth2/authorize", data={**form_fields(consent), "decision": "deny"}
            )
            assert back.status_code == 400
            assert "Login cancelled" in back.text
            assert "denied the request" in back.text
            forged = browser.get(f"{rp_url}/account/login/skyidp/callback?code=x&state=y")
            assert forged.status_code == 422
            assert "does not match" in forged.text or "unknown" in forged.text
        finally:
            browser.close()
