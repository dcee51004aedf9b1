"""The formats registry: every kind of alert body skyalert carries, its media types and readers.

One entry per format (JSON, VOEvent 2.0, GCN Classic text, GCN Classic binary): its canonical
media type (what a topic's ``content_type`` says and what the archive answers with), the other
media types a publisher may declare for it, a file suffix, and ``to_json``, which checks the bytes
and returns the alert's JSON form or raises :class:`FormatRejected`. Ingest, the HTTP API, the
live feed and email all look formats up here; the client keeps copies of the media types, which
a test pins to these.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from skyalert.schemas.classic.binary import PACKET_BYTES, packet_to_json
from skyalert.schemas.classic.text import text_to_json
from skyalert.schemas.errors import FormatRejected, LineError
from skyalert.schemas.voevent import voevent_to_json


class ContentType(StrEnum):
    JSON = "application/json"
    VOEVENT = "application/x-voevent+xml"
    TEXT = "text/plain"
    BINARY = "application/octet-stream"


@dataclass(frozen=True)
class Format:
    """One format: ``name`` is what people and query parameters say (``voevent``)."""

    name: str
    content_type: ContentType
    label: str
    suffix: str
    to_json: Callable[[bytes], dict[str, Any]]
    aliases: frozenset[str] = frozenset()

    @property
    def media_types(self) -> frozenset[str]:
        return frozenset({self.content_type.value, *self.aliases})


def strict_json(raw: bytes) -> Any:
    """Strict JSON (RFC 8259 as I-JSON, RFC 7493, narrows it): UTF-8, finite numbers (no NaN or
    Infinity, no literal that overflows to it), strings of Unicode characters (no lone
    surrogate escape), no duplicate keys; :class:`FormatRejected` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FormatRejected(
            "malformed_json",
            [LineError(line, f"invalid UTF-8 at byte offset {exc.start}")],
            f"the alert is not valid UTF-8 (byte {exc.start} on line {line})",
        ) from None
    try:
        document = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite,
        )
        _no_lone_surrogates(document)
        return document
    except json.JSONDecodeError as exc:
        raise FormatRejected(
            "malformed_json",
            [LineError(exc.lineno, exc.msg, exc.colno)],
            f"the alert is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}",
        ) from None
    except _StrictJSONError as exc:
        raise FormatRejected(
            "malformed_json", [LineError(None, str(exc))], f"the alert is not strict JSON: {exc}"
        ) from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FormatRejected(
            "malformed_json", [LineError(None, message)], f"the alert cannot be read: {message}"
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


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _StrictJSONError(f"the number {literal[:40]} is too large for a 64-bit float")
    return value


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _no_lone_surrogates(value: Any) -> None:
    """Escapes like ``"\\ud800"`` decode to no character: such a string cannot be stored."""
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            raise _StrictJSONError(
                "a string holds a lone UTF-16 surrogate escape (\\ud800-\\udfff)"
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_lone_surrogates(key)
            _no_lone_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _no_lone_surrogates(item)


def json_object(raw: bytes) -> dict[str, Any]:
    document = strict_json(raw)
    if not isinstance(document, dict):
        raise FormatRejected(
            "malformed_json",
            [LineError(None, f"the document is a JSON {type(document).__name__}")],
            "a JSON alert is one JSON object",
        )
    return document


FORMATS = (
    Format("json", ContentType.JSON, "JSON", "json", json_object),
    Format(
        "voevent",
        ContentType.VOEVENT,
        "VOEvent 2.0 XML",
        "xml",
        voevent_to_json,
        frozenset({"application/xml", "text/xml"}),
    ),
    Format("text", ContentType.TEXT, "GCN Classic text notice", "txt", text_to_json),
    Format(
        "binary",
        ContentType.BINARY,
        f"GCN Classic {PACKET_BYTES}-byte binary packet",
        "bin",
        packet_to_json,
    ),
)
_BY_TYPE = {f.content_type: f for f in FORMATS}
_BY_NAME = {f.name: f for f in FORMATS}
_BY_MEDIA = {media: f for f in FORMATS for media in f.media_types}


def format_of(content_type: ContentType | str) -> Format:
    """The format of a topic's (or an archived alert's) content type."""
    return _BY_TYPE[ContentType(content_type)]


def format_named(name: str) -> Format:
    return _BY_NAME[name]


def format_for_media_type(media_type: str) -> Format | None:
    """The format a declared media type (lower case, no parameters) stands for, if any."""
    return _BY_MEDIA.get(media_type)


def sniff(payload: bytes) -> Format:
    """A best guess when nobody said: XML, a packet (text has no NUL bytes), a text notice (it
    opens with an upper-case key), else JSON."""
    start = payload.lstrip()[:1]
    if start == b"<":
        return _BY_TYPE[ContentType.VOEVENT]
    if b"\x00" in payload:
        return _BY_TYPE[ContentType.BINARY]
    return _BY_TYPE[ContentType.TEXT] if start.isupper() else _BY_TYPE[ContentType.JSON]
