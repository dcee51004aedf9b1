"""GCN Classic text notices: the ``KEY: value`` lines, read into JSON with position and time.

A line ``KEY: value`` starts a field (keys are upper case, as GCN writes them); any other line
continues the field above it (positions list J2000, current and 1950 coordinates on three
lines). A key given more than once (``COMMENTS``) keeps every value, in order.
"""

from __future__ import annotations

import math
import re
from typing import Any

from skyalert.schemas.classic.types import tjd_time
from skyalert.schemas.errors import FormatRejected, LineError

_KEY = re.compile(r"^([A-Z][A-Z0-9_]*):(?:[ \t]+(.*))?$")
#: ``74.741d {+04h 58m 57.9s} (J2000),``: degrees, then the equinox in brackets.
_DEGREES = re.compile(r"([+-]?\d+(?:\.\d*)?)d\b[^(,]*(?:\(([^)]*)\))?")
#: ``3.00 [arcmin radius, statistical only]``
_ERROR = re.compile(r"^([+-]?\d+(?:\.\d*)?)\s*\[\s*(deg|arcmin|arcsec)\b")
_TJD = re.compile(r"^(\d+)\s+TJD\b")
_SOD = re.compile(r"^(\d+(?:\.\d*)?)\s+SOD\b")
_ERROR_DEGREES = {"deg": 1.0, "arcmin": 1 / 60, "arcsec": 1 / 3600}
#: Where GCN's text notices put the event's position and time, first match wins.
POSITION_PREFIXES = ("GRB", "SRC", "EVENT")
ERROR_SUFFIXES = ("ERROR", "ERROR90")
TIME_PREFIXES = ("GRB", "EVENT", "TRIGGER", "DISCOVERY")
REQUIRED = ("TITLE", "NOTICE_TYPE")

Fields = dict[str, str | list[str]]


def text_to_json(raw: bytes) -> dict[str, Any]:
    """The JSON form: ``title``, ``notice_type``, ``fields``, ``position``, ``event_time``, and
    ``ra``, ``dec``, ``ra_dec_error`` (J2000 degrees) when the notice gives a position."""
    fields, lines = _fields(_decode(raw))
    missing = [key for key in REQUIRED if key not in fields]
    if missing:
        raise FormatRejected(
            "invalid_text",
            [LineError(None, f"no {key} line") for key in missing],
            f"a GCN Classic text notice starts with TITLE: and NOTICE_TYPE: lines; "
            f"this one has no {' and no '.join(missing)}",
        )
    alert: dict[str, Any] = {
        "title": _first(fields["TITLE"]),
        "notice_type": _first(fields["NOTICE_TYPE"]),
        "fields": fields,
        "position": None,
        "event_time": _event_time(fields),
    }
    position = _position(fields, lines)
    if position is not None:
        alert["position"] = position
        alert["ra"], alert["dec"] = position["ra"], position["dec"]
        alert["ra_dec_error"] = position["error_radius"]
    return alert


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FormatRejected(
            "malformed_text",
            [LineError(line, f"invalid UTF-8 at byte offset {exc.start}")],
            f"the notice is not ASCII or UTF-8 text (byte {exc.start} on line {line})",
        ) from None


def _fields(text: str) -> tuple[Fields, dict[str, int]]:
    """The fields, and the line each key first appears on."""
    fields: Fields = {}
    lines: dict[str, int] = {}
    key = None
    for number, line in enumerate(text.splitlines(), start=1):
        found = _KEY.match(line.rstrip())
        if found:
            key, value = found.group(1), (found.group(2) or "").strip()
            lines.setdefault(key, number)
            _add(fields, key, value)
        elif line.strip() and key is None:
            raise FormatRejected(
                "malformed_text",
                [LineError(number, "expected a KEY: value line")],
                f"line {number} is not a KEY: value line of a GCN Classic text notice",
            )
        elif line.strip() and key is not None:
            _extend(fields, key, line.strip())
    if not fields:
        raise FormatRejected(
            "malformed_text",
            [LineError(None, "no KEY: value lines")],
            "the notice is empty; a GCN Classic text notice is KEY: value lines",
        )
    return fields, lines


def _add(fields: Fields, key: str, value: str) -> None:
    if key not in fields:
        fields[key] = value
        return
    known = fields[key]
    fields[key] = [*known, value] if isinstance(known, list) else [known, value]


def _extend(fields: Fields, key: str, more: str) -> None:
    known = fields[key]
    if isinstance(known, list):
        known[-1] = f"{known[-1]} {more}".strip()
    else:
        fields[key] = f"{known} {more}".strip()


def _first(value: str | list[str]) -> str:
    return value[0] if isinstance(value, list) else value


def _degrees(value: str) -> float | None:
    """The J2000 value of ``74.741d {…} (J2000), 74.968d {…} (current), …``; else the first."""
    found = [(float(m.group(1)), m.group(2) or "") for m in _DEGREES.finditer(value)]
    for number, equinox in found:
        if equinox.strip().upper() == "J2000":
            return number
    return found[0][0] if found else None


def _position(fields: Fields, lines: dict[str, int]) -> dict[str, Any] | None:
    for prefix in POSITION_PREFIXES:
        ra_key, dec_key = f"{prefix}_RA", f"{prefix}_DEC"
        if ra_key in fields and dec_key in fields:
            return _checked_position(fields, lines, prefix)
    return None


def _checked_position(fields: Fields, lines: dict[str, int], prefix: str) -> dict[str, Any]:
    ra = _degrees(_first(fields[f"{prefix}_RA"]))
    dec = _degrees(_first(fields[f"{prefix}_DEC"]))
    error = _error(fields, prefix)
    problems = []
    if ra is None or not (math.isfinite(ra) and 0 <= ra < 360):
        problems.append(LineError(lines[f"{prefix}_RA"], f"{prefix}_RA is not within [0, 360) d"))
    if dec is None or not (math.isfinite(dec) and -90 <= dec <= 90):
        problems.append(LineError(lines[f"{prefix}_DEC"], f"{prefix}_DEC is not within ±90 d"))
    if error is not None and not (math.isfinite(error) and error >= 0):
        problems.append(LineError(None, f"{prefix}_ERROR is not a non-negative number"))
    if problems:
        raise FormatRejected(
            "invalid_text", problems, f"the notice's position is off the sky: {problems[0]}"
        )
    return {"ra": ra, "dec": dec, "error_radius": error, "frame": "FK5", "unit": "deg"}


def _error(fields: Fields, prefix: str) -> float | None:
    """The error radius in degrees, from ``3.00 [arcmin radius, …]`` or ``6.4 [deg radius…]``."""
    for suffix in ERROR_SUFFIXES:
        value = fields.get(f"{prefix}_{suffix}")
        found = _ERROR.match(_first(value)) if value is not None else None
        if found:
            return float(found.group(1)) * _ERROR_DEGREES[found.group(2)]
    return None


def _event_time(fields: Fields) -> str | None:
    """``<P>_DATE: 19043 TJD; …`` with ``<P>_TIME: 42174.72 SOD {…} UT``, in ISO 8601 UTC."""
    for prefix in TIME_PREFIXES:
        date, time = fields.get(f"{prefix}_DATE"), fields.get(f"{prefix}_TIME")
        if date is None or time is None:
            continue
        tjd, sod = _TJD.match(_first(date)), _SOD.match(_first(time))
        if tjd and sod:
            return tjd_time(int(tjd.group(1)), float(sod.group(1)))
    return None
