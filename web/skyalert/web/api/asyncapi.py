"""``/api/v1/asyncapi.json`` (and ``.yaml``): the catalog as an AsyncAPI 3.0 document."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import yaml
from fastapi import APIRouter
from fastapi.responses import Response

from skyalert.auth.scopes import known_scopes
from skyalert.schemas.asyncapi import Servers, asyncapi_document
from skyalert.web.api.discovery import discovery_document
from skyalert.web.state import AppState, State

router = APIRouter(prefix="/api/v1", tags=["catalog"])


def _scope_description(scope: str) -> str:
    kind, _, what = scope.partition(":")
    return {"read": f"read the topics of {what}", "publish": f"publish to {what}.*"}.get(
        kind, scope
    )


def _document(state: AppState) -> dict[str, Any]:
    found = discovery_document(state)
    servers = Servers(
        kafka_bootstrap=found["kafka"]["bootstrap_servers"],
        kafka_security_protocol=found["kafka"]["security_protocol"],
        token_url=found["token_endpoint"],
        stream_url=found["stream_url"],
        scopes={s: _scope_description(s) for s in sorted(known_scopes(state.catalog))},
    )
    return asyncapi_document(
        state.catalog,
        state.ingest.registry,
        servers,
        title=f"skyalert at {state.settings.base_url}",
        version=version("skyalert"),
    )


@router.get("/asyncapi.json")
async def asyncapi_json(state: State) -> dict[str, Any]:
    """Every topic as an AsyncAPI 3.0 channel: payload schema, Kafka bindings, security."""
    return _document(state)


@router.get("/asyncapi.yaml")
async def asyncapi_yaml(state: State) -> Response:
    """The same document as YAML."""
    text = yaml.safe_dump(_document(state), sort_keys=False, allow_unicode=True)
    return Response(text, media_type="application/yaml")
