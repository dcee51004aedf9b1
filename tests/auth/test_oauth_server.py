"""The authorization server through real HTTP: discovery, JWKS, token grants, PKCE, refresh,
introspection, revocation, userinfo, and its refusals."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from skyalert.auth.credentials import create_credential
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import LocalKafka
from skyalert.schemas.catalog import load_catalog
from support.auth import (
    DEFAULT_PASSWORD,
    claims_of,
    csrf_of,
    get_token,
    kafka_refusals,
    make_credential,
    make_user,
)

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
APP = "http://127.0.0.1:9999/callback"


def test_discovery_and_jwks(app_url: str, settings: Settings) -> None:
    config = httpx.get(f"{app_url}/.well-known/openid-configuration").json()
    assert config["issuer"] == settings.base_url
    assert config["token_endpoint"] == f"{settings.base_url}/oauth2/token"
    assert "client_secret_basic" in config["token_endpoint_auth_methods_supported"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert {"read:public", "publish:gcn", "read:restricted.lvk_early", "admin", "openid"} <= set(
        config["scopes_supported"]
    )
    keys = httpx.get(f"{app_url}/.well-known/jwks.json").json()["keys"]
    assert keys
    for key in keys:
        assert key["kid"]
        assert key["alg"] in {"RS256", "ES256"}
        assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys(), "private key material!"


def test_token_is_an_rfc9068_jwt(app_url: str, settings: Settings) -> None:
    client_id, secret = make_credential(settings, make_user(settings))
    token = get_token(app_url, client_id, secret)
    header, claims = claims_of(token)
    assert header["typ"] == "at+jwt"
    kids = {k["kid"] for k in httpx.get(f"{app_url}/.well-known/jwks.json").json()["keys"]}
    assert header["kid"] in kids
    assert claims["iss"] == settings.base_url
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["aud"] == settings.token_audience
    assert claims["scope"] == "read:public"
    assert claims["exp"] - claims["iat"] == settings.token_lifetime
    assert len(claims["jti"]) >= 16


def test_client_secret_post_and_narrower_scope(app_url: str, settings: Settings) -> None:
    client_id, secret = make_credential(settings, make_user(settings, groups=["producers.gcn"]))
    answer = httpx.post(
        f"{app_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "publish:gcn",
        },
    )
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "publish:gcn"
    assert "refresh_token" not in body
    assert body["expires_in"] == settings.token_lifetime


@pytest.mark.parametrize(
    ("data", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, ("nobody", "nothing"), 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "wrong-secret", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        (
            {"grant_type": "password", "username": "a", "password": "b"},
            "ok",
            400,
            "unsupported_grant_type",
        ),
        ({"grant_type": "client_credentials", "scope": "publish:igwn"}, "ok", 400, "invalid_scope"),
    ],
    ids=["unknown-client", "wrong-secret", "no-credentials", "password-grant", "scope-not-held"],
)
def test_token_endpoint_refusals(
    app_url: str, settings: Settings, data: dict[str, str], auth: Any, status: int, error: str
) -> None:
    client_id, secret = make_credential(settings, make_user(settings))
    basic = {"ok": (client_id, secret), "wrong-secret": (client_id, secret + "x")}.get(auth, auth)
    answer = httpx.post(f"{app_url}/oauth2/token", data=data, auth=basic)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"] == error
    if error == "invalid_scope":
        assert "publish:igwn" in answer.json()["error_description"]


def test_introspection_and_revocation(app_url: str, settings: Settings) -> None:
    mine = make_credential(settings, make_user(settings))
    theirs = make_credential(settings, make_user(settings))
    token = get_token(app_url, *mine)
    introspect = f"{app_url}/oauth2/introspect"
    active = httpx.post(introspect, data={"token": token}, auth=mine).json()
    assert active["active"] is True
    assert active["client_id"] == mine[0]
    assert active["scope"] == "read:public"
    # Someone else's token, or garbage: inactive, nothing revealed.
    assert httpx.post(introspect, data={"token": token}, auth=theirs).json() == {"active": False}
    assert httpx.post(introspect, data={"token": "x.y.z"}, auth=mine).json() == {"active": False}
    # Revoking another client's token is refused; one's own works.
    refused = httpx.post(f"{app_url}/oauth2/revoke", data={"token": token}, auth=theirs)
    assert refused.status_code == 400
    assert httpx.post(f"{app_url}/oauth2/revoke", data={"token": token}, auth=mine).is_success
    assert httpx.post(introspect, data={"token": token}, auth=mine).json() == {"active": False}


class Portal:
    """A logged-in browser session on the portal."""

    def __init__(self, app_url: str, email: str) -> None:
        self.http = httpx.Client(base_url=app_url, timeout=15)
        page = self.http.get("/account/login")
        answer = self.http.post(
            "/account/login",
            data={
                "csrf_token": csrf_of(page),
                "email": email,
                "password": DEFAULT_PASSWORD,
            },
        )
        assert answer.status_code == 303

    def __enter__(self) -> Portal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def authorize(self, params: dict[str, str], decision: str = "allow") -> httpx.Response:
        page = self.http.get("/oauth2/authorize?" + urlencode(params))
        if page.status_code != 200 or "decision" not in page.text:
            return page
        fields = dict(HIDDEN.findall(page.text))
        return self.http.post("/oauth2/authorize", data={**fields, "decision": decision})


@pytest.fixture
def public_app(settings: Settings) -> str:
    """A public client (a browser app: no secret) that may use the code flow."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine).begin() as session:
            owner = session.merge(make_user(settings))
            app, secret = create_credential(
                session,
                secret=server_secret(settings),
                catalog=load_catalog(),
                user=owner,
                name="sky viewer",
                scopes="all",
                actor="test",
                redirect_uris=[APP],
                public=True,
            )
            assert secret is None
            return app.client_id
    finally:
        engine.dispose()


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def _code(portal: Portal, public_app: str, challenge: str) -> str:
    """An authorization code the user grants ``public_app`` for ``challenge``."""
    back = portal.authorize(
        {
            "response_type": "code",
            "client_id": public_app,
            "redirect_uri": APP,
            "scope": "openid email read:public publish:gcn publish:igwn",
            "state": "st4te",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "nonce": "n0nce",
        }
    )
    assert back.status_code == 302, back.text
    location = urlsplit(back.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == APP
    query = parse_qs(location.query)
    assert query["state"] == ["st4te"]
    return query["code"][0]


def test_authorization_code_with_pkce_refresh_and_userinfo(
    app_url: str, settings: Settings, public_app: str, kafka: LocalKafka
) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    with Portal(app_url, user.email) as portal:
        verifier, challenge = pkce()
        code = _code(portal, public_app, challenge)
        exchange = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP,
            "client_id": public_app,
        }
        wrong = httpx.post(f"{app_url}/oauth2/token", data={**exchange, "code_verifier": "x" * 50})
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"
        # A failed redemption burns the code: whoever holds the right verifier must start over.
        burnt = httpx.post(f"{app_url}/oauth2/token", data={**exchange, "code_verifier": verifier})
        assert burnt.json()["error"] == "invalid_grant"
        code = _code(portal, public_app, challenge)

        exchange = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP,
            "client_id": public_app,
        }
        tokens = httpx.post(f"{app_url}/oauth2/token", data={**exchange, "code_verifier": verifier})
        assert tokens.status_code == 200, tokens.text
        body = tokens.json()
        _, claims = claims_of(body["access_token"])
        assert claims["sub"] == user.subject
        assert claims["client_id"] == public_app
        # publish:igwn was asked for but the user does not hold it.
        assert set(body["scope"].split()) == {"openid", "email", "read:public", "publish:gcn"}
        _, id_claims = claims_of(body["id_token"])
        assert id_claims["aud"] == [public_app]
        assert id_claims["nonce"] == "n0nce"
        assert id_claims["email"] == user.email
        # An ID token is no access token: the API refuses it by type, Kafka by audience.
        assert settings.token_audience not in id_claims["aud"]
        as_access = httpx.get(
            f"{app_url}/api/v1/credentials", headers={"Authorization": f"Bearer {body['id_token']}"}
        )
        assert as_access.status_code == 401
        assert "not an access token" in as_access.json()["detail"]
        assert kafka_refusals(kafka.listener_address("SASL"), body["id_token"])

        info = httpx.get(
            f"{app_url}/oauth2/userinfo",
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert info.json() == {"sub": user.subject, "email": user.email, "email_verified": True}
        # The code works once.
        again = httpx.post(f"{app_url}/oauth2/token", data={**exchange, "code_verifier": verifier})
        assert again.json()["error"] == "invalid_grant"

        refresh = {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": public_app,
        }
        renewed = httpx.post(f"{app_url}/oauth2/token", data=refresh)
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["refresh_token"] != body["refresh_token"]
        reused = httpx.post(f"{app_url}/oauth2/token", data=refresh)
        assert reused.status_code == 400
        assert reused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "code_challenge"),
        ({"code_challenge_method": "plain"}, "code_challenge_method"),
        ({"redirect_uri": "https://evil.example/steal"}, "Redirect URI"),
        ({"client_id": "no-such-client"}, "invalid_client"),
    ],
    ids=["no-pkce", "plain-pkce", "foreign-redirect", "unknown-client"],
)
def test_authorization_request_refusals(
    app_url: str, settings: Settings, public_app: str, change: dict[str, str | None], reason: str
) -> None:
    with Portal(app_url, make_user(settings).email) as portal:
        _, challenge = pkce()
        params = {
            "response_type": "code",
            "client_id": public_app,
            "redirect_uri": APP,
            "scope": "read:public",
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **change,
        }
        answer = portal.authorize({k: v for k, v in params.items() if v is not None})
        assert answer.status_code == 400
        assert reason in answer.text


def test_denied_consent_redirects_with_access_denied(
    app_url: str, settings: Settings, public_app: str
) -> None:
    with Portal(app_url, make_user(settings).email) as portal:
        _, challenge = pkce()
        back = portal.authorize(
            {
                "response_type": "code",
                "client_id": public_app,
                "redirect_uri": APP,
                "state": "s",
                "scope": "read:public",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            decision="deny",
        )
        assert back.status_code == 302
        assert parse_qs(urlsplit(back.headers["location"]).query)["error"] == ["access_denied"]


def test_authorize_sends_strangers_to_the_login_page(app_url: str, public_app: str) -> None:
    answer = httpx.get(f"{app_url}/oauth2/authorize?client_id={public_app}&response_type=code")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/account/login?next=%2Foauth2%2Fauthorize")


def test_credentials_api_via_bearer(app_url: str, settings: Settings) -> None:
    client_id, secret = make_credential(
        settings, make_user(settings, groups=["producers.gcn"]), ["read:public"]
    )
    bearer = {"Authorization": f"Bearer {get_token(app_url, client_id, secret)}"}
    api = f"{app_url}/api/v1/credentials"
    wider = httpx.post(api, json={"name": "more", "scopes": ["publish:gcn"]}, headers=bearer)
    assert wider.status_code == 403
    assert "publish:gcn" in wider.json()["detail"]
    made = httpx.post(api, json={"name": "same", "scopes": "all"}, headers=bearer)
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    assert made.json()["scopes"] == ["read:public"]
    assert made.json()["client_secret"]
    listed = httpx.get(api, headers=bearer).json()["credentials"]
    assert {c["client_id"] for c in listed} == {client_id, made.json()["client_id"]}
    assert all("client_secret" not in c for c in listed)
    bad = httpx.post(api, json={"name": ""}, headers=bearer)
    assert bad.status_code == 422
    assert bad.json()["violations"][0]["path"] == "/body/name"
    stranger = make_credential(settings, make_user(settings))
    other = httpx.delete(f"{api}/{stranger[0]}", headers=bearer)
    assert other.status_code == 404
