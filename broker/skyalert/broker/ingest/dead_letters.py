"""Dead letters: a refused message, wrapped with why it was refused, so that nothing is lost.

The value follows ``skyalert/dead_letter.schema.json``; the headers repeat the reason, producer,
topic and content type so operators can route or filter without parsing the envelope.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from skyalert.broker.ingest.reasons import Rejected
from skyalert.broker.ingest.rejections import RefusedMessage
from skyalert.broker.kafka.producer import Headers


def utc_text(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    schema_id: str, message: RefusedMessage, rejected: Rejected, raw: bytes, max_original: int
) -> bytes:
    """The dead letter's value. An original over ``max_original`` bytes (the ingest size limit)
    is cut there and flagged ``original_truncated``."""
    body: dict[str, object] = {
        "$schema": schema_id,
        "topic": message.topic,
        "reason": rejected.reason,
        "detail": rejected.detail,
        "violations": rejected.violations_json(),
        "errors": rejected.errors_json(),
        "producer": message.sender,
        "source": message.source,
        "content_type": message.content_type,
        "received_at": utc_text(message.received_at),
        "original_size": message.size,
        "original_sha256": message.content_sha256,
        "original_base64": base64.b64encode(raw[:max_original]).decode("ascii"),
    }
    if len(raw) > max_original or len(raw) < message.size:
        body["original_truncated"] = True
    if message.idempotency_key is not None:
        body["idempotency_key"] = message.idempotency_key
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def headers(message: RefusedMessage, rejected: Rejected) -> Headers:
    return [
        ("reason", rejected.reason.encode()),
        ("producer", message.sender.encode()),
        ("topic", message.topic.encode()),
        ("content-type", message.content_type.encode()),
        ("source", message.source.encode()),
    ]
