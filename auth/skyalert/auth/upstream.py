"""Portal login through upstream OpenID Connect providers (an institution's IdP, ORCID, …).

Authorization code flow with PKCE S256, state and nonce. What the browser must remember between
the redirect out and the callback travels in a short-lived cookie signed with the server secret.
The ID token is checked against the provider's JWKS (issuer, audience, expiry, nonce); the
login is linked to an account by the provider's subject, else by a *verified* email address.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from skyalert.auth.errors import AuthError, InvalidInput, NotFound
from skyalert.auth.models import UpstreamIdentity, User
from skyalert.auth.sessions import end_all_sessions
from skyalert.auth.users import create_user, normalize_email
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.secrets import keyed_hash, random_token
from skyalert.broker.core.settings import Settings

COOKIE = "skyalert_oidc"
#: How long the round trip to the provider may take.
PENDING_SECONDS = 600
METADATA_SECONDS = 3600
TIMEOUT = 10.0
LEEWAY = 30


class UpstreamError(AuthError):
    """The upstream provider failed or answered something we cannot accept."""

    http_status = 502


@dataclass(frozen=True)
class Provider:
    name: str
    issuer: str
    client_id: str
    client_secret: str
    title: str
    scope: str


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str


def providers(settings: Settings) -> dict[str, Provider]:
    found = {}
    for name, conf in settings.oidc_providers.items():
        missing = {"issuer", "client_id", "client_secret"} - conf.keys()
        if missing:
            raise ConfigError(
                f"SKYALERT_OIDC_PROVIDERS: provider {name!r} lacks {', '.join(sorted(missing))}"
            )
        found[name] = Provider(
            name=name,
            issuer=conf["issuer"].rstrip("/"),
            client_id=conf["client_id"],
            client_secret=conf["client_secret"],
            title=conf.get("title", name),
            scope=conf.get("scope", "openid email profile"),
        )
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UpstreamLogin:
    def __init__(self, settings: Settings, secret: bytes) -> None:
        self.settings = settings
        self.secret = secret
        self._metadata: dict[str, tuple[float, dict[str, Any]]] = {}

    def provider(self, name: str) -> Provider:
        found = providers(self.settings).get(name)
        if found is None:
            raise NotFound(f"there is no login provider named {name!r}")
        return found

    def redirect_uri(self, provider: Provider) -> str:
        return f"{self.settings.base_url}/account/login/{provider.name}/callback"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(
                f"the login provider at {url} did not answer usefully: {exc}"
            ) from exc
        if not isinstance(data, dict):
            raise UpstreamError(f"{url} did not return a JSON object")
        return data

    async def metadata(self, provider: Provider) -> dict[str, Any]:
        cached = self._metadata.get(provider.name)
        if cached is not None and time.monotonic() - cached[0] < METADATA_SECONDS:
            return cached[1]
        data = await self._get_json(f"{provider.issuer}/.well-known/openid-configuration")
        if data.get("issuer", "").rstrip("/") != provider.issuer:
            raise UpstreamError(
                f"the provider says its issuer is {data.get('issuer')!r}, not {provider.issuer!r}"
            )
        self._metadata[provider.name] = (time.monotonic(), data)
        return data

    def _seal(self, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":")).encode())
        return f"{body}.{keyed_hash(self.secret, 'oidc:' + body)}"

    def _open(self, cookie: str | None) -> dict[str, Any]:
        body, _, mac = (cookie or "").partition(".")
        if not body or not hmac.compare_digest(mac, keyed_hash(self.secret, "oidc:" + body)):
            raise InvalidInput("the login attempt is unknown to this browser; start it again")
        payload: dict[str, Any] = json.loads(_unb64(body))
        if payload.get("exp", 0) < time.time():
            raise InvalidInput("the login attempt took too long; start it again")
        return payload

    async def start(self, provider: Provider, next_page: str) -> tuple[str, str]:
        """The provider URL to send the browser to, and the cookie to set meanwhile."""
        metadata = await self.metadata(provider)
        state, nonce, verifier = random_token(24), random_token(24), random_token(48)
        url = prepare_grant_uri(
            metadata["authorization_endpoint"],
            client_id=provider.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri(provider),
            scope=provider.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        cookie = self._seal(
            {
                "p": provider.name,
                "s": state,
                "n": nonce,
                "v": verifier,
                "next": next_page,
                "exp": int(time.time()) + PENDING_SECONDS,
            }
        )
        return url, cookie

    async def finish(
        self, provider: Provider, code: str, state: str, cookie: str | None
    ) -> tuple[Identity, str]:
        """Check the callback, redeem the code, verify the ID token; returns who logged in
        and the page they wanted."""
        pending = self._open(cookie)
        if pending["p"] != provider.name or not hmac.compare_digest(pending["s"], state):
            raise InvalidInput("the login answer does not match this browser's attempt")
        metadata = await self.metadata(provider)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(
                    metadata["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self.redirect_uri(provider),
                        "code_verifier": pending["v"],
                    },
                    auth=(provider.client_id, provider.client_secret),
                )
            tokens = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"the login provider's token endpoint failed: {exc}") from exc
        if response.status_code != 200 or "id_token" not in tokens:
            raise UpstreamError(
                f"the login provider refused the code: {tokens.get('error', response.status_code)}"
                f" {tokens.get('error_description', '')}".rstrip()
            )
        claims = await self._verify_id_token(provider, metadata, tokens["id_token"])
        if claims.get("nonce") != pending["n"]:
            raise UpstreamError("the ID token's nonce does not match this login attempt")
        identity = Identity(
            provider=provider.name,
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=claims.get("email_verified") is True,
            name=str(claims.get("name", ""))[:200],
        )
        return identity, str(pending["next"])

    async def _verify_id_token(
        self, provider: Provider, metadata: dict[str, Any], id_token: str
    ) -> dict[str, Any]:
        keys = KeySet.import_key_set(await self._get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token, keys, algorithms=["RS256", "ES256"]
            ).claims
        except JoseError as exc:
            raise UpstreamError(f"the provider's ID token does not verify: {exc}") from exc
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        now = time.time()
        if (
            claims.get("iss", "").rstrip("/") != provider.issuer
            or provider.client_id not in audiences
            or not isinstance(claims.get("exp"), int)
            or claims["exp"] + LEEWAY < now
            or "sub" not in claims
        ):
            raise UpstreamError("the provider's ID token is not for us, expired or incomplete")
        return claims


def link_account(session: Session, identity: Identity) -> User:
    """The account for an upstream login: linked before, else by verified email, else new."""
    linked = session.scalar(
        select(User)
        .join(UpstreamIdentity, UpstreamIdentity.user_id == User.id)
        .where(
            UpstreamIdentity.provider == identity.provider,
            UpstreamIdentity.subject == identity.subject,
        )
    )
    if linked is not None:
        return linked
    if not identity.email or not identity.email_verified:
        raise InvalidInput(
            "the login provider did not confirm an email address for you, so the login cannot "
            "be linked to an account; sign up with email and password instead"
        )
    address = normalize_email(identity.email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        user = create_user(session, address, None, verified=True, name=identity.name)
    elif not user.verified:
        # Someone signed up with this address but never proved it: perhaps not its owner.
        # The provider vouches for the owner, so the unproven password must not stay usable.
        user.email_verified_at = utcnow()
        user.password_hash = None
        end_all_sessions(session, user.id)
    session.add(
        UpstreamIdentity(user_id=user.id, provider=identity.provider, subject=identity.subject)
    )
    return user
