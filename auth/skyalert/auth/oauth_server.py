"""The OAuth2 / OpenID Connect authorization server: authlib's core with our storage.

Framework-neutral: the web layer turns its request into an ``HttpRequest`` (after reading the
body) and our ``HttpResponse`` back into its own. Every call runs in one database transaction.

Grants: ``client_credentials`` (credentials; librdkafka's ``oidc`` method), ``authorization_code``
with PKCE S256 (apps acting for a user; ``openid`` adds an ID token), ``refresh_token`` (rotated).
Endpoints: RFC 7009 revocation and RFC 7662 introspection, for a client's own tokens.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.oauth2 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    grants,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.credentials import check_secret, effective_scopes, find_credential, mark_used
from skyalert.auth.errors import InvalidToken
from skyalert.auth.keys import KeyRing
from skyalert.auth.models import AuthorizationCode, Credential, RefreshToken, RevokedToken, User
from skyalert.auth.ratelimit import hit
from skyalert.auth.scopes import OIDC_SCOPES, known_scopes
from skyalert.auth.tokens import issue_access_token, verify_access_token
from skyalert.auth.users import scopes_of_user
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.secrets import keyed_hash, random_token
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import Catalog

log = logging.getLogger(__name__)

CODE_LIFETIME = timedelta(minutes=5)
CLIENT_AUTH = ("client_secret_basic", "client_secret_post")
_db: contextvars.ContextVar[Session] = contextvars.ContextVar("skyalert_oauth_db")


@dataclass
class HttpRequest:
    """What the server needs of an HTTP request; ``headers`` must be case-insensitive."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)


@dataclass
class HttpResponse:
    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]]


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, http: HttpRequest) -> None:
        super().__init__(http.method, http.url, headers=http.headers)
        self.payload = BasicOAuth2Payload({**http.query, **http.form})
        self._http = http

    @property
    def args(self) -> dict[str, str]:
        return self._http.query

    @property
    def form(self) -> dict[str, str]:
        return self._http.form


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    """A credential as authlib sees it, with the scopes it may use now."""

    credential: Credential
    secret: bytes
    #: What the credential itself may use now (client_credentials).
    scopes: frozenset[str]
    #: What an app may ask a user for (authorization code): its listed scopes, or with
    #: "all" any scope (the user's own groups then decide).
    app_scopes: frozenset[str]

    @property
    def client_id(self) -> str:
        return self.credential.client_id

    @property
    def redirect_uris(self) -> list[str]:
        return self.credential.redirect_uris.split()

    @property
    def public(self) -> bool:
        return self.credential.secret_hash is None

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = self.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        wanted = set((scope or "").split())
        return " ".join(sorted(wanted & (self.app_scopes | OIDC_SCOPES)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(self.credential, self.secret, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public:
            return method == "none"
        return method in CLIENT_AUTH

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.redirect_uris)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return not self.public
        return grant_type in {"authorization_code", "refresh_token"} and bool(self.redirect_uris)


def _check_scope(requested: str | None, allowed: frozenset[str]) -> None:
    missing = set((requested or "").split()) - allowed
    if missing:
        raise InvalidScopeError(
            f"this client may not ask for {' '.join(sorted(missing))}; "
            f"it may use: {' '.join(sorted(allowed)) or '(nothing)'}"
        )


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH

    def validate_requested_scope(self) -> None:
        _check_scope(self.request.payload.scope, self.request.client.scopes)


@dataclass
class _Code:
    """An authorization code row as authlib's code and OIDC mixins see it."""

    row: AuthorizationCode

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None

    @property
    def code_challenge(self) -> str:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str:
        return self.row.code_challenge_method


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    """Codes work once, and a failed redemption (wrong verifier, redirect URI or client)
    burns the code too: whoever tried it may be guessing with a stolen one."""

    TOKEN_ENDPOINT_AUTH_METHODS = (*CLIENT_AUTH, "none")
    _presented: AuthorizationCode | None = None

    def validate_token_request(self) -> None:
        try:
            super().validate_token_request()
        except OAuth2Error:
            if self._presented is not None:
                _db.get().delete(self._presented)  # the error answer still commits
            raise

    def validate_requested_scope(self) -> None:
        _check_scope(self.request.payload.scope, self.request.client.app_scopes | OIDC_SCOPES)

    def save_authorization_code(self, code: str, request: _Request) -> None:
        server: OAuthServer = self.server
        user: User = request.user
        held = scopes_of_user(_db.get(), user.id, server.catalog) | OIDC_SCOPES
        now = utcnow()
        _db.get().add(
            AuthorizationCode(
                code_hash=keyed_hash(server.secret, code),
                credential_id=request.client.credential.id,
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=" ".join(sorted(set(request.scope.split()) & held)),
                nonce=request.payload.data.get("nonce"),
                code_challenge=request.payload.data.get("code_challenge", ""),
                code_challenge_method=request.payload.data.get("code_challenge_method", ""),
                auth_time=now,
                expires_at=now + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> _Code | None:
        server: OAuthServer = self.server
        row = _db.get().scalar(
            select(AuthorizationCode).where(
                AuthorizationCode.code_hash == keyed_hash(server.secret, code),
                AuthorizationCode.expires_at > utcnow(),
            )
        )
        self._presented = row
        if row is None or row.credential_id != client.credential.id:
            return None
        return _Code(row)

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        _db.get().delete(authorization_code.row)

    def authenticate_user(self, authorization_code: _Code) -> User | None:
        return _db.get().get(User, authorization_code.row.user_id)


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE is required of every client, and only with S256 (``plain`` protects nothing)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant: AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError(
                "Missing 'code_challenge': PKCE with code_challenge_method=S256 is required"
            )
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Unsupported 'code_challenge_method': use S256")
        super().validate_code_challenge(grant, redirect_uri)


@dataclass
class _Refresh:
    row: RefreshToken
    credential_id: int

    def check_client(self, client: Client) -> bool:
        return self.credential_id == client.credential.id

    def get_scope(self) -> str:
        return self.row.scope


class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = (*CLIENT_AUTH, "none")
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> _Refresh | None:
        server: OAuthServer = self.server
        row = _db.get().scalar(
            select(RefreshToken).where(
                RefreshToken.token_hash == keyed_hash(server.secret, refresh_token),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > utcnow(),
            )
        )
        return None if row is None else _Refresh(row, row.credential_id)

    def authenticate_user(self, refresh_token: _Refresh) -> User | None:
        return _db.get().get(User, refresh_token.row.user_id)

    def revoke_old_credential(self, refresh_token: _Refresh) -> None:
        refresh_token.row.revoked_at = utcnow()


class IDToken(OpenIDCode):  # type: ignore[misc]
    """``openid`` in the scope: an ID token signed with our current key."""

    def __init__(self, server: OAuthServer) -> None:
        super().__init__(require_nonce=False)
        self._server = server

    def resolve_client_private_key(self, client: Client) -> Any:
        return self._server.ring.signing_key().private

    def get_client_algorithm(self, client: Client) -> str:
        return self._server.ring.signing_key().alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = self._server.ring.signing_key()
        return {"alg": key.alg, "kid": key.kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {
            "iss": self._server.settings.base_url,
            "aud": [client.client_id],
            "exp": int(time.time()) + self._server.settings.token_lifetime,
        }

    def exists_nonce(self, nonce: str, request: _Request) -> bool:
        found = _db.get().scalar(
            select(AuthorizationCode.id).where(AuthorizationCode.nonce == nonce)
        )
        return found is not None

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return user_info(user, scope)


def user_info(user: User, scope: str) -> UserInfo:
    """OpenID Connect claims of ``user`` for the granted ``scope``."""
    scopes = set(scope.split())
    info = UserInfo(sub=user.subject)
    if "email" in scopes:
        info["email"] = user.email
        info["email_verified"] = user.verified
    if "profile" in scopes:
        info["name"] = user.name
        info["affiliation"] = user.affiliation
    return info


@dataclass
class _AccessToken:
    """A JWT access token presented for revocation or introspection."""

    claims: dict[str, Any]

    def check_client(self, client: Client) -> bool:
        return bool(self.claims["client_id"] == client.client_id)

    def is_expired(self) -> bool:
        return bool(self.claims["exp"] <= time.time())

    def is_revoked(self) -> bool:
        return _db.get().get(RevokedToken, self.claims["jti"]) is not None


def _query_token(server: OAuthServer, token: str, hint: str | None) -> Any:
    if hint != "refresh_token" and token.count(".") == 2:
        try:
            claims = verify_access_token(server.ring, server.settings, token)
        except InvalidToken:
            return None
        return _AccessToken(
            {
                "jti": claims.jti,
                "client_id": claims.client_id,
                "sub": claims.subject,
                "scope": " ".join(sorted(claims.scopes)),
                "exp": int(claims.expires_at.timestamp()),
                "iat": int(claims.issued_at.timestamp()),
            }
        )
    row = _db.get().scalar(
        select(RefreshToken).where(RefreshToken.token_hash == keyed_hash(server.secret, token))
    )
    return None if row is None else _Refresh(row, row.credential_id)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = (*CLIENT_AUTH, "none")

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string, token_type_hint)

    def revoke_token(self, token: _AccessToken | _Refresh, request: _Request) -> None:
        session = _db.get()
        if isinstance(token, _Refresh):
            token.row.revoked_at = utcnow()
        elif session.get(RevokedToken, token.claims["jti"]) is None:
            session.add(
                RevokedToken(
                    jti=token.claims["jti"],
                    expires_at=datetime.fromtimestamp(token.claims["exp"], UTC),
                )
            )


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = CLIENT_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        return _query_token(self.server, token_string, token_type_hint)

    def check_permission(self, token: Any, client: Client, request: _Request) -> bool:
        return bool(token.check_client(client))

    def introspect_token(self, token: _AccessToken | _Refresh) -> dict[str, Any]:
        server: OAuthServer = self.server
        if isinstance(token, _Refresh):
            if token.row.revoked_at is not None or token.row.expires_at <= utcnow():
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "scope": token.row.scope,
                "exp": int(token.row.expires_at.timestamp()),
            }
        if (
            _db.get().scalar(
                select(Credential.id).where(Credential.client_id == token.claims["client_id"])
            )
            is None
        ):
            return {"active": False}
        return {
            **token.claims,
            "active": True,
            "token_type": "Bearer",
            "iss": server.settings.base_url,
            "aud": server.settings.token_audience,
        }


class OAuthServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        catalog: Catalog,
        ring: KeyRing,
        secret: bytes,
    ) -> None:
        super().__init__()
        # authlib's grants log every issued token (access and refresh) at DEBUG: keep them out
        # of our logs whatever the log level.
        logging.getLogger("authlib.oauth2.rfc6749.grants").setLevel(logging.INFO)
        self.settings = settings
        self.sessions = sessions
        self.catalog = catalog
        self.ring = ring
        self.secret = secret
        self.token_rate = settings.rate_limit_token
        self.known_scopes = known_scopes(catalog)
        self.register_token_generator("default", self._generate_token)
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256Only(required=True), IDToken(self)])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    # -- authlib's hooks ---------------------------------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        session = _db.get()
        credential = find_credential(session, client_id)
        if credential is None or credential.user.disabled:
            return None
        held = scopes_of_user(session, credential.user_id, self.catalog)
        listed = frozenset(credential.scopes.split())
        return Client(
            credential,
            self.secret,
            effective_scopes(credential, held),
            self.known_scopes if credential.all_scopes else listed,
        )

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        client: Client = request.client
        session = _db.get()
        if "refresh_token" in token:
            session.add(
                RefreshToken(
                    token_hash=keyed_hash(self.secret, token["refresh_token"]),
                    credential_id=client.credential.id,
                    user_id=request.user.id,
                    scope=token["scope"],
                    expires_at=utcnow() + timedelta(seconds=self.settings.refresh_token_lifetime),
                )
            )
        mark_used(session, client.credential.id)

    def _generate_token(
        self,
        *,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        if user is None:  # client credentials: the credential acts for itself
            subject = client.client_id
            scopes = frozenset(scope.split()) if scope else client.scopes
        else:
            subject = user.subject
            held = scopes_of_user(_db.get(), user.id, self.catalog) | OIDC_SCOPES
            scopes = frozenset((scope or "").split()) & held
        access_token, _claims = issue_access_token(
            self.ring, self.settings, subject=subject, client_id=client.client_id, scopes=scopes
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": access_token,
            "expires_in": self.settings.token_lifetime,
            "scope": " ".join(sorted(scopes)),
        }
        if user is not None and include_refresh_token:
            token["refresh_token"] = random_token(32)
        return token

    def create_oauth2_request(self, request: HttpRequest) -> _Request:
        return _Request(request)

    def handle_response(
        self, status: int, body: dict[str, Any] | str, headers: list[tuple[str, str]]
    ) -> HttpResponse:
        return HttpResponse(status, body, list(headers))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    # -- what the web layer calls ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self.sessions.begin() as session:
            token = _db.set(session)
            try:
                yield session
            finally:
                _db.reset(token)

    def token(self, request: HttpRequest) -> HttpResponse:
        client_id, _secret = extract_basic_authorization(request.headers)
        client_id = client_id or request.form.get("client_id") or "-"
        hit(self.sessions, f"token:{client_id}", self.token_rate, "token requests")
        with self._transaction():
            response: HttpResponse = self.create_token_response(request)
            return response

    def revoke(self, request: HttpRequest) -> HttpResponse:
        with self._transaction():
            response: HttpResponse = self.create_endpoint_response("revocation", request)
            return response

    def introspect(self, request: HttpRequest) -> HttpResponse:
        with self._transaction():
            response: HttpResponse = self.create_endpoint_response("introspection", request)
            return response

    def consent(self, request: HttpRequest, user: User) -> ConsentRequest:
        """Validate an authorization request for ``user``; raise OAuth2Error when invalid."""
        with self._transaction() as session:
            grant = self.get_consent_grant(request, end_user=session.merge(user))
            client: Client = grant.request.client
            held = scopes_of_user(session, user.id, self.catalog) | OIDC_SCOPES
            granted = frozenset(grant.request.scope.split()) & held
            return ConsentRequest(
                client.client_id, client.credential.name, granted, grant.redirect_uri
            )

    def authorize(self, request: HttpRequest, user: User, approved: bool) -> HttpResponse:
        """The user answered the consent page: redirect back to the app with a code or error."""
        with self._transaction() as session:
            end_user = session.merge(user)
            try:
                grant = self.get_consent_grant(request, end_user=end_user)
            except OAuth2Error as error:
                response: HttpResponse = self.handle_error_response(request, error)
                return response
            granted: HttpResponse = self.create_authorization_response(
                request, grant_user=end_user if approved else None, grant=grant
            )
            return granted


@dataclass(frozen=True)
class ConsentRequest:
    client_id: str
    client_name: str
    scopes: frozenset[str]
    redirect_uri: str
