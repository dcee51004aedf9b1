"""Client credentials ("credential vending machine"): named, scoped, secret shown once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from skyalert.auth import audit
from skyalert.auth.errors import InvalidInput, NotFound
from skyalert.auth.models import Credential, User
from skyalert.auth.users import scopes_of_user
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import keyed_hash, random_client_id, random_token, same
from skyalert.schemas.catalog import Catalog

ALL = "all"
MAX_NAME = 100
ScopeRequest = Iterable[str] | Literal["all"]


@dataclass(frozen=True)
class CredentialView:
    """What the owner sees of a credential (never the secret)."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    all_scopes: bool
    redirect_uris: tuple[str, ...]
    public: bool
    created_at: datetime
    last_used_at: datetime | None
    use_count: int

    def as_json(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "name": self.name,
            "scopes": list(self.scopes),
            "all_scopes": self.all_scopes,
            "redirect_uris": list(self.redirect_uris),
            "public": self.public,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "use_count": self.use_count,
        }


def effective_scopes(credential: Credential, held: frozenset[str]) -> frozenset[str]:
    """The scopes the credential may use now: what it was given, cut to what its owner holds."""
    if credential.all_scopes:
        return held
    return frozenset(credential.scopes.split()) & held


def view(credential: Credential, held: frozenset[str]) -> CredentialView:
    return CredentialView(
        client_id=credential.client_id,
        name=credential.name,
        scopes=tuple(sorted(effective_scopes(credential, held))),
        all_scopes=credential.all_scopes,
        redirect_uris=tuple(credential.redirect_uris.split()),
        public=credential.secret_hash is None,
        created_at=credential.created_at,
        last_used_at=credential.last_used_at,
        use_count=credential.use_count,
    )


def _check_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme not in {"https", "http"} or not parts.netloc or parts.fragment:
        raise InvalidInput(f"redirect URI {uri!r} must be an absolute http(s) URL without #")
    if parts.scheme == "http" and not loopback:
        raise InvalidInput(f"redirect URI {uri!r} must use https (http only for loopback)")
    return uri


def create_credential(
    session: Session,
    *,
    secret: bytes,
    catalog: Catalog,
    user: User,
    name: str,
    scopes: ScopeRequest,
    actor: str,
    redirect_uris: Iterable[str] = (),
    public: bool = False,
) -> tuple[Credential, str | None]:
    """Create a credential; returns it and its secret (None for a public client).

    The secret is returned this once and stored only as a keyed hash.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"give the credential a name of 1 to {MAX_NAME} characters")
    held = scopes_of_user(session, user.id, catalog)
    all_scopes = isinstance(scopes, str)
    if isinstance(scopes, str):
        if scopes != ALL:
            raise InvalidInput(f"scopes must be a list of scopes or {ALL!r}")
        wanted: frozenset[str] = frozenset()
    else:
        wanted = frozenset(scopes)
        if ALL in wanted:
            if len(wanted) > 1:
                raise InvalidInput(f"{ALL!r} already means every scope; give it alone")
            all_scopes, wanted = True, frozenset()
        elif not wanted:
            raise InvalidInput(f"choose at least one scope, or {ALL!r}")
    missing = wanted - held
    if missing:
        raise InvalidInput(
            f"you do not hold the scope(s) {', '.join(sorted(missing))}; "
            f"yours are: {', '.join(sorted(held))}"
        )
    uris = [_check_redirect_uri(u) for u in redirect_uris]
    if public and not uris:
        raise InvalidInput("a public client needs at least one redirect URI")
    client_secret = None if public else random_token(32)
    credential = Credential(
        client_id=random_client_id(),
        user_id=user.id,
        name=name,
        secret_hash=keyed_hash(secret, client_secret) if client_secret else None,
        all_scopes=all_scopes,
        scopes=" ".join(sorted(wanted)),
        redirect_uris=" ".join(uris),
    )
    session.add(credential)
    session.flush()
    audit.record(
        session,
        actor,
        "credential.create",
        user.email,
        credential.client_id,
        name=name,
        scopes=ALL if all_scopes else sorted(wanted),
    )
    return credential, client_secret


def list_credentials(session: Session, user: User, catalog: Catalog) -> list[CredentialView]:
    held = scopes_of_user(session, user.id, catalog)
    rows = session.scalars(
        select(Credential).where(Credential.user_id == user.id).order_by(Credential.created_at)
    ).all()
    return [view(row, held) for row in rows]


def find_credential(session: Session, client_id: str) -> Credential | None:
    return session.scalar(select(Credential).where(Credential.client_id == client_id))


def delete_credential(
    session: Session, user: User | None, client_id: str, *, actor: str, reason: str = ""
) -> Credential:
    """Delete (and so revoke) a credential; ``user`` None lets an operator delete any."""
    credential = find_credential(session, client_id)
    if credential is None or (user is not None and credential.user_id != user.id):
        raise NotFound(f"you have no credential with the client id {client_id!r}")
    owner = credential.user
    session.delete(credential)
    audit.record(
        session,
        actor,
        "credential.delete",
        owner.email,
        client_id,
        **({"reason": reason} if reason else {}),
    )
    return credential


def check_secret(credential: Credential, secret: bytes, client_secret: str) -> bool:
    if credential.secret_hash is None:
        return False
    return same(credential.secret_hash, keyed_hash(secret, client_secret))


def mark_used(session: Session, credential_id: int) -> None:
    """Count a token issued to the credential; clears a pending idle-expiry warning."""
    session.execute(
        update(Credential)
        .where(Credential.id == credential_id)
        .values(last_used_at=utcnow(), use_count=Credential.use_count + 1, expiry_warned_at=None)
    )
