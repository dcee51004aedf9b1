"""A decoded alert: what a Kafka message on a skyalert topic carries, in plain Python."""

from __future__ import annotations

__all__ = [
    "BINARY",
    "JSON",
    "TEXT",
    "VOEVENT",
    "Alert",
    "Headers",
    "UndecodableAlert",
    "decode_message",
    "header_map",
    "message_headers",
]

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

#: The server's media types (its formats registry; a server test pins these to it).
VOEVENT = "application/x-voevent+xml"
JSON = "application/json"
TEXT = "text/plain"
BINARY = "application/octet-stream"

Headers = tuple[tuple[str, bytes], ...]


class UndecodableAlert(ValueError):
    """A message on an alert topic whose body does not match its content type."""


@dataclass(frozen=True)
class Alert:
    """One alert.

    ``payload`` is the alert's JSON: as published for JSON topics, the normalised JSON form for
    VOEvent ones. ``raw`` is the message body exactly as published (``xml`` decodes it for
    VOEvent alerts). ``time`` is when skyalert published the alert; ``partition``, ``offset``,
    ``timestamp`` (milliseconds) and ``headers`` are the Kafka record's. ``cursor`` is where the
    live feed resumes after this alert (``stream(…, since=alert.cursor)``), also for Kafka alerts.
    """

    id: str
    topic: str
    time: datetime
    payload: dict[str, Any]
    raw: bytes = field(repr=False)
    content_type: str
    test: bool
    schema: str | None = None
    sender: str | None = None
    partition: int = 0
    offset: int = 0
    timestamp: int = 0
    headers: Headers = field(default=(), repr=False)
    cursor: str | None = None

    @property
    def is_voevent(self) -> bool:
        return self.content_type == VOEVENT

    @property
    def xml(self) -> str | None:
        """The VOEvent XML as published, or None for a JSON alert."""
        return self.raw.decode("utf-8", "replace") if self.is_voevent else None


def header_map(headers: Headers) -> dict[str, bytes]:
    """The first value of each header (skyalert sets each once)."""
    found: dict[str, bytes] = {}
    for key, value in headers:
        found.setdefault(key.lower(), value)
    return found


def message_headers(message: Message) -> Headers:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return tuple(
        (key, value.encode() if isinstance(value, str) else value or b"") for key, value in pairs
    )


def decode_message(message: Message, payload: dict[str, Any] | None = None) -> Alert:
    """An :class:`Alert` from a Kafka message, using skyalert's headers.

    ``payload`` is the JSON form when the caller already has it (VOEvent alerts); JSON alerts are
    parsed here. Raises :class:`UndecodableAlert` when a JSON body is not a JSON object.
    """
    headers = message_headers(message)
    found = header_map(headers)
    raw = message.value() or b""
    topic = message.topic() or ""
    partition = message.partition() or 0
    offset = message.offset() or 0
    content_type = _text(found.get("content-type")) or _sniff(raw)
    if payload is None:
        payload = parse_json(raw) if content_type == JSON else {}
    kind, stamp = message.timestamp()
    millis = stamp if kind != TIMESTAMP_NOT_AVAILABLE and stamp > 0 else 0
    test_header = found.get("test")
    test = test_header == b"1" if test_header is not None else payload.get("alert_tense") == "test"
    alert_id = _text(found.get("alert-id"))
    return Alert(
        id=alert_id or f"{topic}:{partition}:{offset}",
        topic=topic,
        time=datetime.fromtimestamp(millis / 1000, UTC),
        payload=payload,
        raw=raw,
        content_type=content_type,
        test=test,
        schema=_text(found.get("schema")),
        sender=_text(found.get("sender")),
        partition=partition,
        offset=offset,
        timestamp=millis,
        headers=headers,
        cursor=alert_id,
    )


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise UndecodableAlert(f"the body is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UndecodableAlert("the body is JSON but not an object")
    return parsed


def _text(value: bytes | None) -> str | None:
    if not value:
        return None
    return value.decode("utf-8", "replace")


def _sniff(raw: bytes) -> str:
    return VOEVENT if raw.lstrip()[:1] == b"<" else JSON
