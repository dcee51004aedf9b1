"""``/api/v1/credentials``: list, create and delete your own client credentials.

With a bearer token, a new credential can hold only scopes that token holds (``all`` means the
token's scopes), so a narrow credential cannot mint a wider one. With the portal session (and
its CSRF header), any scope the account holds.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from skyalert.auth.credentials import ALL, ScopeRequest
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import OIDC_SCOPES
from skyalert.web.api.security import CurrentPrincipal
from skyalert.web.state import State

router = APIRouter(prefix="/api/v1", tags=["credentials"])


class NewCredential(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="Your name for it.")
    scopes: list[str] | Literal["all"] = Field(
        default="all",
        description='Scopes from your groups, or "all" (every scope you hold, now and later).',
    )
    redirect_uris: list[str] = Field(
        default_factory=list,
        description="For apps using the authorization code flow (PKCE S256) on your behalf.",
    )
    public: bool = Field(
        default=False, description="A public client (no secret; authorization code + PKCE only)."
    )


def _allowed_scopes(principal: Principal, wanted: list[str] | Literal["all"]) -> ScopeRequest:
    if principal.client_id is None:  # the portal session: anything the account holds
        return wanted
    held = principal.scopes - OIDC_SCOPES
    if wanted == ALL:
        return sorted(held)
    beyond = set(wanted) - held
    if beyond:
        raise HTTPException(
            403,
            f"this token does not hold {', '.join(sorted(beyond))}, so it cannot give them to a "
            "new credential; use the portal or a token that holds them",
        )
    return wanted


@router.get("/credentials")
async def list_credentials(principal: CurrentPrincipal, state: State) -> dict[str, Any]:
    """Your credentials: scopes, created, last used and use count (never the secrets)."""
    views = await run_in_threadpool(state.auth.directory.credentials, principal.user_id)
    return {"credentials": [v.as_json() for v in views]}


@router.post("/credentials", status_code=201)
async def create_credential(
    body: NewCredential, principal: CurrentPrincipal, state: State
) -> JSONResponse:
    """A new credential. The answer holds its ``client_secret``: shown this once, stored only
    as a hash. Use it at ``/oauth2/token`` (client_credentials) or with Kafka (OAUTHBEARER)."""
    scopes = _allowed_scopes(principal, body.scopes)
    shown, secret = await run_in_threadpool(
        lambda: state.auth.directory.create_credential(
            principal.user_id,
            body.name,
            scopes,
            actor=principal.email,
            redirect_uris=body.redirect_uris,
            public=body.public,
        )
    )
    content = {**shown.as_json(), "client_secret": secret}
    return JSONResponse(content, status_code=201, headers={"Cache-Control": "no-store"})


@router.delete("/credentials/{client_id}", status_code=204)
async def delete_credential(client_id: str, principal: CurrentPrincipal, state: State) -> Response:
    """Delete (revoke) a credential: its tokens are refused from the next request on."""
    await run_in_threadpool(
        lambda: state.auth.directory.delete_credential(
            principal.user_id, client_id, actor=principal.email
        )
    )
    return Response(status_code=204)
