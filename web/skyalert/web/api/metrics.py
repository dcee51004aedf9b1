"""``GET /metrics``: every Prometheus metric of this process, in the text exposition format.

Metrics are module-level collectors on prometheus-client's default registry: a module that
defines some (e.g. :mod:`skyalert.broker.livefeed.metrics`) is served here once imported.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus metrics of this web process (scrape every replica)."""
    body = await run_in_threadpool(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
