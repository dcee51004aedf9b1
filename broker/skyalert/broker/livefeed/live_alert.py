"""One alert on its way to live-feed sockets, read from Kafka or the archive, rendered once.

The JSON text of an ``alert`` message is the same for every socket of a format, so it is built
once per alert (in the Kafka thread, off the event loop) and shared by every socket.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message
from websockets.frames import Frame, Opcode

from skyalert.broker.archive.alert_ids import alert_id_time
from skyalert.broker.archive.store import Alert
from skyalert.broker.livefeed.protocol import Format
from skyalert.schemas.catalog import Topic
from skyalert.schemas.errors import FormatRejected
from skyalert.schemas.formats import ContentType, format_of

log = logging.getLogger(__name__)


@dataclass(slots=True, eq=False)
class LiveAlert:
    topic: str
    id: str
    test: bool
    #: The normalised JSON form that filters look at.
    document: dict[str, Any]
    #: The original VOEvent XML, for VOEvent topics.
    xml: str | None
    #: When Kafka received it (seconds since the epoch); None for alerts from the archive.
    timestamp: float | None = None
    _texts: dict[str, str] = field(default_factory=dict)
    _frames: dict[str, bytes] = field(default_factory=dict)

    def text(self, format: Format) -> str:
        """The ``alert`` message for sockets that asked for ``format``."""
        cached = self._texts.get(format)
        if cached is None:
            cached = self._texts[format] = self._render(format)
        return cached

    def frame(self, format: Format) -> bytes:
        """:meth:`text` as a server's WebSocket frame, the same bytes for every socket."""
        cached = self._frames.get(format)
        if cached is None:
            cached = self._frames[format] = server_frame(self.text(format))
        return cached

    def render(self) -> LiveAlert:
        """Build both frames now (in the Kafka thread, so the event loop only sends)."""
        self.frame("json")
        self.frame("voevent")
        return self

    def _render(self, format: Format) -> str:
        message: dict[str, Any] = {
            "type": "alert",
            "topic": self.topic,
            "id": self.id,
            "cursor": self.id,
            "time": _time_of(self.id),
            "test": self.test,
        }
        if format == "voevent" and self.xml is not None:
            message["xml"] = self.xml
        else:
            message["alert"] = self.document
            if format == "voevent":
                message["note"] = f"{self.topic} carries JSON alerts only; sent as JSON"
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def server_frame(text: str) -> bytes:
    """A text message framed as a server sends it (unmasked, no extension: compression is off)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def _time_of(alert_id: str) -> str | None:
    """When the alert was received, from its id (ISO 8601, UTC, milliseconds)."""
    try:
        when = alert_id_time(alert_id)
    except ValueError:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def header(message: Message, name: str) -> bytes | None:
    for pair in message.headers() or ():
        if pair[0] == name:
            value = pair[1]
            return value if isinstance(value, bytes) else None
    return None


def from_kafka(message: Message, topic: Topic) -> LiveAlert | None:
    """The alert in a message of a public topic; None (logged) when it lacks an alert id."""
    raw_id = header(message, "alert-id")
    value = message.value()
    if raw_id is None or not isinstance(value, bytes):
        log.warning("skipping a message without alert-id on %s", topic.name)
        return None
    kind, stamp = message.timestamp()
    return LiveAlert(
        topic=topic.name,
        id=raw_id.decode("ascii", "replace"),
        test=header(message, "test") == b"1",
        document=_document(topic, value),
        xml=value.decode("utf-8", "replace") if topic.content_type is ContentType.VOEVENT else None,
        timestamp=stamp / 1000 if kind and stamp > 0 else None,
    ).render()


def _document(topic: Topic, value: bytes) -> dict[str, Any]:
    """The JSON form, as the archive keeps it (ingest validated the message already)."""
    try:
        return format_of(topic.content_type).to_json(value)
    except FormatRejected as exc:
        log.warning("an alert on %s has no JSON form (%s); filters see {}", topic.name, exc)
        return {}


def from_archive(row: Alert) -> LiveAlert:
    xml = (
        row.original.decode("utf-8", "replace") if row.content_type == ContentType.VOEVENT else None
    )
    return LiveAlert(topic=row.topic, id=row.id, test=row.test, document=row.document, xml=xml)
