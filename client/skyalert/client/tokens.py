"""Access tokens from the server's token endpoint (OAuth2 client credentials, HTTP Basic)."""

from __future__ import annotations

__all__ = ["Token", "TokenSource", "fetch_token"]

import base64
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from skyalert.client import http
from skyalert.client.errors import ApiError, AuthenticationError, ConfigurationError

#: Renew this many seconds before a token expires.
EARLY = 30.0


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float
    scope: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(sorted((self.scope or "").split()))


def fetch_token(
    token_endpoint: str, client_id: str, client_secret: str, scope: str | None = None
) -> Token:
    """One token for the credential (``client_secret_basic``, as librdkafka's oidc method)."""
    if not client_id or not client_secret:
        raise ConfigurationError("a client id and a client secret are needed to get a token")
    # RFC 6749 2.3.1: form-encode id and secret before Basic encoding.
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    try:
        answer = http.request(
            "POST",
            token_endpoint,
            body=urlencode(form).encode(),
            headers={
                "Authorization": "Basic " + base64.b64encode(pair.encode()).decode(),
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ).json(token_endpoint)
    except ApiError as failure:
        if failure.status in (400, 401, 403):
            said = failure.problem.get("error_description") or failure.problem.get("detail")
            raise AuthenticationError(
                f"the server refused client id {client_id!r}"
                f"{f' ({said})' if said else ''}: the credential was deleted or mistyped; "
                "create one on the portal and run `skyalert-client login` again"
            ) from None
        raise
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise AuthenticationError(f"{token_endpoint} answered without an access token")
    lifetime = answer.get("expires_in")
    seconds = float(lifetime) if isinstance(lifetime, int | float) else 300.0
    scope = answer.get("scope")
    return Token(token, time.monotonic() + seconds, scope if isinstance(scope, str) else None)


class TokenSource:
    """Hands out a valid token, fetching a new one shortly before the old one expires."""

    def __init__(self, token_endpoint: str, client_id: str, client_secret: str) -> None:
        self.token_endpoint = token_endpoint
        self.client_id = client_id
        self._secret = client_secret
        self._token: Token | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._token.expires_at - EARLY:
                self._token = fetch_token(self.token_endpoint, self.client_id, self._secret)
            return self._token.access_token

    def forget(self) -> None:
        """Drop the current token (the server refused it): the next ``get`` fetches a new one."""
        with self._lock:
            self._token = None
