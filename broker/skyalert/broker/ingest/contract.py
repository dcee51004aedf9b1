"""A topic's data contract: parse, validate and normalise one message, or say exactly why not.

JSON is parsed strictly (UTF-8 only, no NaN or Infinity, no duplicate keys) and checked against
the topic's JSON Schema, listing every violation by JSON pointer. VOEvent XML goes through the
hardened reader in :mod:`skyalert.schemas.voevent`.
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
from skyalert.schemas.catalog import ContentType, Topic
from skyalert.schemas.gcn_release import split_schema_id
from skyalert.schemas.validation import SchemaRegistry, Violation
from skyalert.schemas.voevent import LineError, VOEventRejected, voevent_to_json

#: Media types a publisher may declare for each kind of topic.
ACCEPTED_TYPES = {
    ContentType.JSON: frozenset({"application/json"}),
    ContentType.VOEVENT: frozenset({"application/x-voevent+xml", "application/xml", "text/xml"}),
}
_CITES = {"followup", "supersedes", "retraction"}


@dataclass(frozen=True)
class CheckedAlert:
    """A message that keeps its topic's contract, with what the archive indexes."""

    content_type: ContentType
    schema_id: str | None
    #: The JSON form: a JSON alert as published, a VOEvent's normalised form.
    document: dict[str, Any]
    #: SHA-256 of the content (canonical JSON for JSON alerts, the bytes for XML).
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
    if kind not in ACCEPTED_TYPES[topic.content_type]:
        raise Rejected(
            "unsupported_content_type",
            f"{topic.name} takes {_describe(topic)} ({topic.content_type.value}); got {kind}",
        )
    if charset is not None and charset not in {"utf-8", "utf8"}:
        raise Rejected("unsupported_content_type", f"alerts must be UTF-8; got charset={charset}")


def _describe(topic: Topic) -> str:
    return "JSON alerts" if topic.content_type is ContentType.JSON else "VOEvent 2.0 XML"


def check_alert(
    topic: Topic, raw: bytes, declared_type: str | None, registry: SchemaRegistry
) -> CheckedAlert:
    """Enforce ``topic``'s contract on ``raw``; raises :class:`Rejected` listing every problem."""
    check_content_type(topic, declared_type)
    if topic.content_type is ContentType.VOEVENT:
        return _check_voevent(raw)
    assert topic.schema_ref is not None  # the catalog guarantees it for JSON topics
    return _check_json(raw, topic.schema_ref, registry)


def _check_voevent(raw: bytes) -> CheckedAlert:
    try:
        document = voevent_to_json(raw)
    except VOEventRejected as exc:
        count = len(exc.errors)
        summary = str(exc.errors[0]) + (f" (and {count - 1} more)" if count > 1 else "")
        what = "not well-formed" if exc.reason == "malformed_voevent" else "not valid VOEvent 2.0"
        raise Rejected(exc.reason, f"the VOEvent is {what}: {summary}", errors=exc.errors) from None
    position = document.get("position") or {}
    return CheckedAlert(
        content_type=ContentType.VOEVENT,
        schema_id=None,
        document=document,
        content_sha256=hashlib.sha256(raw).hexdigest(),
        test=document["alert_tense"] == "test",
        ivorn=document["ivorn"],
        ra=document.get("ra"),
        dec=document.get("dec"),
        ra_dec_error=document.get("ra_dec_error", position.get("error_radius")),
        event_time=_datetime(document.get("event_time")),
        citations=[c for c in document["citations"] if c["cite"] in _CITES],
    )


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys; :class:`Rejected` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise Rejected(
            "malformed_json",
            f"the alert is not valid UTF-8 (byte {exc.start} on line {line})",
            errors=[LineError(line, f"invalid UTF-8 at byte offset {exc.start}")],
        ) from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise Rejected(
            "malformed_json",
            f"the alert is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}",
            errors=[LineError(exc.lineno, exc.msg, exc.colno)],
        ) from None
    except _StrictJSONError as exc:
        raise Rejected(
            "malformed_json",
            f"the alert is not strict JSON: {exc}",
            errors=[LineError(None, str(exc))],
        ) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise Rejected(
            "malformed_json",
            f"the alert cannot be read: {message}",
            errors=[LineError(None, message)],
        ) from None


class _StrictJSONError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictJSONError(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise _StrictJSONError(f"{name} is not a JSON number")


def _check_json(raw: bytes, schema_ref: str, registry: SchemaRegistry) -> CheckedAlert:
    document = parse_json(raw)
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
