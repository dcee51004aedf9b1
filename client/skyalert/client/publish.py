"""Publishing one alert over HTTP: ``POST /api/v1/topics/{topic}/alerts`` with a bearer token."""

from __future__ import annotations

__all__ = ["Published", "content_type_for", "publish"]

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from skyalert.client import http
from skyalert.client.alert import BINARY, JSON, TEXT, VOEVENT
from skyalert.client.discovery import Discovery
from skyalert.client.errors import ApiError

_BY_SUFFIX = {".json": JSON, ".xml": VOEVENT, ".voevent": VOEVENT, ".txt": TEXT, ".bin": BINARY}


@dataclass(frozen=True)
class Published:
    id: str
    topic: str
    created: bool
    url: str
    #: False when the server archived the alert but Kafka had not acknowledged it yet.
    published: bool = True


def content_type_for(path: Path | None, data: bytes) -> str:
    """From the file name (``.json``, ``.xml``, ``.txt``, ``.bin``), else from the first
    character."""
    if path is not None and path.suffix.lower() in _BY_SUFFIX:
        return _BY_SUFFIX[path.suffix.lower()]
    return VOEVENT if data.lstrip()[:1] == b"<" else JSON


def publish(
    discovery: Discovery,
    token: str,
    topic: str,
    data: bytes,
    content_type: str,
    *,
    idempotency_key: str | None = None,
) -> Published:
    url = f"{discovery.api_url}/topics/{quote(topic, safe='')}/alerts"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        answer = http.request("POST", url, body=data, headers=headers).json(url)
    except ApiError as refusal:
        raise ApiError(_explain(topic, refusal), refusal.status, refusal.problem) from None
    return Published(
        id=str(answer["id"]),
        topic=str(answer.get("topic", topic)),
        created=bool(answer.get("created", True)),
        url=str(answer.get("url", "")),
        published=bool(answer.get("published", True)),
    )


def _explain(topic: str, refusal: ApiError) -> str:
    problem = refusal.problem
    said = problem.get("detail") or problem.get("title") or str(refusal)
    lines = [f"the server refused the alert for {topic} (HTTP {refusal.status}): {said}"]
    for violation in problem.get("violations") or ():
        lines.append(f"  {_field(violation, 'path') or '/'}: {_field(violation, 'message')}")
    for error in problem.get("errors") or ():
        where = f"line {_field(error, 'line')}" if _field(error, "line") else "document"
        lines.append(f"  {where}: {_field(error, 'message')}")
    return "\n".join(lines)


def _field(item: Any, key: str) -> str:
    if isinstance(item, dict):
        value = item.get(key)
        return "" if value is None else str(value)
    return json.dumps(item)
