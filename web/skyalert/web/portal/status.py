"""``/status`` (HTML) and ``/api/v1/status`` (JSON): is the broker up, and are its workers alive."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from skyalert.web.portal.pages import Viewer, render
from skyalert.web.portal.system_status import STALE_AFTER, system_status
from skyalert.web.state import State

router = APIRouter()


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
async def status_page(request: Request, state: State, viewer: Viewer) -> HTMLResponse:
    status = await run_in_threadpool(system_status, state)
    return render(request, "status.html", status=status, stale_after=STALE_AFTER)


@router.get("/api/v1/status", tags=["health"])
async def status_json(state: State) -> dict[str, Any]:
    """Broker and database checks, each worker's heartbeat age, and workers that are missing."""
    status = await run_in_threadpool(system_status, state)
    return status.as_json()
