"""The FastAPI application: portal pages, JSON API and probes in one stateless app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from skyalert.broker.settings import Settings, load_settings
from skyalert.web import (
    account_pages,
    admin_pages,
    alert_pages,
    api_docs,
    archive_api,
    catalog_api,
    credentials_api,
    discovery,
    docs_pages,
    email_pages,
    errors,
    health,
    live_page,
    metrics,
    oauth_routes,
    pages,
    publish_api,
    quickstart_page,
    status_page,
    stream,
    subscription_pages,
    subscriptions_api,
    topic_pages,
    upstream_login,
)
from skyalert.web.csrf import CsrfCookieMiddleware
from skyalert.web.security_headers import SecurityHeaders
from skyalert.web.server_timing import ServerTiming
from skyalert.web.state import AppState


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.build(settings)
        app.state.skyalert = state
        try:
            async with stream.running(app, state):
                yield
        finally:
            state.close()

    app = FastAPI(
        title="skyalert",
        summary="Open alert broker for time-domain astronomy",
        version="0.1.0",
        docs_url=None,  # api_docs serves /api/docs without a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(stream.router)
    app.include_router(discovery.router)
    app.include_router(catalog_api.router)
    app.include_router(pages.router)
    app.include_router(oauth_routes.router)
    app.include_router(upstream_login.router)
    app.include_router(account_pages.router)
    app.include_router(credentials_api.router)
    app.include_router(publish_api.router)
    app.include_router(archive_api.router)
    app.include_router(subscriptions_api.router)
    app.include_router(email_pages.router)
    portals = (topic_pages, alert_pages, live_page, quickstart_page, status_page, docs_pages,
               admin_pages, subscription_pages)  # fmt: skip
    for portal in portals:
        app.include_router(portal.router)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.base_url.startswith("https://"))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(ServerTiming)
    api_docs.install(app)
    errors.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings are read when the server starts."""
    return create_app(load_settings())
