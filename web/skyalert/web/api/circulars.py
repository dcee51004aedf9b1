"""GCN Circulars over HTTP: ``POST /api/v1/circulars``, search, and one circular by number."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from skyalert.auth.principal import Principal
from skyalert.auth.scopes import CIRCULAR_MODERATE, CIRCULAR_SUBMIT
from skyalert.broker.circulars import search, submission
from skyalert.broker.circulars.changes import ChangeRequests
from skyalert.broker.circulars.forms import gcn_json
from skyalert.broker.circulars.models import ChangeRequest
from skyalert.broker.circulars.service import Circulars
from skyalert.broker.circulars.submission import Draft
from skyalert.web.api.publish import read_body
from skyalert.web.api.security import require_scope
from skyalert.web.errors import problem
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/api/v1", tags=["circulars"])

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/problem+json": {}}}
    for status, text in (
        (400, "A search the query language cannot read"),
        (401, "No or invalid bearer token"),
        (403, "The token lacks circular:submit (membership of circular-submitter)"),
        (404, "No circular with that number (or version)"),
        (409, "The circular changed since the change request, or it was decided already"),
        (410, "The circular was withdrawn"),
        (413, "The circular is larger than SKYALERT_INGEST_MAX_BYTES"),
        (422, "The subject, body or format breaks the rules (the detail says which)"),
        (429, "Too many circulars from this account; see Retry-After"),
    )
}


class CircularIn(BaseModel):
    """A new circular, as its author wrote it."""

    model_config = ConfigDict(extra="forbid")

    subject: str
    body: str
    format: Literal["text/plain", "text/markdown"] = "text/plain"


def circulars_of(state: AppState) -> Circulars:
    return Circulars(state.ingest)


def changes_of(state: AppState) -> ChangeRequests:
    return ChangeRequests(circulars_of(state))


@router.post(
    "/circulars",
    status_code=201,
    responses=PROBLEMS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CircularIn.model_json_schema()}},
        }
    },
)
async def submit_circular(
    request: Request,
    state: State,
    principal: Annotated[Principal, Depends(require_scope(CIRCULAR_SUBMIT))],
) -> Response:
    """Submit a circular (``subject``, ``body``, ``format``): it gets the next number.

    Needs a token with ``circular:submit``. The subject must name an event or mission and may
    not be a reply ("RE:", "Fwd:"). Answers 201 with ``circularId``; refusals are problem+json.
    """
    payload, size = await read_body(request, state.settings.ingest_max_bytes + 4096)
    if size is not None:
        return problem(
            request,
            413,
            f"the request has {size} bytes or more; a circular may have "
            f"{state.settings.ingest_max_bytes}. Shorten the body.",
        )
    try:
        given = CircularIn.model_validate_json(payload)
    except ValidationError as exc:
        violations = [
            {"path": "/" + "/".join(str(p) for p in err["loc"]), "message": err["msg"]}
            for err in exc.errors()
        ]
        return problem(request, 422, "send JSON with subject and body", violations=violations)
    draft = Draft(given.subject, given.body, given.format)
    published = await run_in_threadpool(circulars_of(state).submit, principal.user_id, draft, "api")
    url = f"/api/v1/circulars/{published.number}"
    body = {
        "circularId": published.number,
        "version": published.version,
        "published": published.acknowledged,
        "url": url,
    }
    return JSONResponse(body, status_code=201, headers={"Location": url})


@router.get("/circulars", responses={400: PROBLEMS[400]})
async def search_circulars(
    state: State,
    *,
    query: Annotated[
        str,
        Query(max_length=2000, description='subject:, body:, submitter:, "phrases", AND/OR/NOT'),
    ] = "",
    since: datetime | None = None,
    until: datetime | None = None,
    event: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=search.MAX_PAGE)] = 20,
) -> dict[str, Any]:
    """Circulars, newest first, or by relevance for a full-text ``query``; GCN's JSON form."""
    wanted = search.Search(query, since, until, event, page, limit)
    found = await state.read(lambda session: search.run(session, wanted))
    return {
        "circulars": [gcn_json(c, c.submitted_how) for c in found.circulars],
        "page": found.page,
        "next_page": found.page + 1 if found.more else None,
    }


@router.get("/circulars/{number}", responses={404: PROBLEMS[404]})
async def get_circular(
    number: int, state: State, version: Annotated[int | None, Query(ge=1)] = None
) -> dict[str, Any]:
    """One circular in GCN's JSON form: its latest version, or ``?version=``."""
    if number < 1:
        raise HTTPException(404, "circular numbers start at 1")

    def read(session: Any) -> dict[str, Any]:
        current = submission.get(session, number)
        if version is None:
            return gcn_json(current, current.submitted_how)
        return gcn_json(submission.get_version(session, number, version), current.submitted_how)

    return await state.read(read)


class ChangeIn(BaseModel):
    """The corrected text proposed for a circular."""

    model_config = ConfigDict(extra="forbid")

    subject: str
    body: str
    format: Literal["text/plain", "text/markdown"] = "text/plain"


def change_json(row: ChangeRequest) -> dict[str, Any]:
    return {
        "id": row.id,
        "circularId": row.number,
        "baseVersion": row.base_version,
        "subject": row.subject,
        "body": row.body,
        "format": row.format,
        "status": row.status,
        "createdOn": int(row.created_at.timestamp() * 1000),
    }


Submitter = Annotated[Principal, Depends(require_scope(CIRCULAR_SUBMIT))]
Moderator = Annotated[Principal, Depends(require_scope(CIRCULAR_MODERATE))]
CHANGE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    s: PROBLEMS[s] for s in (401, 403, 404, 409, 410, 422)
}


@router.post("/circulars/{number}/change-requests", status_code=201, responses=CHANGE_PROBLEMS)
async def request_change(
    number: int, given: ChangeIn, state: State, principal: Submitter
) -> dict[str, Any]:
    """Propose a corrected subject and body; a moderator approves or rejects it."""
    draft = Draft(given.subject, given.body, given.format)
    found = await run_in_threadpool(changes_of(state).propose, principal.user_id, number, draft)
    return {"id": found, "circularId": number, "status": "pending"}


@router.get("/circulars/{number}/change-requests", responses=CHANGE_PROBLEMS)
async def list_changes(number: int, state: State, principal: Moderator) -> dict[str, Any]:
    """The circular's change requests awaiting a decision, oldest first (moderators)."""
    rows = await run_in_threadpool(changes_of(state).pending, principal.user_id, number)
    return {"changeRequests": [change_json(row) for row in rows]}


@router.post(
    "/circulars/{number}/change-requests/{request_id}/{decision}", responses=CHANGE_PROBLEMS
)
async def decide_change(
    number: int,
    request_id: int,
    decision: Literal["approve", "reject"],
    state: State,
    principal: Moderator,
) -> dict[str, Any]:
    """Approve (a correction: version n+1, streamed again) or reject a change request."""
    changes = changes_of(state)
    decide = changes.approve if decision == "approve" else changes.reject
    done = await run_in_threadpool(decide, principal.user_id, number, request_id)
    version = done.published.version if done.published else None
    return {"id": done.request_id, "status": done.status, "version": version}
