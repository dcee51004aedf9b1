"""The live feed's message protocol: parse and check what a client sends, say what it got wrong.

Clients send JSON objects with a ``type``: ``auth`` (browsers: the token as the first message),
``subscribe`` (topics, filter, format, test, since) and ``ping``. Every refusal is a
:class:`StreamRequestError` whose message goes back to the client verbatim.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, Final, Literal

from skyalert.broker.archive.alert_ids import is_alert_id
from skyalert.broker.core.errors import SkyalertError
from skyalert.client.filters import Filter, FilterError, compile_filter
from skyalert.schemas.catalog import Catalog, Topic

#: Longest message a client may send (a filter with a large ``in`` list fits).
MAX_MESSAGE: Final = 256 * 1024
MAX_TOPICS: Final = 100
MAX_LAST: Final = 1000
FORMATS: Final = ("json", "voevent")
#: Topic-name characters (GCN Classic names keep GCN's upper case) and ``*``.
_PATTERN = re.compile(r"^[A-Za-z0-9_.*]+$")
_SUBSCRIBE_KEYS: Final = ("type", "topics", "filter", "format", "test", "since")

Format = Literal["json", "voevent"]


class CloseCode(IntEnum):
    """Close codes of the live feed (ops/live-feed.md lists them for clients)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    SLOW_CONSUMER = 4408


class StreamRequestError(SkyalertError):
    """A client message the live feed refuses; the message tells the client what to fix."""

    http_status = 400


@dataclass(frozen=True)
class Since:
    """Where a subscription starts: ``now``, the ``last`` N alerts, a ``time``, or a ``cursor``."""

    kind: Literal["now", "last", "time", "cursor"]
    last: int = 0
    time: datetime | None = None
    cursor: str | None = None

    def to_json(self) -> str | dict[str, Any]:
        if self.kind == "last":
            return {"last": self.last}
        if self.kind == "time":
            assert self.time is not None
            return {"time": self.time.isoformat().replace("+00:00", "Z")}
        if self.kind == "cursor":
            return {"cursor": self.cursor}
        return "now"


NOW: Final = Since("now")


@dataclass(frozen=True)
class Subscription:
    """A checked ``subscribe`` request, with its topics resolved against the catalog."""

    topics: tuple[str, ...]
    filter: Filter
    format: Format
    test: bool
    since: Since

    def wants(self, document: Mapping[str, Any], test: bool) -> bool:
        """Whether an alert of one of ``topics`` goes to this subscriber."""
        return (self.test or not test) and self.filter.matches(document)

    def describe(self) -> dict[str, Any]:
        """The ``subscribed`` answer: what the server understood."""
        return {
            "type": "subscribed",
            "topics": list(self.topics),
            "filter": self.filter.to_json(),
            "format": self.format,
            "test": self.test,
            "since": self.since.to_json(),
        }


def parse_message(text: str | bytes | None) -> dict[str, Any]:
    """A client message as a JSON object with a string ``type``."""
    if text is None:
        raise StreamRequestError("send messages as text frames holding JSON objects")
    if len(text) > MAX_MESSAGE:
        raise StreamRequestError(f"the message is longer than {MAX_MESSAGE} bytes")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StreamRequestError(f"the message is not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise StreamRequestError('a message must be a JSON object such as {"type": "subscribe"}')
    kind = message.get("type")
    if not isinstance(kind, str):
        raise StreamRequestError('a message needs a "type": "auth", "subscribe" or "ping"')
    return message


def auth_token(message: Mapping[str, Any]) -> str:
    """The token of an ``{"type": "auth", "token": …}`` message."""
    if message.get("type") != "auth":
        raise StreamRequestError(
            "authenticate first: send the header 'Authorization: Bearer <token>' or the first "
            'message {"type": "auth", "token": "<token>"}'
        )
    token = message.get("token")
    if not isinstance(token, str) or not token.strip():
        raise StreamRequestError('the auth message needs a "token": the access token as a string')
    return token.strip()


def parse_subscribe(
    message: Mapping[str, Any], catalog: Catalog, may_read: Callable[[Topic], bool]
) -> Subscription:
    """Check a ``subscribe`` message; raise :class:`StreamRequestError` naming the mistake."""
    unknown = sorted(set(message) - set(_SUBSCRIBE_KEYS))
    if unknown:
        hints = [_hint(key, _SUBSCRIBE_KEYS) for key in unknown]
        raise StreamRequestError(
            "unknown field(s) in subscribe: " + ", ".join(hints) + f"; known: {_known_keys()}"
        )
    try:
        subscription_filter = compile_filter(message.get("filter"))
    except FilterError as exc:
        raise StreamRequestError(str(exc)) from None
    return Subscription(
        topics=resolve_topics(message.get("topics"), catalog, may_read),
        filter=subscription_filter,
        format=_format(message.get("format", "json")),
        test=_test(message.get("test", False)),
        since=parse_since(message.get("since", "now")),
    )


def _known_keys() -> str:
    return ", ".join(key for key in _SUBSCRIBE_KEYS if key != "type")


def _hint(name: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return repr(name) + (f" (did you mean {', '.join(map(repr, close))}?)" if close else "")


def resolve_topics(
    patterns: Any, catalog: Catalog, may_read: Callable[[Topic], bool]
) -> tuple[str, ...]:
    """Catalog alert topics named by ``patterns``; ``*`` matches any characters.

    An explicit topic the caller may not read is refused; a wildcard covers only readable ones.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not patterns:
        raise StreamRequestError(
            '"topics" must be a non-empty list of topic names, e.g. ["igwn.gwalert"] or '
            '["gcn.classic.voevent.*"]'
        )
    if len(patterns) > MAX_TOPICS:
        raise StreamRequestError(f'"topics" lists more than {MAX_TOPICS} names')
    alert_topics = {topic.name: topic for topic in catalog.alert_topics}
    chosen: dict[str, None] = {}
    for position, pattern in enumerate(patterns):
        if not isinstance(pattern, str) or not _PATTERN.match(pattern):
            raise StreamRequestError(
                f"topics[{position}] is not a topic name: {pattern!r} (letters, digits, '_', "
                "'.', and '*' as a wildcard)"
            )
        if "*" in pattern:
            matched = [name for name in alert_topics if fnmatch.fnmatchcase(name, pattern)]
            readable = [name for name in matched if may_read(alert_topics[name])]
            if not readable:
                reason = "none you may read" if matched else "no alert topic"
                raise StreamRequestError(f"{pattern!r} matches {reason}; see GET /api/v1/topics")
            chosen.update(dict.fromkeys(readable))
            continue
        topic = alert_topics.get(pattern)
        if topic is None:
            raise StreamRequestError(_unknown_topic(pattern, catalog, list(alert_topics)))
        if not may_read(topic):
            group = topic.consumer_group or "consumers.public"
            raise StreamRequestError(
                f"you may not read {pattern}: it needs the scope read:{group} (or read:public "
                "for public topics); ask an admin for the group, then use a token that has it"
            )
        chosen[pattern] = None
    return tuple(chosen)


def _unknown_topic(name: str, catalog: Catalog, alert_topics: list[str]) -> str:
    if catalog.get(name) is not None:
        return f"{name} is not an alert topic; the live feed carries alert topics only"
    # Case-blind: GCN Classic names are upper case after gcn.classic.<flavor>.
    folded = {topic.lower(): topic for topic in alert_topics}
    close = [folded[t] for t in difflib.get_close_matches(name.lower(), folded, n=3, cutoff=0.5)]
    hint = f"; did you mean {', '.join(close)}?" if close else "; see GET /api/v1/topics"
    return f"unknown topic {name!r}{hint}"


def _format(value: Any) -> Format:
    if value == "json":
        return "json"
    if value == "voevent":
        return "voevent"
    raise StreamRequestError(f'"format" must be "json" or "voevent", not {value!r}')


def _test(value: Any) -> bool:
    if not isinstance(value, bool):
        raise StreamRequestError(f'"test" must be true or false, not {value!r}')
    return value


def parse_since(value: Any) -> Since:
    """``"now"``, ``{"last": N}``, ``{"time": ISO 8601}`` or ``{"cursor": C}``."""
    if value == "now" or value is None:
        return NOW
    forms = '"now", {"last": N}, {"time": "2026-01-01T00:00:00Z"} or {"cursor": "<cursor>"}'
    if not isinstance(value, dict) or len(value) != 1:
        raise StreamRequestError(f'"since" must be one of {forms}')
    ((key, item),) = value.items()
    if key == "last":
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= MAX_LAST:
            raise StreamRequestError(f'"since": {{"last": N}} needs N from 0 to {MAX_LAST}')
        return Since("last", last=item)
    if key == "time":
        return Since("time", time=_time(item))
    if key == "cursor":
        if not isinstance(item, str) or not is_alert_id(item):
            raise StreamRequestError(
                f'"since": {{"cursor": …}} needs the "cursor" of an alert you received, '
                f"not {item!r}"
            )
        return Since("cursor", cursor=item)
    raise StreamRequestError(f'"since" must be one of {forms}; got the key {key!r}')


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            pass
        else:
            # A time without an offset is taken as UTC, as everywhere in astronomy.
            return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    raise StreamRequestError(
        f'"since": {{"time": …}} needs an ISO 8601 time such as "2026-01-01T00:00:00Z", '
        f"not {value!r}"
    )
