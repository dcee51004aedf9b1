"""Portal pages for accounts: sign up, verify, log in and out, reset, profile, email, credentials.

Every form posts a CSRF token; a failed form comes back with the reason and what was typed
(never the password).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from skyalert.auth.credentials import ALL
from skyalert.auth.errors import AuthError
from skyalert.auth.models import User
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import scopes_of_groups
from skyalert.auth.sessions import COOKIE
from skyalert.web.middleware.csrf import checked_form
from skyalert.web.portal.pages import LoggedIn, Viewer, render
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/account", include_in_schema=False)

Text = Annotated[str, Form()]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None) -> str:
    """Only paths on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/account"


def set_session_cookie(response: Response, state: AppState, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=state.settings.session_lifetime,
        httponly=True,
        samesite="lax",
        secure=state.settings.base_url.startswith("https://"),
        path="/",
    )


def _refused(request: Request, name: str, exc: AuthError, **context: Any) -> HTMLResponse:
    """A form's page again with the reason; a rate limit says when to try again."""
    page = render(request, name, status_code=exc.http_status, error=str(exc), **context)
    if exc.retry_after is not None:
        page.headers["Retry-After"] = str(exc.retry_after)
    return page


def _message(request: Request, title: str, text: str, status_code: int = 200) -> HTMLResponse:
    return render(request, "account/message.html", status_code=status_code, title=title, text=text)


# -- sign-up and verification ----------------------------------------------------------------


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(request: Request, viewer: Viewer) -> HTMLResponse:
    return render(request, "account/signup.html", values={})


@router.post("/signup", response_class=HTMLResponse)
async def signup(
    request: Request,
    state: State,
    *,
    viewer: Viewer,
    email: Text,
    password: Text,
    name: Text = "",
    affiliation: Text = "",
) -> HTMLResponse:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            state.auth.accounts.signup, email, password, client_address(request), name, affiliation
        )
    except AuthError as exc:
        values = {"email": email, "name": name, "affiliation": affiliation}
        return _refused(request, "account/signup.html", exc, values=values)
    return _message(
        request,
        "Check your inbox",
        f"We have sent a link to {email.strip()}. Open it to confirm your address, then log in.",
    )


@router.get("/verify", response_class=HTMLResponse)
async def verify(request: Request, state: State, viewer: Viewer, token: str = "") -> HTMLResponse:
    try:
        address = await run_in_threadpool(state.auth.accounts.verify_email, token)
    except AuthError as exc:
        return _message(request, "Link not valid", str(exc), exc.http_status)
    return _message(request, "Address confirmed", f"{address} is confirmed. You can log in now.")


# -- login and logout ------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
async def login_page(
    request: Request, state: State, viewer: Viewer, next: str = "/account"
) -> HTMLResponse:
    providers = {
        name: conf.get("title", name) for name, conf in state.settings.oidc_providers.items()
    }
    return render(
        request, "account/login.html", next=safe_next(next), values={}, providers=providers
    )


@router.post("/login", response_model=None)
async def login(
    request: Request,
    state: State,
    *,
    viewer: Viewer,
    email: Text,
    password: Text,
    next: Text = "/account",
) -> Response:
    await checked_form(request, state.auth.secret)
    try:
        cookie = await run_in_threadpool(
            state.auth.accounts.login, email, password, client_address(request)
        )
    except AuthError as exc:
        return _refused(
            request,
            "account/login.html",
            exc,
            next=safe_next(next),
            values={"email": email},
            providers={},
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, state, cookie)
    return response


@router.post("/logout")
async def logout(request: Request, state: State) -> RedirectResponse:
    await checked_form(request, state.auth.secret)
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await run_in_threadpool(state.auth.accounts.logout, cookie)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


# -- password reset --------------------------------------------------------------------------


@router.get("/reset", response_class=HTMLResponse)
async def reset_page(request: Request, viewer: Viewer) -> HTMLResponse:
    return render(request, "account/reset.html")


@router.post("/reset", response_class=HTMLResponse)
async def reset_request(
    request: Request, state: State, viewer: Viewer, email: Text
) -> HTMLResponse:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            state.auth.accounts.request_password_reset, email, client_address(request)
        )
    except AuthError as exc:
        return _refused(request, "account/reset.html", exc)
    return _message(
        request,
        "Check your inbox",
        "If an account uses that address, we have sent it a link to choose a new "
        "password. The link works once, for one hour.",
    )


@router.get("/reset/confirm", response_class=HTMLResponse)
async def reset_confirm_page(request: Request, viewer: Viewer, token: str = "") -> HTMLResponse:
    return render(request, "account/reset_confirm.html", token=token)


@router.post("/reset/confirm", response_class=HTMLResponse)
async def reset_confirm(
    request: Request, state: State, viewer: Viewer, token: Text, password: Text
) -> HTMLResponse:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(state.auth.accounts.reset_password, token, password)
    except AuthError as exc:
        return render(
            request,
            "account/reset_confirm.html",
            status_code=exc.http_status,
            error=str(exc),
            token=token,
        )
    return _message(
        request,
        "Password changed",
        "Your new password is set and every other login has ended. Log in again.",
    )


# -- the account page: profile, password, email ------------------------------------------------


async def _account_page(
    request: Request, state: AppState, viewer: Principal, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    user = await state.read(lambda s: s.get(User, viewer.user_id))
    groups = await run_in_threadpool(state.auth.directory.groups, viewer.user_id)
    return render(
        request,
        "account/profile.html",
        status_code=status_code,
        user=user,
        groups=sorted(groups),
        scopes=sorted(viewer.scopes),
        **extra,
    )


@router.get("", response_class=HTMLResponse)
async def account(request: Request, state: State, viewer: LoggedIn) -> Response:
    return await _account_page(request, state, viewer)


@router.post("/profile", response_model=None)
async def profile(
    request: Request,
    state: State,
    viewer: LoggedIn,
    name: Text = "",
    affiliation: Text = "",
) -> Response:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            state.auth.accounts.update_profile, viewer.user_id, name, affiliation
        )
    except AuthError as exc:
        return await _account_page(request, state, viewer, exc.http_status, error=str(exc))
    return await _account_page(request, state, viewer, notice="Profile saved.")


@router.post("/password", response_model=None)
async def change_password(
    request: Request,
    state: State,
    viewer: LoggedIn,
    current: Text = "",
    password: Text = "",
) -> Response:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            state.auth.accounts.change_password,
            viewer.user_id,
            current,
            password,
            request.cookies.get(COOKIE, ""),
        )
    except AuthError as exc:
        return await _account_page(request, state, viewer, exc.http_status, error=str(exc))
    return await _account_page(
        request, state, viewer, notice="Password changed; your other logins have ended."
    )


@router.post("/email", response_model=None)
async def change_email(
    request: Request, state: State, viewer: LoggedIn, email: Text, password: Text = ""
) -> Response:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            state.auth.accounts.request_email_change, viewer.user_id, email, password
        )
    except AuthError as exc:
        return await _account_page(request, state, viewer, exc.http_status, error=str(exc))
    return await _account_page(
        request,
        state,
        viewer,
        notice=f"We have sent a link to {email.strip()}: open it to "
        "switch your account to that address.",
    )


@router.get("/email/confirm", response_class=HTMLResponse)
async def confirm_email(
    request: Request, state: State, viewer: Viewer, token: str = ""
) -> HTMLResponse:
    try:
        address = await run_in_threadpool(state.auth.accounts.confirm_email_change, token)
    except AuthError as exc:
        return _message(request, "Link not valid", str(exc), exc.http_status)
    return _message(request, "Address changed", f"Your account now uses {address}.")


# -- credentials -----------------------------------------------------------------------------


async def _credentials_page(
    request: Request, state: AppState, viewer: Principal, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    views = await run_in_threadpool(state.auth.directory.credentials, viewer.user_id)
    groups = await run_in_threadpool(state.auth.directory.groups, viewer.user_id)
    held = sorted(scopes_of_groups(groups, state.catalog))
    return render(
        request,
        "account/credentials.html",
        status_code=status_code,
        credentials=views,
        scopes=held,
        **extra,
    )


@router.get("/credentials", response_class=HTMLResponse)
async def credentials(request: Request, state: State, viewer: LoggedIn) -> Response:
    return await _credentials_page(request, state, viewer)


@router.post("/credentials", response_model=None)
async def create_credential(
    request: Request, state: State, viewer: LoggedIn, name: Text = ""
) -> Response:
    form = await checked_form(request, state.auth.secret)
    chosen = [str(s) for s in form.getlist("scope")]
    scopes: list[str] | str = ALL if ALL in chosen or not chosen else chosen
    try:
        shown, secret = await run_in_threadpool(
            lambda: state.auth.directory.create_credential(
                viewer.user_id, name, scopes, actor=viewer.email
            )
        )
    except AuthError as exc:
        return await _credentials_page(request, state, viewer, exc.http_status, error=str(exc))
    return render(
        request,
        "account/credential_created.html",
        credential=shown,
        secret=secret,
        token_endpoint=f"{state.settings.base_url}/oauth2/token",
    )


@router.post("/credentials/{client_id}/delete", response_model=None)
async def delete_credential(
    request: Request, state: State, viewer: LoggedIn, client_id: str
) -> Response:
    await checked_form(request, state.auth.secret)
    try:
        await run_in_threadpool(
            lambda: state.auth.directory.delete_credential(
                viewer.user_id, client_id, actor=viewer.email
            )
        )
    except AuthError as exc:
        return await _credentials_page(request, state, viewer, exc.http_status, error=str(exc))
    return await _credentials_page(
        request, state, viewer, notice=f"Credential {client_id} deleted; its tokens no longer work."
    )
