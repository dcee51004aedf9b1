"""The FastAPI application: portal pages, JSON API and probes in one stateless app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from skyalert.broker.settings import Settings, load_settings
from skyalert.web import catalog_api, discovery, errors, health, pages
from skyalert.web.state import AppState


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.build(settings)
        app.state.skyalert = state
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="skyalert",
        summary="Open alert broker for time-domain astronomy",
        version="0.1.0",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(health.router)
    app.include_router(discovery.router)
    app.include_router(catalog_api.router)
    app.include_router(pages.router)
    errors.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings are read when the server starts."""
    return create_app(load_settings())
