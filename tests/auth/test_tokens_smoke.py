"""Smoke: a credential gets a token from the real token endpoint and it verifies."""

from __future__ import annotations

import httpx

from skyalert.broker.core.settings import Settings
from support.auth import get_token, make_credential, make_user, token_for


def test_token_round_trip(settings: Settings, app_url: str) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    client_id, secret = make_credential(settings, user, "all")
    token = get_token(app_url, client_id, secret)
    assert token.count(".") == 2
    token2 = token_for(settings, app_url)
    assert token2 != token
    response = httpx.post(
        f"{app_url}/oauth2/introspect", data={"token": token}, auth=(client_id, secret)
    )
    assert response.json()["active"] is True
    assert set(response.json()["scope"].split()) == {"read:public", "publish:gcn"}
