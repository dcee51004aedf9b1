"""``GET /metrics``: every Prometheus metric of this process, in the text exposition format.

Metrics are module-level collectors on prometheus-client's default registry: a module that
defines some (e.g. :mod:`skyalert.broker.livefeed.metrics`) is served here once imported.
Public unless ``SKYALERT_METRICS_SECRET`` is set; then Prometheus sends it as a bearer token.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from skyalert.broker.core.secrets import same
from skyalert.web.state import State

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus metrics of this web process (scrape every replica)."""
    if (secret := state.settings.metrics_secret) is not None:
        sent = request.headers.get("authorization", "")
        if not same(sent, f"Bearer {secret.get_secret_value()}"):
            raise HTTPException(
                401,
                "/metrics needs 'Authorization: Bearer <SKYALERT_METRICS_SECRET>' on this "
                "server (Prometheus: authorization.credentials in the scrape config)",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    body = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
