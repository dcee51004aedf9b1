"""From a verified token or a session cookie to a Principal, checked against the database.

Every check here reads the database; the web app keeps its answers for bearer tokens in memory
(:mod:`skyalert.auth.verified_tokens`, which says how soon a revocation is seen).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.credentials import effective_scopes, find_credential
from skyalert.auth.errors import InvalidToken
from skyalert.auth.models import RevokedToken, User, WebSession
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import OIDC_SCOPES
from skyalert.auth.sessions import find_session
from skyalert.auth.tokens import AccessClaims
from skyalert.auth.users import scopes_of_user
from skyalert.broker.core.db import utcnow
from skyalert.schemas.catalog import Catalog

SESSION_PREFIX = "session:"


def principal_for_token(session: Session, claims: AccessClaims, catalog: Catalog) -> Principal:
    credential = find_credential(session, claims.client_id)
    if credential is None:
        raise InvalidToken(
            f"the credential {claims.client_id} this token was issued to has been deleted; "
            "create a new credential"
        )
    if session.get(RevokedToken, claims.jti) is not None:
        raise InvalidToken("this token has been revoked; get a new one")
    if claims.subject == credential.client_id:
        user = credential.user
        allowed = effective_scopes(credential, scopes_of_user(session, user.id, catalog))
    else:  # a user's token obtained by an app through the authorization code flow
        found = session.scalar(select(User).where(User.subject == claims.subject))
        if found is None:
            raise InvalidToken("the account this token was issued for no longer exists")
        user = found
        allowed = scopes_of_user(session, user.id, catalog) | OIDC_SCOPES
    if user.disabled:
        raise InvalidToken("this account has been disabled by an operator; ask them why")
    return Principal(
        subject=claims.subject,
        user_id=user.id,
        email=user.email,
        client_id=credential.client_id,
        scopes=claims.scopes & allowed,
        token_id=claims.jti,
        expires_at=claims.expires_at,
    )


def principal_for_session(
    session: Session, secret: bytes, cookie: str, catalog: Catalog
) -> Principal | None:
    found = find_session(session, secret, cookie)
    if found is None:
        return None
    web_session, user = found
    return session_principal(session, web_session, user, catalog)


def session_principal(
    session: Session, web_session: WebSession, user: User, catalog: Catalog
) -> Principal:
    return Principal(
        subject=user.subject,
        user_id=user.id,
        email=user.email,
        client_id=None,
        scopes=scopes_of_user(session, user.id, catalog),
        token_id=f"{SESSION_PREFIX}{web_session.id}",
        expires_at=web_session.expires_at,
    )


def still_valid(session: Session, principal: Principal, catalog: Catalog) -> bool:
    """Re-check a principal for a long-lived connection: not expired, nothing revoked."""
    if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
        return False
    if principal.token_id is not None and principal.token_id.startswith(SESSION_PREFIX):
        row = session.get(WebSession, int(principal.token_id.removeprefix(SESSION_PREFIX)))
        return row is not None and row.user_id == principal.user_id and row.expires_at > utcnow()
    if principal.client_id is None or principal.token_id is None:
        return session.get(User, principal.user_id) is not None
    claims = AccessClaims(
        subject=principal.subject,
        client_id=principal.client_id,
        scopes=principal.scopes,
        jti=principal.token_id,
        issued_at=datetime.now(UTC),
        expires_at=principal.expires_at or datetime.now(UTC),
    )
    try:
        current = principal_for_token(session, claims, catalog)
    except InvalidToken:
        return False
    # A revoked group takes its scopes away: the connection must be re-authorized.
    return current.scopes >= principal.scopes
