"""``/admin/…``: users and their groups, topics in Kafka, publishers and their rejects,
credentials, and the audit log. Only for members of ``admins``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal, TypeVar

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from skyalert.auth.errors import AuthError
from skyalert.auth.principal import Principal
from skyalert.auth.scopes import ADMIN, PUBLIC_GROUP, known_groups
from skyalert.broker.core.settings import Mirror
from skyalert.broker.kafka.topic_state import TopicState, topic_states
from skyalert.broker.mirror.status import LastAlert, PartitionLag, last_alert, upstream_lag
from skyalert.web.middleware.csrf import check_csrf
from skyalert.web.portal import admin_queries
from skyalert.web.portal.pages import LoggedIn, render
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/admin", include_in_schema=False)
T = TypeVar("T")


async def admin_viewer(viewer: LoggedIn) -> Principal:
    if not viewer.has(ADMIN):
        raise HTTPException(403, "These pages are for administrators (the group admins).")
    return viewer


Admin = Annotated[Principal, Depends(admin_viewer)]
Csrf = Annotated[str, Form(alias="csrf_token")]


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, admin: Admin) -> HTMLResponse:
    return render(request, "admin/index.html", section="")


@router.get("/users", response_class=HTMLResponse)
async def users(
    request: Request, state: State, admin: Admin, q: str = "", group: str = ""
) -> HTMLResponse:
    rows = await state.read(lambda s: admin_queries.search_users(s, q.strip(), group))
    groups = sorted(known_groups(state.catalog) - {PUBLIC_GROUP})
    return render(
        request, "admin/users.html", section="users", rows=rows, q=q, group=group, groups=groups
    )


async def _user_page(
    request: Request, state: AppState, user_id: int, error: str = "", status_code: int = 200
) -> HTMLResponse:
    row = await state.read(lambda s: admin_queries.user_row(s, user_id))
    if row is None:
        raise HTTPException(404, f"There is no account with id {user_id}.")
    creds = await run_in_threadpool(state.auth.directory.credentials, user_id)
    grantable = sorted(known_groups(state.catalog) - {PUBLIC_GROUP} - set(row.groups))
    return render(
        request,
        "admin/user.html",
        status_code=status_code,
        section="users",
        row=row,
        credentials=creds,
        grantable=grantable,
        error=error,
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def user_detail(request: Request, state: State, admin: Admin, user_id: int) -> HTMLResponse:
    return await _user_page(request, state, user_id)


async def _change_group(
    request: Request, state: AppState, admin: Principal, user_id: int, group: str, *, grant: bool
) -> Response:
    row = await state.read(lambda s: admin_queries.user_row(s, user_id))
    if row is None:
        raise HTTPException(404, f"There is no account with id {user_id}.")
    change = state.auth.directory.grant if grant else state.auth.directory.revoke
    try:
        await run_in_threadpool(lambda: change(row.email, group, actor=admin.email))
    except AuthError as exc:
        return await _user_page(request, state, user_id, str(exc), exc.http_status)
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/access", response_model=None)
async def change_access(
    *,
    request: Request,
    state: State,
    admin: Admin,
    user_id: int,
    access: Annotated[Literal["disabled", "active"], Form()],
    csrf: Csrf = "",
) -> Response:
    """Disable an account (no login, tokens refused, Kafka ACLs gone) or re-enable it."""
    check_csrf(request, state.auth.secret, csrf)
    row = await state.read(lambda s: admin_queries.user_row(s, user_id))
    if row is None:
        raise HTTPException(404, f"There is no account with id {user_id}.")
    if row.email == admin.email and access == "disabled":
        return await _user_page(
            request, state, user_id, "You cannot disable your own account.", 409
        )
    disable = access == "disabled"
    await run_in_threadpool(
        lambda: state.auth.directory.set_disabled(row.email, disable, actor=admin.email)
    )
    return RedirectResponse(f"/admin/users/{user_id}", status_code=303)


@router.post("/users/{user_id}/{action}", response_model=None)
async def change_group(
    *,
    request: Request,
    state: State,
    admin: Admin,
    user_id: int,
    action: Literal["grant", "revoke"],
    group: Annotated[str, Form()],
    csrf: Csrf = "",
) -> Response:
    """Grant or revoke one group (the two forms on a user's row)."""
    check_csrf(request, state.auth.secret, csrf)
    return await _change_group(request, state, admin, user_id, group, grant=action == "grant")


def _topic_states(state: AppState) -> list[TopicState] | None:
    try:
        return topic_states(state.kafka.admin(), state.catalog.topics, timeout=3.0)
    except KafkaException:
        return None


@router.get("/topics", response_class=HTMLResponse)
async def topics(request: Request, state: State, admin: Admin) -> HTMLResponse:
    states = await run_in_threadpool(_topic_states, state)
    counts = await run_in_threadpool(state.kafka.counts, [t.name for t in state.catalog.topics])
    return render(
        request, "admin/topics.html", section="topics", states=states, counts=counts or {}
    )


@dataclass(frozen=True)
class MirrorRow:
    """One configured mirror as the mirrors page shows it."""

    mirror: Mirror
    lag: list[PartitionLag] | None  # None: upstream did not answer (then ``error`` says why)
    error: str
    last: LastAlert | None


def _lag(mirror: Mirror) -> tuple[list[PartitionLag] | None, str]:
    try:
        return upstream_lag(mirror), ""
    except KafkaException as exc:
        return None, f"upstream {mirror.bootstrap} did not answer: {exc.args[0]}"


@router.get("/mirrors", response_class=HTMLResponse)
async def mirrors(request: Request, state: State, admin: Admin) -> HTMLResponse:
    """Each of SKYALERT_MIRRORS: lag per upstream partition and the last alert it brought."""
    rows = []
    for mirror in state.settings.mirrors:
        lag, error = await run_in_threadpool(_lag, mirror)
        last = await state.read(partial(last_alert, mirror=mirror))
        rows.append(MirrorRow(mirror, lag, error, last))
    return render(request, "admin/mirrors.html", section="mirrors", rows=rows)


@router.get("/publishers", response_class=HTMLResponse)
async def publishers(request: Request, state: State, admin: Admin) -> HTMLResponse:
    groups = {t.producer_group: t.namespace for t in state.catalog.topics}
    found = await state.read(lambda s: admin_queries.publishers(s, groups))
    return render(request, "admin/publishers.html", section="publishers", found=found)


@router.get("/credentials", response_class=HTMLResponse)
async def credentials(
    request: Request, state: State, admin: Admin, owner: str = ""
) -> HTMLResponse:
    rows = await state.read(lambda s: admin_queries.credentials(s, owner.strip()))
    return render(request, "admin/credentials.html", section="credentials", rows=rows, owner=owner)


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request, state: State, admin: Admin, q: str = "", before: int | None = None
) -> HTMLResponse:
    entries = await state.read(lambda s: admin_queries.audit_log(s, q.strip(), before))
    older: dict[str, Any] | None = None
    if len(entries) == admin_queries.PAGE:
        older = {"q": q, "before": entries[-1].id}
    return render(request, "admin/audit.html", section="audit", entries=entries, q=q, older=older)
