"""Everything auth needs at run time, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.access import principal_for_session, principal_for_token, still_valid
from skyalert.auth.accounts import Accounts
from skyalert.auth.directory import Directory
from skyalert.auth.kafka_acls import AclSync
from skyalert.auth.keys import KeyRing
from skyalert.auth.models import User
from skyalert.auth.oauth_server import OAuthServer
from skyalert.auth.principal import Principal
from skyalert.auth.ratelimit import SharedLimiter
from skyalert.auth.sessions import find_session
from skyalert.auth.tokens import verify_access_token
from skyalert.auth.upstream import UpstreamLogin
from skyalert.auth.verified_tokens import VerifiedTokens
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import Catalog


@dataclass
class AuthContext:
    settings: Settings
    sessions: sessionmaker[Session]
    catalog: Catalog
    secret: bytes
    ring: KeyRing
    oauth: OAuthServer
    acls: AclSync
    accounts: Accounts
    directory: Directory
    upstream: UpstreamLogin
    #: Bearer tokens verified in memory; its refresher runs where ``tokens.start()`` was called.
    tokens: VerifiedTokens
    #: Publishing's rate limits, counted in memory (merged where ``limits.start()`` was called).
    limits: SharedLimiter

    @classmethod
    def build(
        cls, settings: Settings, sessions: sessionmaker[Session], catalog: Catalog
    ) -> AuthContext:
        secret = server_secret(settings)
        ring = KeyRing(sessions, settings)
        acls = AclSync(settings, sessions, catalog)
        tokens = VerifiedTokens(
            sessions,
            lambda token: verify_access_token(ring, settings, token),
            lambda session, claims: principal_for_token(session, claims, catalog),
            settings.token_recheck,
        )
        return cls(
            settings=settings,
            sessions=sessions,
            catalog=catalog,
            secret=secret,
            ring=ring,
            oauth=OAuthServer(settings, sessions, catalog, ring, secret),
            acls=acls,
            accounts=Accounts(settings, sessions, secret),
            directory=Directory(sessions, secret, catalog, acls),
            upstream=UpstreamLogin(settings, secret),
            tokens=tokens,
            limits=SharedLimiter(sessions),
        )

    def principal_from_token(self, token: str) -> Principal:
        """Verify a bearer token (see :mod:`skyalert.auth.verified_tokens`); raise InvalidToken."""
        return self.tokens.principal(token)

    def principal_from_session(self, cookie: str) -> Principal | None:
        with self.sessions() as session:
            return principal_for_session(session, self.secret, cookie, self.catalog)

    def user_from_session(self, cookie: str) -> User | None:
        """The logged-in user behind a session cookie (detached from the database)."""
        with self.sessions() as session:
            found = find_session(session, self.secret, cookie)
            return None if found is None else found[1]

    def still_valid(self, principal: Principal) -> bool:
        with self.sessions() as session:
            return still_valid(session, principal, self.catalog)
