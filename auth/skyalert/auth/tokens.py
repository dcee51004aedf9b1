"""RFC 9068 JWT access tokens: issued by our token endpoint, checked by our API and by Kafka."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError

from skyalert.auth.errors import InvalidToken
from skyalert.auth.keys import KeyRing
from skyalert.broker.core.settings import Settings

JWT_TYPE = "at+jwt"
ALGORITHMS = ("RS256", "ES256")
#: Clock difference tolerated between replicas (seconds).
LEEWAY = 5


@dataclass(frozen=True)
class AccessClaims:
    """The verified content of an access token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    jti: str
    issued_at: datetime
    expires_at: datetime


def issue_access_token(
    ring: KeyRing,
    settings: Settings,
    *,
    subject: str,
    client_id: str,
    scopes: frozenset[str] | set[str],
    lifetime: int | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[str, AccessClaims]:
    """Sign a token for ``subject``; returns the JWT and what it says."""
    key = ring.signing_key()
    now = int(datetime.now(UTC).timestamp())
    expires = now + (settings.token_lifetime if lifetime is None else lifetime)
    claims: dict[str, Any] = {
        **(extra or {}),
        "iss": settings.base_url,
        "sub": subject,
        "aud": settings.token_audience,
        "client_id": client_id,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": expires,
        "jti": uuid.uuid4().hex,
    }
    header = {"alg": key.alg, "kid": key.kid, "typ": JWT_TYPE}
    token = jwt.encode(header, claims, key.private, algorithms=[key.alg])
    return token, _claims_of(claims)


def _claims_of(claims: dict[str, Any]) -> AccessClaims:
    return AccessClaims(
        subject=claims["sub"],
        client_id=claims["client_id"],
        scopes=frozenset(str(claims.get("scope", "")).split()),
        jti=claims["jti"],
        issued_at=datetime.fromtimestamp(claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], UTC),
    )


def _segment(part: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("the access token is not a JWT (a part does not decode)") from exc
    if not isinstance(value, dict):
        raise InvalidToken("the access token is not a JWT (a part is not a JSON object)")
    return value


def unverified_header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("the access token is not a JWT (expected three dot-separated parts)")
    return _segment(parts[0])


def verify_access_token(ring: KeyRing, settings: Settings, token: str) -> AccessClaims:
    """Check signature, type, issuer, audience and lifetime; raise InvalidToken saying why.

    Revocation is checked separately against the database (skyalert.auth.access).
    """
    header = unverified_header(token)
    if str(header.get("typ", "")).lower().removeprefix("application/") != JWT_TYPE:
        raise InvalidToken("this is not an access token (JWT typ is not at+jwt)")
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidToken(f"the token's signature algorithm {alg!r} is not accepted")
    kid = header.get("kid")
    key = ring.verification_key(kid) if isinstance(kid, str) else None
    if key is None or key.alg != alg:
        raise InvalidToken(
            "the token was signed with a key this server does not know (or no longer "
            "publishes); get a new token from the token endpoint"
        )
    try:
        claims = jwt.decode(token, key.private, algorithms=[alg]).claims
    except JoseError as exc:
        raise InvalidToken(
            "the token's signature does not verify: it was altered or not issued by this server"
        ) from exc
    _check_claims(claims, settings)
    return _claims_of(claims)


def _check_claims(claims: dict[str, Any], settings: Settings) -> None:
    for name, kind in (
        ("sub", str),
        ("client_id", str),
        ("jti", str),
        ("iss", str),
        ("exp", int),
        ("iat", int),
    ):
        if not isinstance(claims.get(name), kind):
            raise InvalidToken(f"the token lacks a valid {name!r} claim")
    if claims["iss"] != settings.base_url:
        raise InvalidToken(f"the token was issued by {claims['iss']}, not by {settings.base_url}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.token_audience not in audiences:
        raise InvalidToken(
            f"the token is meant for {audience!r}, not for this service "
            f"({settings.token_audience!r})"
        )
    now = datetime.now(UTC).timestamp()
    if claims["exp"] + LEEWAY < now:
        expired = datetime.fromtimestamp(claims["exp"], UTC).isoformat(timespec="seconds")
        raise InvalidToken(f"the token expired at {expired}; get a new one from the token endpoint")
    if claims["iat"] - LEEWAY > now:
        raise InvalidToken("the token was issued in the future; check the clocks")
    if not isinstance(claims.get("scope", ""), str):
        raise InvalidToken("the token's 'scope' claim is not a string")
