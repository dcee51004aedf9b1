"""``/.well-known/skyalert``: everything a client needs, given only the server URL."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from skyalert.web.state import State

router = APIRouter(tags=["discovery"])


def discovery_document(state: State) -> dict[str, Any]:
    settings = state.settings
    base = settings.base_url
    protocol = settings.kafka_client_security_protocol
    kafka: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_client_bootstrap or settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    if protocol.startswith("SASL"):
        kafka["sasl_mechanism"] = "OAUTHBEARER"
    return {
        "server": base,
        "issuer": base,
        "openid_configuration": f"{base}/.well-known/openid-configuration",
        "token_endpoint": f"{base}/oauth2/token",
        "kafka": kafka,
        "stream_url": settings.stream_url,
        "api_url": f"{base}/api/v1",
        "catalog_url": f"{base}/api/v1/topics",
        "heartbeat_topic": state.catalog.heartbeat.name,
    }


@router.get("/.well-known/skyalert")
async def well_known_skyalert(state: State) -> dict[str, Any]:
    """Kafka bootstrap and security protocol, token endpoint, live-feed and catalog URLs."""
    return discovery_document(state)
