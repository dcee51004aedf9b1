"""Authentication and authorization for every route: bearer tokens first, else the session.

Bearer tokens are verified in memory (skyalert.auth.verified_tokens): a deleted credential, a
revoked token or group or a disabled account stops working at once when this process made the
change, and within ``SKYALERT_TOKEN_RECHECK`` seconds when another one did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from skyalert.auth.context import AuthContext
from skyalert.auth.errors import InvalidToken
from skyalert.auth.models import User
from skyalert.auth.principal import Principal
from skyalert.auth.sessions import COOKIE
from skyalert.web.middleware.csrf import HEADER, SAFE_METHODS, check_csrf
from skyalert.web.state import AppState, State


def _unauthorized(detail: str, error: str | None = "invalid_token") -> HTTPException:
    challenge = 'Bearer realm="skyalert"'
    if error is not None:
        quoted = detail.replace("\\", "\\\\").replace('"', "'")
        challenge += f', error="{error}", error_description="{quoted}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


async def token_principal(auth: AuthContext, token: str) -> Principal:
    """The caller behind a bearer token; raise InvalidToken.

    A token checked moments ago is answered in memory, without a thread: a crowd opening
    live-feed sockets, or publishing, with one token.
    """
    known = auth.tokens.cached(token)
    if known is not None:
        return known
    return await run_in_threadpool(auth.principal_from_token, token)


async def current_principal(request: Request, state: State) -> Principal:
    """The caller: ``Authorization: Bearer`` token, else the portal session cookie; or 401."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized(
                "send the access token as 'Authorization: Bearer <token>'", error="invalid_request"
            )
        try:
            return await token_principal(state.auth, token.strip())
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from exc
    cookie = request.cookies.get(COOKIE)
    if cookie:
        principal = await run_in_threadpool(state.auth.principal_from_session, cookie)
        if principal is not None:
            if request.method not in SAFE_METHODS:
                check_csrf(request, state.auth.secret, request.headers.get(HEADER))
            return principal
    raise _unauthorized(
        "authentication required: send 'Authorization: Bearer <token>' (get one from "
        "/oauth2/token with your credential) or log in on the portal",
        error=None,
    )


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def session_user(request: Request, state: AppState) -> User | None:
    """The user logged in on the portal (session cookie), or None."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    return await run_in_threadpool(state.auth.user_from_session, cookie)


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only principals holding ``scope`` (else 403)."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has(scope):
            held = ", ".join(sorted(principal.scopes)) or "none"
            raise HTTPException(
                403,
                f"this needs the scope {scope!r}; yours: {held}. Ask an admin for the group that "
                "gives it, then use a credential (or token) that includes it.",
            )
        return principal

    return dependency
