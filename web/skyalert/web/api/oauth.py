"""OAuth2 / OpenID Connect endpoints: a thin Starlette adapter around skyalert.auth.oauth_server.

Token, revocation and introspection errors use RFC 6749's JSON error format, which every OAuth2
client (librdkafka included) understands.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse, Response

from skyalert.auth.models import User
from skyalert.auth.oauth_server import HttpRequest, HttpResponse, user_info
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import OIDC_SCOPES, known_scopes
from skyalert.auth.tokens import ALGORITHMS
from skyalert.web.api.security import CurrentPrincipal, session_user
from skyalert.web.middleware.csrf import FIELD, checked_form
from skyalert.web.middleware.headers import content_security_policy
from skyalert.web.portal.pages import render
from skyalert.web.state import AppState, State

router = APIRouter(tags=["oauth2"])

#: Form fields of the consent page that are ours, not the authorization request's.
CONSENT_FIELDS = frozenset({FIELD, "decision"})


async def http_request(
    request: Request, state: AppState, form: dict[str, str] | None = None
) -> HttpRequest:
    """Starlette request → what authlib needs; the URL is rebuilt on our public base URL."""
    if form is None:
        form = {}
        if request.method == "POST":
            data = await request.form()
            form = {k: v for k, v in data.items() if isinstance(v, str)}
    url = state.settings.base_url + request.url.path
    return HttpRequest(request.method, url, request.headers, dict(request.query_params), form)


def http_response(response: HttpResponse) -> Response:
    headers = dict(response.headers)
    headers.pop("Content-Type", None)
    if isinstance(response.body, dict):
        return JSONResponse(response.body, status_code=response.status, headers=headers)
    return Response(response.body, status_code=response.status, headers=headers)


def openid_configuration(state: AppState) -> dict[str, Any]:
    base = state.settings.base_url
    auth_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "userinfo_endpoint": f"{base}/oauth2/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "scopes_supported": sorted(known_scopes(state.catalog) | OIDC_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["client_credentials", "authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "claims_supported": ["sub", "email", "email_verified", "name", "affiliation"],
    }


@router.get("/.well-known/openid-configuration")
async def well_known_openid(state: State) -> dict[str, Any]:
    """OpenID Connect discovery: endpoints, scopes, grants and algorithms of this issuer."""
    return openid_configuration(state)


@router.get("/.well-known/jwks.json")
async def jwks(state: State) -> JSONResponse:
    """The public keys that sign access and ID tokens (retired keys stay until their tokens
    expire)."""
    keys = await run_in_threadpool(state.auth.ring.jwks)
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=60"})


@router.post("/oauth2/token")
async def token(request: Request, state: State) -> Response:
    """Token endpoint: client_credentials, authorization_code (PKCE S256), refresh_token.

    Clients authenticate with HTTP Basic (client_secret_basic) or form fields
    (client_secret_post)."""
    answer = await run_in_threadpool(state.auth.oauth.token, await http_request(request, state))
    return http_response(answer)


@router.post("/oauth2/revoke")
async def revoke(request: Request, state: State) -> Response:
    """RFC 7009: revoke one of the client's access or refresh tokens."""
    answer = await run_in_threadpool(state.auth.oauth.revoke, await http_request(request, state))
    return http_response(answer)


@router.post("/oauth2/introspect")
async def introspect(request: Request, state: State) -> Response:
    """RFC 7662: is this token (issued to the calling client) active, and what does it hold?"""
    answer = await run_in_threadpool(
        state.auth.oauth.introspect, await http_request(request, state)
    )
    return http_response(answer)


@router.get("/oauth2/userinfo")
async def userinfo(principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """OpenID Connect userinfo for a token that holds the ``openid`` scope."""
    return await _userinfo(principal, state)


@router.post("/oauth2/userinfo")
async def userinfo_post(principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """The same as GET (OpenID Connect allows both)."""
    return await _userinfo(principal, state)


async def _userinfo(principal: Principal, state: AppState) -> dict[str, Any]:
    if principal.client_id is None or not principal.has("openid"):
        raise HTTPException(403, "userinfo needs an access token with the 'openid' scope")

    user = await state.read(lambda s: s.get(User, principal.user_id))
    if user is None:
        raise HTTPException(404, "the account no longer exists")
    return dict(user_info(user, " ".join(principal.scopes)))


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse("/account/login?" + urlencode({"next": target}), status_code=303)


@router.get("/oauth2/authorize", include_in_schema=False)
async def authorize_page(request: Request, state: State) -> Response:
    """Authorization code flow: ask the logged-in user whether the app may act for them."""
    user = await session_user(request, state)
    if user is None:
        return _login_redirect(request)
    oauth_request = await http_request(request, state)
    try:
        consent = await run_in_threadpool(state.auth.oauth.consent, oauth_request, user)
    except OAuth2Error as error:
        reason = f"{error.error}: {error.description or 'invalid request'}"
        return render(
            request, "error.html", status_code=400, title="Authorization refused", detail=reason
        )
    page = render(
        request,
        "account/consent.html",
        user=user,
        consent=consent,
        params=dict(request.query_params),
    )
    # The answer redirects to the app: browsers check that target against form-action too.
    target = urlsplit(consent.redirect_uri)
    page.headers["Content-Security-Policy"] = content_security_policy().replace(
        "form-action 'self'", f"form-action 'self' {target.scheme}://{target.netloc}"
    )
    return page


@router.post("/oauth2/authorize", include_in_schema=False)
async def authorize_answer(
    request: Request, state: State, decision: Annotated[str, Form()]
) -> Response:
    """The consent page's answer: back to the app with a code (or access_denied)."""
    user = await session_user(request, state)
    if user is None:
        return _login_redirect(request)
    data = await checked_form(request, state.auth.secret)
    params = {k: v for k, v in data.items() if isinstance(v, str) and k not in CONSENT_FIELDS}
    oauth_request = HttpRequest(
        "GET", state.settings.base_url + request.url.path, request.headers, params
    )
    answer = await run_in_threadpool(
        state.auth.oauth.authorize, oauth_request, user, decision == "allow"
    )
    return http_response(answer)
