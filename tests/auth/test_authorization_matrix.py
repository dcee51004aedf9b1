"""Routes by scopes by token states, on PostgreSQL: every protected route refuses the same way.

Bad tokens (expired, tampered, wrong audience or issuer, unknown key, garbage), revoked tokens
and tokens of deleted credentials get 401 problem+json with a Bearer challenge; a good token
without the route's scope gets 403 naming the scope; a revoked group takes effect at once.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Depends

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.web.api.security import require_scope
from skyalert.web.app import create_app
from support.auth import (
    bad_tokens,
    get_token,
    make_credential,
    make_user,
    revoke_membership,
    revoke_token,
)
from support.client import ensure_catalog_topics

GCN_TOPIC = "gcn.notices.swift.bat.guano"
IGWN_TOPIC = "igwn.gwalert"

#: (method, path, JSON body or None, the scope it needs or None for any logged-in caller)
ROUTES: list[tuple[str, str, Any, str | None]] = [
    ("GET", "/api/v1/credentials", None, None),
    ("POST", "/api/v1/credentials", {"name": "matrix", "scopes": ["read:public"]}, None),
    ("GET", "/oauth2/userinfo", None, "openid"),
    ("POST", f"/api/v1/topics/{GCN_TOPIC}/alerts", {}, "publish:gcn"),
    ("POST", f"/api/v1/topics/{IGWN_TOPIC}/alerts", {}, "publish:igwn"),
    ("GET", "/api/v1/subscriptions", None, None),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]
BAD = ["expired", "tampered", "wrong_audience", "wrong_issuer", "unknown_key", "not_a_jwt"]


def call(
    app_url: str, route: tuple[str, str, Any, str | None], token: str | None
) -> httpx.Response:
    method, path, body, _ = route
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.request(method, app_url + path, json=body, headers=headers, timeout=15)


def assert_refused_401(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["detail"]


@pytest.fixture(scope="module")
def forged(settings: Settings, app_url: str) -> dict[str, str]:
    return bad_tokens(settings, app_url)


@pytest.fixture(scope="module", autouse=True)
def topics(settings: Settings) -> None:
    """The catalog's topics exist: NASA's GUANO schema takes even ``{}``, which is then sent on."""
    ensure_catalog_topics(settings)


@pytest.fixture(scope="module")
def publisher(settings: Settings, app_url: str) -> str:
    client_id, secret = make_credential(settings, make_user(settings, groups=["producers.gcn"]))
    return get_token(app_url, client_id, secret)


@pytest.fixture(scope="module")
def reader(settings: Settings, app_url: str) -> str:
    client_id, secret = make_credential(settings, make_user(settings), ["read:public"])
    return get_token(app_url, client_id, secret)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("state", BAD)
def test_bad_tokens_are_refused_everywhere(
    app_url: str, forged: dict[str, str], route: tuple[str, str, Any, str | None], state: str
) -> None:
    assert_refused_401(call(app_url, route, forged[state]))


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_no_token_is_refused(app_url: str, route: tuple[str, str, Any, str | None]) -> None:
    response = call(app_url, route, None)
    assert_refused_401(response)
    assert "Bearer" in response.json()["detail"]


def test_each_bad_token_says_why(app_url: str, forged: dict[str, str]) -> None:
    reasons = {state: call(app_url, ROUTES[0], forged[state]).json()["detail"] for state in BAD}
    assert "expired" in reasons["expired"]
    assert "signature does not verify" in reasons["tampered"]
    assert "meant for 'elsewhere'" in reasons["wrong_audience"]
    assert "issued by https://evil.example" in reasons["wrong_issuer"]
    assert "does not know" in reasons["unknown_key"]
    assert "not a JWT" in reasons["not_a_jwt"]


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("who", ["reader", "publisher"])
def test_scopes_decide(
    request: pytest.FixtureRequest,
    app_url: str,
    route: tuple[str, str, Any, str | None],
    who: str,
) -> None:
    token = request.getfixturevalue(who)
    held = {"reader": {"read:public"}, "publisher": {"read:public", "publish:gcn"}}[who]
    needed = route[3]
    response = call(app_url, route, token)
    if needed is None or needed in held:
        assert response.status_code not in {401, 403}, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert needed in response.json()["detail"]


def test_revoked_token_refused_at_once(settings: Settings, app_url: str) -> None:
    client_id, secret = make_credential(settings, make_user(settings))
    token = get_token(app_url, client_id, secret)
    other = get_token(app_url, client_id, secret)
    assert call(app_url, ROUTES[0], token).status_code == 200
    revoke_token(app_url, token, client_id, secret)
    for route in ROUTES:
        response = call(app_url, route, token)
        assert_refused_401(response)
        assert "revoked" in response.json()["detail"]
    assert call(app_url, ROUTES[0], other).status_code == 200  # only that one token


def test_deleted_credential_refused_at_once_on_every_route(
    settings: Settings, app_url: str
) -> None:
    client_id, secret = make_credential(settings, make_user(settings, groups=["producers.gcn"]))
    token = get_token(app_url, client_id, secret)
    bearer = {"Authorization": f"Bearer {token}"}
    deleted = httpx.delete(f"{app_url}/api/v1/credentials/{client_id}", headers=bearer)
    assert deleted.status_code == 204
    for route in ROUTES:
        response = call(app_url, route, token)
        assert_refused_401(response)
        assert "deleted" in response.json()["detail"]
    again = httpx.post(
        f"{app_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert again.status_code == 401
    assert again.json()["error"] == "invalid_client"


def test_revoked_group_takes_its_scope_away_at_once(settings: Settings, app_url: str) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    client_id, secret = make_credential(settings, user)
    token = get_token(app_url, client_id, secret)
    publish = ROUTES[3]
    assert call(app_url, publish, token).status_code not in {401, 403}
    revoke_membership(settings, user.email, "producers.gcn")
    refused = call(app_url, publish, token)
    assert refused.status_code == 403
    assert "publish:gcn" in refused.json()["detail"]


def test_require_scope_guards_a_route(settings: Settings, app_url: str) -> None:
    app = create_app(settings)

    @app.get("/api/v1/test-admin-only", dependencies=[Depends(require_scope("admin"))])
    async def admin_only() -> dict[str, bool]:
        return {"ok": True}

    admin = make_credential(settings, make_user(settings, groups=["admins"]))
    user = make_credential(settings, make_user(settings))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.02)
        url = f"http://127.0.0.1:{server.config.port}/api/v1/test-admin-only"
        answers = {
            who: httpx.get(url, headers={"Authorization": f"Bearer {get_token(app_url, *ids)}"})
            for who, ids in (("admin", admin), ("user", user))
        }
        anonymous = httpx.get(url)
    finally:
        server.should_exit = True
        thread.join(10)
    assert answers["admin"].status_code == 200
    assert answers["user"].status_code == 403
    assert "'admin'" in answers["user"].json()["detail"]
    assert anonymous.status_code == 401
