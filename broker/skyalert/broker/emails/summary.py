"""The human summary of an alert: what it is, where on the sky, when; shared by every mail."""

from __future__ import annotations

import math
from typing import Any, TypedDict

#: Keys tried in order for the time of the event itself (JSON alerts, then VOEvent's form).
EVENT_TIME_KEYS = ("trigger_time", "event_time", "alert_datetime")
#: Keys shown first among the key fields when an alert has them.
PREFERRED = (
    "mission",
    "instrument",
    "alert_type",
    "alert_tense",
    "ivorn",
    "role",
    "importance",
    "classification",
    "superevent_id",
    "far",
    "pipeline",
    "description",
    "additional_info",
)
MAX_FIELDS = 12
MAX_VALUE = 200


class Summary(TypedDict):
    topic: str
    title: str
    alert_id: str
    test: bool
    event_time: str | None
    ra: float | None
    dec: float | None
    error: float | None
    position: str | None
    fields: list[tuple[str, str]]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def sexagesimal(ra: float, dec: float) -> str:
    """``14h09m46.3s -31°04'55"`` for a position in degrees."""
    hours = (ra % 360.0) / 15.0
    h, rest = divmod(hours * 3600.0, 3600.0)
    m, s = divmod(rest, 60.0)
    sign = "-" if dec < 0 else "+"
    d, rest = divmod(abs(dec) * 3600.0, 3600.0)
    dm, ds = divmod(rest, 60.0)
    return f"{int(h):02d}h{int(m):02d}m{s:04.1f}s {sign}{int(d):02d}°{int(dm):02d}'{ds:02.0f}\""


def describe_position(ra: float, dec: float, error: float | None) -> str:
    text = f"RA {ra:.4f}°, Dec {dec:+.4f}° ({sexagesimal(ra, dec)}, ICRS)"
    if error is not None:
        text += f", error radius {error:.4g}°"
    return text


def _shown(value: Any) -> str | None:
    if isinstance(value, dict):
        parts = [f"{k}={v}" for k, v in value.items() if not isinstance(v, dict | list)]
        text = ", ".join(parts)
    elif isinstance(value, list):
        if any(isinstance(v, dict | list) for v in value):
            return None
        text = ", ".join(str(v) for v in value)
    elif value is None:
        return None
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def key_fields(alert: dict[str, Any]) -> list[tuple[str, str]]:
    """Up to ``MAX_FIELDS`` readable (name, value) pairs, the well-known ones first."""
    skip = {"$schema", "ra", "dec", "ra_dec_error", "position", *EVENT_TIME_KEYS}
    order = [k for k in PREFERRED if k in alert] + [k for k in alert if k not in PREFERRED]
    fields: list[tuple[str, str]] = []
    for key in order:
        if key in skip:
            continue
        shown = _shown(alert[key])
        if shown:
            fields.append((key, shown))
        if len(fields) == MAX_FIELDS:
            break
    return fields


def summarize(topic: str, title: str, alert_id: str, alert: dict[str, Any], test: bool) -> Summary:
    ra, dec = _number(alert.get("ra")), _number(alert.get("dec"))
    error = _number(alert.get("ra_dec_error"))
    event_time = next((alert[k] for k in EVENT_TIME_KEYS if isinstance(alert.get(k), str)), None)
    return Summary(
        topic=topic,
        title=title,
        alert_id=alert_id,
        test=test,
        event_time=event_time,
        ra=ra,
        dec=dec,
        error=error,
        position=describe_position(ra, dec, error) if ra is not None and dec is not None else None,
        fields=key_fields(alert),
    )
