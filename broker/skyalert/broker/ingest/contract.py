"""A topic's data contract: parse, validate and normalise one message, or say exactly why not.

The topic's format (:mod:`skyalert.schemas.formats`) reads the bytes: JSON strictly (UTF-8 only,
no NaN or Infinity, no duplicate keys), then checked against the topic's JSON Schema, listing
every violation by JSON pointer; VOEvent XML, GCN Classic text and binary notices through their
hardened readers, which return the JSON form. A GCN Classic packet must also be of the notice
type its topic carries.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from skyalert.broker.ingest.reasons import Rejected
from skyalert.client.filters import error_radius
from skyalert.schemas.catalog import Topic
from skyalert.schemas.classic import types as classic
from skyalert.schemas.errors import FormatRejected
from skyalert.schemas.formats import ContentType, Format, format_of, strict_json
from skyalert.schemas.gcn_release import split_schema_id
from skyalert.schemas.validation import SchemaRegistry, Violation

_CITES = {"followup", "supersedes", "retraction"}
#: Charsets a declared text type may name: ASCII is UTF-8.
_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


@dataclass(frozen=True)
class CheckedAlert:
    """A message that keeps its topic's contract, with what the archive indexes."""

    content_type: ContentType
    schema_id: str | None
    #: The JSON form: a JSON alert as published, the normalised form of any other format.
    document: dict[str, Any]
    #: SHA-256 of the content (canonical JSON for JSON alerts, the bytes for the others).
    content_sha256: str
    test: bool
    ivorn: str | None = None
    ra: float | None = None
    dec: float | None = None
    ra_dec_error: float | None = None
    event_time: datetime | None = None
    citations: list[dict[str, str]] = field(default_factory=list)


def media_type(declared: str | None) -> tuple[str | None, str | None]:
    """``(type, charset)`` of a Content-Type header value, lower-cased, parameters dropped."""
    if not declared:
        return None, None
    kind, *params = (part.strip() for part in declared.split(";"))
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.lower(), charset


def check_content_type(topic: Topic, declared: str | None) -> None:
    kind, charset = media_type(declared)
    if kind is None:
        return  # Kafka producers may leave it out: the topic says what it carries.
    expected = format_of(topic.content_type)
    if kind not in expected.media_types:
        raise Rejected(
            "unsupported_content_type",
            f"{topic.name} takes {expected.label} ({expected.content_type.value}); got {kind}",
        )
    if charset is not None and charset not in _CHARSETS:
        raise Rejected("unsupported_content_type", f"alerts must be UTF-8; got charset={charset}")


def check_alert(
    topic: Topic, raw: bytes, declared_type: str | None, registry: SchemaRegistry
) -> CheckedAlert:
    """Enforce ``topic``'s contract on ``raw``; raises :class:`Rejected` listing every problem."""
    check_content_type(topic, declared_type)
    if topic.content_type is ContentType.JSON:
        assert topic.schema_ref is not None  # the catalog guarantees it for JSON topics
        return _check_json(raw, topic.schema_ref, registry)
    return _check_read(topic, raw, format_of(topic.content_type))


def _read(form: Format, raw: bytes) -> dict[str, Any]:
    try:
        return form.to_json(raw)
    except FormatRejected as exc:
        raise Rejected(exc.reason, exc.detail, errors=exc.errors) from None


def _check_read(topic: Topic, raw: bytes, form: Format) -> CheckedAlert:
    """VOEvent, text and binary alerts: their reader's JSON form, and its position and time."""
    document = _read(form, raw)
    notice = classic.of_topic(topic.name)
    if notice is not None:
        _check_packet_type(topic, notice, form, _packet_type(document))
    tense = document.get("alert_tense")
    position = document.get("position") or {}
    return CheckedAlert(
        content_type=form.content_type,
        schema_id=None,
        document=document,
        content_sha256=hashlib.sha256(raw).hexdigest(),
        test=tense == "test" or (notice is not None and notice.test),
        ivorn=document.get("ivorn"),
        ra=document.get("ra"),
        dec=document.get("dec"),
        ra_dec_error=document.get("ra_dec_error", position.get("error_radius")),
        event_time=_datetime(document.get("event_time")),
        citations=[c for c in document.get("citations", []) if c["cite"] in _CITES],
    )


def _packet_type(document: dict[str, Any]) -> int | None:
    """A GCN Classic notice's own type: word 0 of a packet, a VOEvent's ``Packet_Type`` param
    (text notices name theirs in words only)."""
    if isinstance(document.get("notice_type"), dict):
        return int(document["notice_type"]["number"])
    param = (document.get("params") or {}).get("Packet_Type") or {}
    value = str(param.get("value", "")).strip()
    return int(value) if value.isdigit() else None


def _check_packet_type(
    topic: Topic, notice: classic.NoticeType, form: Format, found: int | None
) -> None:
    if found is None or found == notice.number:
        return
    other = classic.by_number().get(found)
    where = f"; publish it to {other.topic(form.name)}" if other is not None else ""
    name = other.name if other is not None else "no GCN Classic notice type"
    raise Rejected(
        "wrong_packet_type",
        f"the notice is of packet type {found} ({name}); {topic.name} takes {notice.name} "
        f"(packet type {notice.number}){where}",
    )


def _parse_json(raw: bytes) -> Any:
    """Strict JSON (see :func:`skyalert.schemas.formats.strict_json`); :class:`Rejected` if not."""
    try:
        return strict_json(raw)
    except FormatRejected as exc:
        raise Rejected(exc.reason, exc.detail, errors=exc.errors) from None


def _check_json(raw: bytes, schema_ref: str, registry: SchemaRegistry) -> CheckedAlert:
    document = _parse_json(raw)
    declared = document.get("$schema") if isinstance(document, dict) else None
    schema_id = registry.resolve(schema_ref, declared)
    violations = registry.violations(schema_id, document)
    if isinstance(declared, str) and _names_another(declared, schema_id):
        message = f"this topic takes {schema_id}, the alert says it follows {declared}"
        violations = sorted([*violations, Violation("/$schema", message)])
    if violations:
        count = len(violations)
        first = violations[0]
        raise Rejected(
            "schema_violation",
            f"the alert breaks {schema_id} in {count} place{'s' if count > 1 else ''}, "
            f"first at {first.path or '/'}: {first.message}",
            violations=violations,
        )
    assert isinstance(document, dict)  # every alert schema says "type": "object"
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    ra, dec = _position(document)
    return CheckedAlert(
        content_type=ContentType.JSON,
        schema_id=schema_id,
        document=document,
        content_sha256=hashlib.sha256(canonical.encode()).hexdigest(),
        test=document.get("alert_tense") == "test",
        ra=ra,
        dec=dec,
        ra_dec_error=error_radius(document.get("ra_dec_error")),
        # The unified schema's event time; a notice without one is dated by its issue time.
        event_time=_datetime(document.get("trigger_time") or document.get("alert_datetime")),
    )


def _position(document: dict[str, Any]) -> tuple[float | None, float | None]:
    """``ra``/``dec`` of a unified-schema alert if both are a place on the sky.

    NASA's schemas type them as numbers without bounds: an impossible position is archived as
    published but indexed as none, rather than wrapped into a place it never named.
    """
    ra, dec = _number(document.get("ra")), _number(document.get("dec"))
    if ra is None or dec is None or not (0 <= ra < 360 and -90 <= dec <= 90):
        return None, None
    return ra, dec


def _names_another(declared: str, schema_id: str) -> bool:
    """The alert claims a GCN schema other than the topic's (a release we lack is no other)."""
    theirs, ours = split_schema_id(declared), split_schema_id(schema_id)
    return theirs is not None and (ours is None or theirs[1] != ours[1])


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
