"""``/account/login/{provider}``: log in through an upstream OpenID Connect provider."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from skyalert.auth.errors import AuthError
from skyalert.auth.upstream import COOKIE, PENDING_SECONDS
from skyalert.web.portal.account import safe_next, set_session_cookie
from skyalert.web.portal.pages import Viewer, render
from skyalert.web.state import State

router = APIRouter(prefix="/account/login", include_in_schema=False)
COOKIE_PATH = "/account/login"


@router.get("/{provider}")
async def start(
    request: Request, state: State, viewer: Viewer, provider: str, next: str = "/account"
) -> Response:
    """Off to the provider, with state, nonce and PKCE remembered in a signed cookie."""
    try:
        chosen = state.auth.upstream.provider(provider)
        url, cookie = await state.auth.upstream.start(chosen, safe_next(next))
    except AuthError as exc:
        return render(
            request,
            "account/message.html",
            status_code=exc.http_status,
            title="Login not possible",
            text=str(exc),
        )
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=PENDING_SECONDS,
        httponly=True,
        samesite="lax",
        secure=state.settings.base_url.startswith("https://"),
        path=COOKIE_PATH,
    )
    return response


@router.get("/{provider}/callback")
async def callback(
    request: Request,
    state: State,
    *,
    viewer: Viewer,
    provider: str,
    code: str = "",
    error: str = "",
) -> Response:
    """Back from the provider: redeem the code, check the ID token, log in."""
    returned_state = request.query_params.get("state", "")
    try:
        chosen = state.auth.upstream.provider(provider)
        if error or not code:
            detail = request.query_params.get("error_description", error or "no code returned")
            return render(
                request,
                "account/message.html",
                status_code=400,
                title="Login cancelled",
                text=f"{chosen.title} did not log you in: {detail}",
            )
        identity, target = await state.auth.upstream.finish(
            chosen, code, returned_state, request.cookies.get(COOKIE)
        )
        session_cookie = await run_in_threadpool(state.auth.accounts.login_upstream, identity)
    except AuthError as exc:
        return render(
            request,
            "account/message.html",
            status_code=exc.http_status,
            title="Login failed",
            text=str(exc),
        )
    response = RedirectResponse(safe_next(target), status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    set_session_cookie(response, state, session_cookie)
    return response
