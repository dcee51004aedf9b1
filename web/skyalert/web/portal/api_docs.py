"""``/api/docs``: the OpenAPI reference in Swagger UI, every file served by us (no CDN), and
started by a script file so that the strict Content-Security-Policy holds here too."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from skyalert.web.portal.pages import Viewer, render

SWAGGER_FILES = Path(fastapi_offline.__file__).parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/api/docs", response_class=HTMLResponse)
async def api_docs(request: Request, viewer: Viewer) -> HTMLResponse:
    return render(request, "api_docs.html", openapi_url=request.app.openapi_url)


def install(app: FastAPI) -> None:
    """Serve Swagger UI's files and the page; FastAPI's own CDN-based page must be off."""
    app.mount("/swagger-ui", StaticFiles(directory=SWAGGER_FILES), name="swagger")
    app.include_router(router)
