"""The portal's HTML pages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from skyalert.web.state import State

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, state: State) -> HTMLResponse:
    topics = list(state.catalog.topics)
    counts = await run_in_threadpool(state.kafka.counts, [t.name for t in topics])
    return render(request, "home.html", topics=topics, counts=counts, catalog=state.catalog)
