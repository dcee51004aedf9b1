"""Credentials and group memberships as the API, the portal and the CLI change them.

Each change is one transaction with its audit entry; Kafka ACLs follow right after it commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth import audit
from skyalert.auth.credentials import (
    CredentialView,
    ScopeRequest,
    create_credential,
    delete_credential,
    list_credentials,
    view,
)
from skyalert.auth.errors import Forbidden, NotFound
from skyalert.auth.kafka_acls import AclSync
from skyalert.auth.models import User
from skyalert.auth.scopes import ADMIN_GROUP
from skyalert.auth.sessions import end_all_sessions
from skyalert.auth.users import (
    create_user,
    get_user,
    grant_group,
    groups_of,
    revoke_group,
    scopes_of_user,
)
from skyalert.broker.core.db import utcnow
from skyalert.schemas.catalog import Catalog


@dataclass
class Directory:
    sessions: sessionmaker[Session]
    secret: bytes
    catalog: Catalog
    acls: AclSync

    def _user(self, session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("this account no longer exists")
        return user

    def create_credential(
        self,
        user_id: int,
        name: str,
        scopes: ScopeRequest,
        *,
        actor: str,
        redirect_uris: Iterable[str] = (),
        public: bool = False,
    ) -> tuple[CredentialView, str | None]:
        """A new credential and its secret (shown this once)."""
        with self.sessions.begin() as session:
            user = self._user(session, user_id)
            if not user.verified:
                raise Forbidden("confirm your email address before creating credentials")
            credential, secret = create_credential(
                session,
                secret=self.secret,
                catalog=self.catalog,
                user=user,
                name=name,
                scopes=scopes,
                actor=actor,
                redirect_uris=redirect_uris,
                public=public,
            )
            shown = view(credential, scopes_of_user(session, user.id, self.catalog))
        self.acls.try_sync([shown.client_id])
        return shown, secret

    def credentials(self, user_id: int) -> list[CredentialView]:
        with self.sessions() as session:
            return list_credentials(session, self._user(session, user_id), self.catalog)

    def delete_credential(self, user_id: int | None, client_id: str, *, actor: str) -> None:
        """Delete (revoke) a credential; its tokens fail on our API from the next request."""
        with self.sessions.begin() as session:
            owner = None if user_id is None else self._user(session, user_id)
            delete_credential(session, owner, client_id, actor=actor)
        self.acls.try_sync([client_id])

    def create_user(
        self, email: str, password: str | None, *, verified: bool, admin: bool, actor: str
    ) -> User:
        with self.sessions.begin() as session:
            user = create_user(session, email, password, verified=verified)
            if admin:
                grant_group(session, user, ADMIN_GROUP, self.catalog, actor)
        return user

    def grant(self, email: str, group: str, *, actor: str) -> bool:
        """Add the account to ``group``; False if it already was a member."""
        with self.sessions.begin() as session:
            user = get_user(session, email)
            changed = grant_group(session, user, group, self.catalog, actor)
            user_id = user.id
        self.acls.try_sync(user_id=user_id)
        return changed

    def revoke(self, email: str, group: str, *, actor: str) -> bool:
        """Remove the account from ``group``; its tokens lose the scopes at once."""
        with self.sessions.begin() as session:
            user = get_user(session, email)
            changed = revoke_group(session, user, group, self.catalog, actor)
            user_id = user.id
        self.acls.try_sync(user_id=user_id)
        return changed

    def set_disabled(self, email: str, disabled: bool, *, actor: str) -> bool:
        """Disable (or re-enable) an account; False if it already was so.

        Disabling logs it out everywhere and takes its credentials' Kafka ACLs away; its access
        tokens fail on our API from the next request."""
        with self.sessions.begin() as session:
            user = get_user(session, email)
            if user.disabled == disabled:
                return False
            user.disabled_at = utcnow() if disabled else None
            if disabled:
                end_all_sessions(session, user.id)
            audit.record(session, actor, "user.disable" if disabled else "user.enable", user.email)
            user_id = user.id
        self.acls.try_sync(user_id=user_id)
        return True

    def groups(self, user_id: int) -> frozenset[str]:
        with self.sessions() as session:
            return groups_of(session, user_id)

    def find(self, email: str) -> User | None:
        with self.sessions() as session:
            return session.scalar(select(User).where(User.email == email.strip().lower()))
