"""Test helpers for accounts, credentials and tokens (a contract: other test suites use these).

Users and credentials go straight into the database; tokens come from the real
``POST /oauth2/token`` with HTTP Basic client authentication, as librdkafka sends it.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

import httpx
from confluent_kafka import KafkaError
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.credentials import create_credential
from skyalert.auth.kafka_acls import AclSync
from skyalert.auth.keys import KeyRing
from skyalert.auth.models import User
from skyalert.auth.tokens import issue_access_token
from skyalert.auth.users import create_user, grant_group
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import KafkaConfig, admin_config
from skyalert.schemas.catalog import Catalog, load_catalog

DEFAULT_PASSWORD = "correct horse battery staple"


_engines: dict[str, sessionmaker[Session]] = {}
#: Databases whose public-topic Kafka ACLs this run has put in place.
_public_acls: set[str] = set()


def _sessions(settings: Settings) -> sessionmaker[Session]:
    """One engine per database for the whole run (tests create many users)."""
    url = settings.sqlalchemy_url
    if url not in _engines:
        _engines[url] = make_sessionmaker(make_engine(settings))
    return _engines[url]


@lru_cache(maxsize=1)
def _catalog() -> Catalog:
    return load_catalog()


def make_user(
    settings: Settings,
    email: str | None = None,
    groups: Iterable[str] = (),
    password: str = DEFAULT_PASSWORD,
) -> User:
    """A verified account with ``groups`` (``consumers.public`` is implicit)."""
    address = email or f"user-{uuid.uuid4().hex[:12]}@example.org"
    with _sessions(settings).begin() as session:
        user = create_user(session, address, password, verified=True)
        for group in groups:
            grant_group(session, user, group, _catalog(), actor="test")
    return user


def revoke_membership(settings: Settings, email: str, group: str) -> None:
    """Take ``group`` away from the account as an admin does (its Kafka ACLs follow)."""
    from skyalert.auth.context import AuthContext

    ctx = AuthContext.build(settings, _sessions(settings), _catalog())
    assert ctx.directory.revoke(email, group, actor="test")


def make_credential(
    settings: Settings, user: User, scopes: Iterable[str] | Literal["all"] = "all"
) -> tuple[str, str]:
    """A new credential of ``user``; returns (client_id, client_secret).

    Its Kafka ACLs (and those of public topics) are in place on return, as the portal does.
    """
    with _sessions(settings).begin() as session:
        credential, secret = create_credential(
            session,
            secret=server_secret(settings),
            catalog=_catalog(),
            user=session.merge(user),
            name="test",
            scopes=scopes if isinstance(scopes, str) else list(scopes),
            actor="test",
        )
        client_id = credential.client_id
    assert secret is not None
    acls = AclSync(settings, _sessions(settings), _catalog())
    if settings.sqlalchemy_url not in _public_acls:
        acls.sync_public()
        _public_acls.add(settings.sqlalchemy_url)
    acls.sync_credentials([client_id])
    if acls.enabled:
        _wait_until_the_broker_knows(settings, client_id)
    return client_id, secret


def _wait_until_the_broker_knows(settings: Settings, client_id: str, timeout: float = 20) -> None:
    """The controller has the new ACLs; the broker's authorizer learns them a moment later
    (KRaft metadata): DescribeAcls answers from that same authorizer, so ask it."""
    wanted = AclBindingFilter(
        ResourceType.GROUP,
        client_id,
        ResourcePatternType.PREFIXED,
        f"User:{client_id}",
        "*",
        AclOperation.ANY,
        AclPermissionType.ANY,
    )
    admin = AdminClient(admin_config(settings))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if admin.describe_acls(wanted).result(10):
            return
        time.sleep(0.1)  # no event to await: the broker does not say when it caught up
    raise AssertionError(f"the broker never showed the ACLs of {client_id}")


def get_token(app_url: str, client_id: str, client_secret: str, scope: str | None = None) -> str:
    """An access token from the real token endpoint (client_credentials, HTTP Basic)."""
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    response = httpx.post(
        f"{app_url}/oauth2/token", data=data, auth=(client_id, client_secret), timeout=10
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def revoke_token(app_url: str, token: str, client_id: str, client_secret: str) -> None:
    """Revoke ``token`` at the real revocation endpoint (RFC 7009, HTTP Basic)."""
    response = httpx.post(
        f"{app_url}/oauth2/revoke",
        data={"token": token},
        auth=(client_id, client_secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def token_for(
    settings: Settings,
    app_url: str,
    groups: Iterable[str] = (),
    scopes: Iterable[str] | Literal["all"] = "all",
) -> str:
    """A token of a new user in ``groups`` whose credential holds ``scopes``."""
    user = make_user(settings, groups=groups)
    client_id, client_secret = make_credential(settings, user, scopes)
    return get_token(app_url, client_id, client_secret)


def bad_tokens(settings: Settings, app_url: str) -> dict[str, str]:
    """Tokens every service must refuse, each for a different reason, all naming a live
    credential: ``expired``, ``tampered`` (payload changed after signing), ``wrong_audience``,
    ``wrong_issuer``, ``unknown_key`` (signed by a key we never published), ``not_a_jwt``."""
    user = make_user(settings, groups=["producers.gcn"])
    client_id, secret = make_credential(settings, user, "all")
    good = get_token(app_url, client_id, secret)
    ring = KeyRing(_sessions(settings), settings)
    scopes = frozenset({"read:public", "publish:gcn"})

    def signed(config: Settings, lifetime: int | None = None) -> str:
        token, _ = issue_access_token(
            ring, config, subject=client_id, client_id=client_id, scopes=scopes, lifetime=lifetime
        )
        return token

    header, _payload, signature = good.split(".")
    _header, claims = claims_of(good)
    claims["scope"] = "admin read:public publish:gcn publish:igwn"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    stranger = RSAKey.generate_key(2048)
    unknown = jwt.encode(
        {"alg": "RS256", "kid": "never-published", "typ": "at+jwt"},
        {**claims, "scope": "read:public"},
        stranger,
        algorithms=["RS256"],
    )
    return {
        "expired": signed(settings, lifetime=-600),
        "tampered": f"{header}.{forged}.{signature}",
        "wrong_audience": signed(settings.model_copy(update={"token_audience": "elsewhere"})),
        "wrong_issuer": signed(settings.model_copy(update={"public_url": "https://evil.example"})),
        "unknown_key": unknown,
        "not_a_jwt": "certainly-not-a-token",
    }


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JWT's header and claims, unverified (base64url JSON without padding)."""
    header, payload = token.split(".")[:2]
    return _segment(header), _segment(payload)


def _segment(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def csrf_of(page: httpx.Response) -> str:
    """The CSRF token of the portal form on ``page``."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def shown_credential(page: httpx.Response) -> tuple[str, str]:
    """The client id and secret the portal shows once, on the page after creating them."""
    client_id = re.search(r'id="client-id">([^<]+)<', page.text)
    secret = re.search(r'id="client-secret">([^<]+)<', page.text)
    assert client_id is not None, page.text
    assert secret is not None, page.text
    return client_id.group(1), secret.group(1)


def kafka_refusals(bootstrap: str, token: str, timeout: float = 15) -> list[KafkaError]:
    """The SASL authentication errors Kafka answers ``token`` with on its SASL listener."""
    errors: list[KafkaError] = []
    config: KafkaConfig = {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": lambda _config: (token, time.time() + 300, "forger"),
        "error_cb": errors.append,
        "log_level": 0,
    }
    admin = AdminClient(config)
    # poll() hands the token to librdkafka (oauth_cb) and serves error_cb.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        admin.poll(0.2)
        if any(e.code() == KafkaError._AUTHENTICATION for e in errors):
            break
    return [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
