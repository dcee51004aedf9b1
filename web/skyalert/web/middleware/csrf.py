"""CSRF protection for forms and cookie-authenticated API calls (signed tokens, Origin check).

A middleware gives every browser a random CSRF cookie, ``__Host-skyalert_csrf`` over HTTPS (the
prefix makes browsers refuse one planted by a sibling subdomain or sent without ``Secure``) and
``skyalert_csrf`` over plain HTTP, where browsers refuse ``__Host-`` cookies. The token forms
carry, and API calls made with the session cookie send as ``X-CSRF-Token``, is an HMAC under the
server secret of the session cookie when there is one, else of the CSRF cookie: a planted CSRF
cookie cannot forge a logged-in user's form. A cross-site ``Origin`` on a checked request is
refused too. The session cookie is also ``SameSite=Lax``.
"""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skyalert.auth.sessions import COOKIE as SESSION_COOKIE
from skyalert.broker.core.secrets import keyed_hash, random_token, same

PLAIN_COOKIE = "skyalert_csrf"
HOST_COOKIE = "__Host-skyalert_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_name(secure: bool) -> str:
    """``__Host-`` needs ``Secure`` (RFC 6265bis section 4.1.3.2), so HTTPS sites only."""
    return HOST_COOKIE if secure else PLAIN_COOKIE


def _cookie_of(scope: Scope, name: str) -> str | None:
    for header, value in scope.get("headers", []):
        if header == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except CookieError:  # a garbled cookie header is just no cookie
                return None
            if name in jar:
                return jar[name].value
    return None


class CsrfCookieMiddleware:
    """Puts the browser's CSRF cookie in ``request.state.csrf_cookie``, minting one if needed."""

    def __init__(self, app: ASGIApp, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.name = cookie_name(secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = _cookie_of(scope, self.name)
        minted = cookie is None
        value = cookie or random_token(24)
        scope.setdefault("state", {})["csrf_cookie"] = value

        async def send_with_cookie(message: Message) -> None:
            if minted and message["type"] == "http.response.start":
                attributes = "Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if self.secure else "")
                message.setdefault("headers", []).append(
                    (b"set-cookie", f"{self.name}={value}; {attributes}".encode())
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def csrf_token(request: Request, secret: bytes) -> str:
    """The value forms must send back (and cookie-authenticated API calls as X-CSRF-Token):
    bound to the session when there is one, else to this browser's CSRF cookie."""
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        return keyed_hash(secret, "csrf-session:" + session)
    return keyed_hash(secret, "csrf:" + request.state.csrf_cookie)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _cross_site(request: Request) -> bool:
    """An ``Origin`` that is neither this request's own nor the public URL's (``null`` too)."""
    sent = request.headers.get("origin")
    if sent is None:  # not from a browser, or an old one: the token still decides
        return False
    ours = {_origin(str(request.base_url)), _origin(request.app.state.skyalert.settings.base_url)}
    return sent.lower() not in ours


def check_csrf(request: Request, secret: bytes, sent: str | None) -> None:
    """Raise 403 unless ``sent`` matches this browser's CSRF token and no other site sent it."""
    if _cross_site(request):
        raise HTTPException(
            403,
            "this form was sent from another site (its Origin is not this portal's); open the "
            "page on this portal and submit it from there",
        )
    if not sent or not same(sent, csrf_token(request, secret)):
        raise HTTPException(
            403,
            "the form's security token is missing or stale (CSRF check); reload the page and "
            "submit it again",
        )


async def checked_form(request: Request, secret: bytes) -> FormData:
    """The posted form, once its CSRF token (field ``csrf_token``) passed :func:`check_csrf`."""
    form = await request.form()
    check_csrf(request, secret, str(form.get(FIELD, "")))
    return form
