"""CSRF protection for forms and cookie-authenticated API calls (signed double submit).

A middleware gives every browser a random ``skyalert_csrf`` cookie. Forms carry, and API calls
made with the session cookie send as ``X-CSRF-Token``, an HMAC of that cookie under the server
secret; another site can neither read the cookie nor compute the HMAC. The session cookie is
also ``SameSite=Lax``.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skyalert.broker.core.secrets import keyed_hash, random_token, same

COOKIE = "skyalert_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _cookie_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a garbled cookie header is just no cookie
                return None
            if COOKIE in jar:
                return jar[COOKIE].value
    return None


class CsrfCookieMiddleware:
    """Puts the browser's CSRF cookie in ``request.state.csrf_cookie``, minting one if needed."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _cookie_of(scope)
        minted = cookie is None
        value = cookie or random_token(24)
        scope.setdefault("state", {})["csrf_cookie"] = value

        async def send_with_cookie(message: Message) -> None:
            if minted and message["type"] == "http.response.start":
                attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                message.setdefault("headers", []).append(
                    (b"set-cookie", f"{COOKIE}={value}; {attributes}".encode())
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_token(request: Request, secret: bytes) -> str:
    """The value forms must send back (and cookie-authenticated API calls as X-CSRF-Token)."""
    return keyed_hash(secret, "csrf:" + request.state.csrf_cookie)


def check_csrf(request: Request, secret: bytes, sent: str | None) -> None:
    """Raise 403 unless ``sent`` matches this browser's CSRF token."""
    if not sent or not same(sent, csrf_token(request, secret)):
        raise HTTPException(
            403,
            "the form's security token is missing or stale (CSRF check); reload the page and "
            "submit it again",
        )
