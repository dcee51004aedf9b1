"""Bearer tokens are verified in memory: a revocation made by another process stops a token
already in use within SKYALERT_TOKEN_RECHECK seconds (the documented bound), one made in this
process at once; while the database is away, nothing is served from the table."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from auth.test_user_disable import skyalert
from skyalert.auth.context import AuthContext
from skyalert.auth.errors import InvalidToken
from skyalert.auth.verified_tokens import STALE_AFTER
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog
from support.auth import get_token, make_credential, make_user, revoke_token

#: The bound the settings document, plus room for one refresh query and a busy machine.
MARGIN = 5.0


def refused_within(app_url: str, token: str, bound: float) -> float:
    """Seconds until the app refuses ``token`` (which it takes now); fails past ``bound``."""
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    while httpx.get(f"{app_url}/api/v1/credentials", headers=headers).status_code == 200:
        assert time.monotonic() - started < bound, "the revoked token still works"
    return time.monotonic() - started


def test_a_group_revoked_by_another_process_stops_a_token_in_use(
    settings: Settings, app_url: str
) -> None:
    user = make_user(settings, groups=["producers.gcn"])
    token = get_token(app_url, *make_credential(settings, user, ["publish:gcn"]))
    headers = {"Authorization": f"Bearer {token}"}
    # In use: the app holds it in memory now.
    assert httpx.get(f"{app_url}/api/v1/rejections", headers=headers).status_code == 200
    done = skyalert(settings, "users", "revoke", user.email, "producers.gcn")
    assert done.returncode == 0, done.stderr
    started = time.monotonic()
    while httpx.get(f"{app_url}/api/v1/rejections", headers=headers).status_code != 403:
        assert time.monotonic() - started < settings.token_recheck + MARGIN


def test_an_account_disabled_by_another_process_stops_its_token(
    settings: Settings, app_url: str
) -> None:
    user = make_user(settings)
    token = get_token(app_url, *make_credential(settings, user, "all"))
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{app_url}/api/v1/credentials", headers=headers).status_code == 200
    done = skyalert(settings, "users", "disable", user.email)
    assert done.returncode == 0, done.stderr
    refused_within(app_url, token, settings.token_recheck + MARGIN)


def test_a_token_revoked_in_this_process_is_refused_on_the_next_request(
    settings: Settings, app_url: str
) -> None:
    client_id, secret = make_credential(settings, make_user(settings), "all")
    token = get_token(app_url, client_id, secret)
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{app_url}/api/v1/credentials", headers=headers).status_code == 200
    revoke_token(app_url, token, client_id, secret)
    response = httpx.get(f"{app_url}/api/v1/credentials", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_with_the_database_away_no_token_is_served_from_memory(
    settings: Settings, app_url: str
) -> None:
    token = get_token(app_url, *make_credential(settings, make_user(settings), "all"))
    engine = make_engine(settings)
    context = AuthContext.build(settings, make_sessionmaker(engine), load_catalog())
    context.tokens.start()
    try:
        assert context.tokens.principal(token).email
        assert context.tokens.cached(token) is not None
        away = settings.model_copy(update={"database_url": "postgresql+psycopg://x@127.0.0.1:9/x"})
        context.tokens.sessions = make_sessionmaker(make_engine(away))
        deadline = time.monotonic() + settings.token_recheck * (STALE_AFTER + 1) + MARGIN
        while context.tokens.cached(token) is not None:
            assert time.monotonic() < deadline, "a stale table still answers"
            time.sleep(0.05)
        with pytest.raises(OperationalError):  # asks the database, which is away: a 503
            context.tokens.principal(token)
        with pytest.raises(InvalidToken):
            context.tokens.principal(
                token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
            )
    finally:
        context.tokens.close()
        engine.dispose()
