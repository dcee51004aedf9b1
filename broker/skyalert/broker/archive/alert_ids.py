"""Alert ids: 26-character ULIDs, time-ordered so that the archive can sort and page by id.

48 bits of milliseconds since the Unix epoch, then 80 random bits, in Crockford's base32.
"""

from __future__ import annotations

import re
import secrets
import threading
from datetime import UTC, datetime

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 26
_TIME_CHARS = 10
_RANDOM_BITS = 80
_MAX_TIME = (1 << 48) - 1
ALERT_ID = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")

_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the id made last


def _encode(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        value, digit = divmod(value, 32)
        out.append(ALPHABET[digit])
    return "".join(reversed(out))


def _millis(when: datetime) -> int:
    if when.tzinfo is None:
        raise ValueError("alert id times must be timezone-aware")
    millis = int(when.timestamp() * 1000)
    if not 0 <= millis <= _MAX_TIME:
        raise ValueError(f"{when.isoformat()} is outside the range of alert ids")
    return millis


def new_alert_id(now: datetime | None = None) -> str:
    """A fresh id stamped with the clock, or with ``now`` (for ids of past alerts).

    Clock-stamped ids of one process are strictly increasing, even within a millisecond or
    when the clock steps back a little; ids for a given ``now`` are unique but unordered.
    """
    global _last  # noqa: PLW0603 - the process-wide monotonic state
    # One bit of headroom keeps the counting below from overflowing in practice.
    random_part = secrets.randbits(_RANDOM_BITS - 1)
    if now is not None:
        return _encode(_millis(now), _TIME_CHARS) + _encode(random_part, LENGTH - _TIME_CHARS)
    with _lock:
        millis = _millis(datetime.now(UTC))
        last_millis, last_random = _last
        if millis <= last_millis and not (last_random + 1) >> _RANDOM_BITS:
            # Same millisecond (or the clock stepped back): count up to stay ordered.
            millis, random_part = last_millis, last_random + 1
        _last = (millis, random_part)
    return _encode(millis, _TIME_CHARS) + _encode(random_part, LENGTH - _TIME_CHARS)


def is_alert_id(text: str) -> bool:
    return bool(ALERT_ID.match(text))


def alert_id_time(alert_id: str) -> datetime:
    """When the alert with this id was received (millisecond precision)."""
    if not is_alert_id(alert_id):
        raise ValueError(f"{alert_id!r} is not an alert id")
    millis = 0
    for char in alert_id[:_TIME_CHARS]:
        millis = millis * 32 + ALPHABET.index(char)
    return datetime.fromtimestamp(millis / 1000, UTC)


def lowest_id_at(when: datetime) -> str:
    """The smallest id an alert received at ``when`` (to the millisecond) can have."""
    return _encode(_millis(when), _TIME_CHARS) + "0" * (LENGTH - _TIME_CHARS)


def highest_id_at(when: datetime) -> str:
    """The largest id an alert received at ``when`` (to the millisecond) can have."""
    return _encode(_millis(when), _TIME_CHARS) + "Z" * (LENGTH - _TIME_CHARS)
