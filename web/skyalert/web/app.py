"""The FastAPI application: portal pages, JSON API and probes in one stateless app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from skyalert.broker.core.settings import Settings, load_settings
from skyalert.web import errors
from skyalert.web.api import alerts as archive_api
from skyalert.web.api import asyncapi, discovery, health, metrics, stream
from skyalert.web.api import circulars as circulars_api
from skyalert.web.api import credentials as credentials_api
from skyalert.web.api import oauth as oauth_routes
from skyalert.web.api import publish as publish_api
from skyalert.web.api import subscriptions as subscriptions_api
from skyalert.web.api import topics as catalog_api
from skyalert.web.middleware.csrf import CsrfCookieMiddleware
from skyalert.web.middleware.headers import SecurityHeaders, feed_origin
from skyalert.web.middleware.timing import ServerTiming
from skyalert.web.portal import account as account_pages
from skyalert.web.portal import admin as admin_pages
from skyalert.web.portal import alerts as alert_pages
from skyalert.web.portal import api_docs, client_index, pages, upstream_login
from skyalert.web.portal import circulars as circular_pages
from skyalert.web.portal import docs as docs_pages
from skyalert.web.portal import email as email_pages
from skyalert.web.portal import live as live_page
from skyalert.web.portal import quickstart as quickstart_page
from skyalert.web.portal import status as status_page
from skyalert.web.portal import subscriptions as subscription_pages
from skyalert.web.portal import topics as topic_pages
from skyalert.web.state import AppState


def create_app(settings: Settings, workers: tuple[str, ...] = ()) -> FastAPI:
    """The web app; ``workers`` names the background workers the status page expects."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AppState.build(settings, workers)
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
    app.include_router(asyncapi.router)
    app.include_router(pages.router)
    app.include_router(oauth_routes.router)
    app.include_router(upstream_login.router)
    app.include_router(account_pages.router)
    app.include_router(credentials_api.router)
    app.include_router(publish_api.router)
    app.include_router(archive_api.router)
    app.include_router(circulars_api.router)
    app.include_router(subscriptions_api.router)
    app.include_router(email_pages.router)
    app.include_router(client_index.router)
    portals = (
        topic_pages,
        alert_pages,
        circular_pages,
        live_page,
        quickstart_page,
        status_page,
        docs_pages,
        admin_pages,
        subscription_pages,
    )
    for portal in portals:
        app.include_router(portal.router)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.base_url.startswith("https://"))
    app.add_middleware(SecurityHeaders, feed=feed_origin(settings.stream_url, settings.base_url))
    app.add_middleware(ServerTiming)
    api_docs.install(app)
    errors.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory``: settings are read when the server starts."""
    return create_app(load_settings())
