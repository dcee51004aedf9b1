"""``stream()``: alerts from the server's WebSocket live feed, reconnecting and resuming by itself.

The protocol is the server's ``/api/v1/stream`` (its operators' guide: ``ops/live-feed.md``):
authenticate with a bearer token, send one ``subscribe``, receive ``alert`` messages that each
carry a ``cursor``. This module adds what every hand-written client gets wrong: tokens fetched
and renewed, reconnects with exponential backoff and jitter, and every reconnect resuming after
the last alert handed out (or from where the subscription began), so nothing is lost or repeated.
"""

from __future__ import annotations

__all__ = ["Format", "Since", "Stream", "since_json", "stream"]

import asyncio
import contextlib
import fnmatch
import json
import logging
import random
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from skyalert.client.alert import JSON, VOEVENT, Alert
from skyalert.client.catalog import Catalog, check_topics, fetch_catalog
from skyalert.client.discovery import Discovery, fetch_discovery
from skyalert.client.errors import (
    ApiError,
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    ServerUnreachable,
    UnknownTopicError,
)
from skyalert.client.filters import Filter, compile_filter
from skyalert.client.tokens import TokenSource
from skyalert.client.version import USER_AGENT

log = logging.getLogger(__name__)

Format = Literal["json", "voevent"]
#: Where a stream starts: ``"now"``, the ``cursor`` of an alert you received (everything after
#: it), a ``datetime`` (everything since; naive means UTC), a ``timedelta`` (everything in that
#: past span), or the protocol's own form such as ``{"last": 10}``.
Since = str | datetime | timedelta | Mapping[str, Any] | None

#: Seconds before the first reconnect; each failed attempt doubles it, up to ``max_backoff``.
FIRST_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 60.0
#: A connection that lasted this long (or delivered an alert) starts the backoff over.
HEALTHY_AFTER: Final = 30.0
OPEN_TIMEOUT: Final = 15.0
#: The largest message accepted (an alert is at most a few MB).
MAX_MESSAGE: Final = 32 * 1024 * 1024
#: Close codes of the live feed that matter here (``ops/live-feed.md`` lists them all).
UNAUTHORIZED: Final = 4401
FORBIDDEN: Final = 4403
SLOW_CONSUMER: Final = 4408
_SCOPE = re.compile(r"needs the scope (\S+?)[ ;,]")


@dataclass(frozen=True)
class _Request:
    server: str | None
    client_id: str
    client_secret: str
    topics: tuple[str, ...]
    filter: Filter
    since: str | dict[str, Any]
    format: Format
    include_tests: bool
    reconnect: bool
    max_backoff: float
    discovery: Discovery | None


def stream(
    server: str | None,
    client_id: str,
    client_secret: str,
    topics: str | Iterable[str],
    filter: Filter | Mapping[str, Any] | None = None,
    *,
    since: Since = "now",
    format: Format = "json",
    include_tests: bool = False,
    reconnect: bool = True,
    max_backoff: float = MAX_BACKOFF,
    discovery: Discovery | None = None,
) -> Stream:
    """Alerts of ``topics`` from the server's live feed, as they are published::

        async with stream(server, client_id, client_secret, ["igwn.gwalert"]) as alerts:
            async for alert in alerts:
                print(alert.id, alert.payload.get("superevent_id"))

    ``topics`` may use ``*`` as a wildcard (``"gcn.classic.voevent.*"``); ``filter`` (the shared
    filter language) runs on the server, so only matching alerts cross the network. ``since``
    says where to start (see :data:`Since`); keep ``alert.cursor`` (or :attr:`Stream.cursor`)
    and pass it as ``since`` next time to continue without gaps or repeats.

    ``format="json"`` gives every alert's JSON form in ``payload``; ``"voevent"`` gives VOEvent
    alerts as their XML (``alert.xml``, ``payload`` empty). Test alerts are skipped unless
    ``include_tests``.

    When the connection drops, the stream reconnects (after 0.5 s, doubling up to
    ``max_backoff`` seconds, with jitter) and resumes after the last alert it handed out; an
    expired token is renewed. ``reconnect=False`` raises :class:`ServerUnreachable` instead.
    A refused credential, a lost right to read a topic, an unknown topic or an invalid filter
    raise at once. Checks of the arguments happen here, before anything connects.
    """
    names = (topics,) if isinstance(topics, str) else tuple(topics)
    if not names or not all(isinstance(name, str) and name for name in names):
        raise ConfigurationError("stream() needs one or more topic names")
    if format not in ("json", "voevent"):
        raise ConfigurationError(f"format must be 'json' or 'voevent', not {format!r}")
    if not client_id or not client_secret:
        raise ConfigurationError(
            "the live feed needs a credential: pass client_id and client_secret (create them "
            "on the portal), or run `skyalert-client login`"
        )
    if max_backoff < FIRST_BACKOFF:
        raise ConfigurationError(f"max_backoff must be at least {FIRST_BACKOFF} seconds")
    request = _Request(
        server=server,
        client_id=client_id,
        client_secret=client_secret,
        topics=names,
        filter=compile_filter(filter),
        since=since_json(since),
        format=format,
        include_tests=include_tests,
        reconnect=reconnect,
        max_backoff=max_backoff,
        discovery=discovery,
    )
    return Stream(request)


def since_json(since: Since) -> str | dict[str, Any]:
    """``since`` as the protocol writes it."""
    if since is None or since == "now":
        return "now"
    if isinstance(since, str):
        return {"cursor": since}
    if isinstance(since, datetime):
        when = since if since.tzinfo is not None else since.replace(tzinfo=UTC)
        return {"time": when.astimezone(UTC).isoformat().replace("+00:00", "Z")}
    if isinstance(since, timedelta):
        if since <= timedelta(0):
            raise ConfigurationError("since=timedelta(…) must be positive: how far back to start")
        return since_json(datetime.now(UTC) - since)
    if isinstance(since, Mapping):
        return dict(since)
    raise ConfigurationError(
        f"since must be 'now', a cursor, a datetime, a timedelta or {{'last': N}}, not {since!r}"
    )


@dataclass
class _Place:
    """Where to resume: after the last alert handed out, else what the server said."""

    since: str | dict[str, Any]
    cursor: str | None = None
    subscribed: bool = False

    def on_subscribed(self, message: Mapping[str, Any]) -> None:
        self.subscribed = True
        resume = message.get("resume")
        if self.cursor is None and isinstance(resume, str | dict):
            self.since = resume

    def on_alert(self, cursor: str) -> None:
        self.cursor = cursor
        self.since = {"cursor": cursor}


@dataclass
class _Backoff:
    cap: float
    attempts: int = 0
    _random: random.Random = field(default_factory=random.Random)

    def next(self) -> float:
        """Seconds to wait: half the doubled delay, plus up to half again at random."""
        delay = min(self.cap, FIRST_BACKOFF * 2.0**self.attempts)
        self.attempts += 1
        return delay / 2 + self._random.uniform(0, delay / 2)

    def reset(self) -> None:
        self.attempts = 0


class Stream(AsyncIterator[Alert]):
    """The live feed as an async iterator of :class:`Alert` (what :func:`stream` returns).

    Use it in ``async with`` (or call :meth:`aclose`) to close the connection as soon as you
    stop; ``cursor`` is the cursor of the last alert handed out.
    """

    def __init__(self, request: _Request) -> None:
        self._request = request
        self._place = _Place(request.since)
        self._alerts = self._run()

    @property
    def cursor(self) -> str | None:
        return self._place.cursor

    def __aiter__(self) -> Stream:
        return self

    async def __anext__(self) -> Alert:
        return await self._alerts.__anext__()

    async def aclose(self) -> None:
        await self._alerts.aclose()

    async def __aenter__(self) -> Stream:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[Alert, None]:
        request = self._request
        discovery = request.discovery
        if discovery is None:
            discovery = await asyncio.to_thread(fetch_discovery, request.server or "")
        await asyncio.to_thread(check_patterns, discovery, request.topics)
        tokens = TokenSource(discovery.token_endpoint, request.client_id, request.client_secret)
        backoff = _Backoff(request.max_backoff)
        refusals = 0  # 4401s in a row, each with a fresh token
        while True:
            opened = time.monotonic()
            try:
                token = await asyncio.to_thread(tokens.get)
                async with (
                    _connect(discovery.stream_url, token) as socket,
                    contextlib.aclosing(self._receive(socket)) as alerts,
                ):
                    async for alert in alerts:
                        backoff.reset()
                        yield alert
                code, reason = socket.close_code, socket.close_reason
            except ServerUnreachable as failure:  # the token endpoint is down
                code, reason = None, str(failure)
            except ApiError as failure:
                if failure.status < 500:
                    raise
                code, reason = None, str(failure)
            except (OSError, TimeoutError, InvalidHandshake) as failure:
                code, reason = None, _transient_reason(failure)
            if self._place.subscribed:
                refusals = 0
            if time.monotonic() - opened > HEALTHY_AFTER:
                backoff.reset()
            if code == UNAUTHORIZED:
                refusals += 1
                tokens.forget()
            delay = self._after_close(discovery, code, reason or "", backoff, refusals)
            self._place.subscribed = False
            await asyncio.sleep(delay)

    async def _receive(self, socket: ClientConnection) -> AsyncGenerator[Alert, None]:
        """Subscribe, then the socket's alerts until it closes."""
        request, place = self._request, self._place
        subscribe = {
            "type": "subscribe",
            "topics": list(request.topics),
            "filter": request.filter.to_json(),
            "format": request.format,
            "test": request.include_tests,
            "since": place.since,
        }
        try:
            await socket.send(json.dumps(subscribe))
            async for text in socket:
                message = _message(text)
                kind = message.get("type")
                if kind == "alert":
                    alert = alert_from_message(message)
                    place.on_alert(alert.cursor or alert.id)
                    yield alert
                elif kind == "subscribed":
                    place.on_subscribed(message)
                    log.info("subscribed to %s", ", ".join(message.get("topics") or ()))
                elif kind == "error":
                    said = str(message.get("message") or "no explanation given")
                    if not place.subscribed:
                        raise _refusal(said)
                    log.warning("the live feed said: %s", said)
        except ConnectionClosed:
            return  # the caller reads the close code

    def _after_close(
        self, discovery: Discovery, code: int | None, reason: str, backoff: _Backoff, refusals: int
    ) -> float:
        """Seconds to wait before reconnecting; raises when reconnecting cannot help."""
        what = f"{code} {reason}".strip() if code is not None else reason
        if code == FORBIDDEN:
            raise AuthorizationError(
                f"the live feed stopped: {reason}; ask the operators for the group, then use a "
                "credential with its scope"
            )
        if code == UNAUTHORIZED and (refusals > 1 or not self._request.reconnect):
            raise AuthenticationError(
                f"the live feed refused the token ({reason}); check that the credential "
                "still exists on the portal"
            )
        if not self._request.reconnect:
            raise ServerUnreachable(
                f"the live feed at {discovery.stream_url} closed ({what}); pass reconnect=True "
                "to reconnect and resume by itself"
            )
        resume = json.dumps(self._place.since)
        if code in (UNAUTHORIZED, SLOW_CONSUMER):  # a new token, or just read faster: at once
            level = logging.INFO if code == UNAUTHORIZED else logging.WARNING
            log.log(level, "the live feed closed (%s); resuming with since=%s", what, resume)
            return 0.0
        delay = backoff.next()
        log.warning(
            "lost the live feed (%s); reconnecting in %.1f s with since=%s", what, delay, resume
        )
        return delay


def _connect(url: str, token: str) -> connect:
    return connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        user_agent_header=USER_AGENT,
        open_timeout=OPEN_TIMEOUT,
        max_size=MAX_MESSAGE,
        # The server sends each alert once per socket; compression would cost both sides CPU.
        compression=None,
    )


def check_patterns(discovery: Discovery, patterns: Iterable[str]) -> Catalog:
    """Refuse names not in the catalog (with the closest ones) and wildcards matching nothing."""
    wanted = list(patterns)
    plain = [name for name in wanted if "*" not in name]
    catalog = check_topics(discovery, plain) if plain else fetch_catalog(discovery)
    alert_topics = [topic.name for topic in catalog.topics if topic.role == "alerts"]
    for name in plain:
        if name not in alert_topics:
            raise ConfigurationError(
                f"{name} is not an alert topic; the live feed carries alert topics only"
            )
    for pattern in wanted:
        if "*" in pattern and not fnmatch.filter(alert_topics, pattern):
            raise UnknownTopicError(
                f"{pattern!r} matches no alert topic of {discovery.server}; "
                "see `skyalert-client topics`",
                pattern,
            )
    return catalog


def alert_from_message(message: Mapping[str, Any]) -> Alert:
    """An :class:`Alert` from an ``alert`` message.

    ``raw`` is what the live feed sent: the VOEvent XML (``format="voevent"``) or the JSON form;
    ``content_type`` says which. There is no Kafka record, so ``partition`` and ``offset`` are 0.
    """
    alert_id = str(message.get("id") or "")
    xml = message.get("xml")
    payload = message.get("alert")
    document: dict[str, Any] = payload if isinstance(payload, dict) else {}
    if isinstance(xml, str):
        raw, content_type = xml.encode(), VOEVENT
    else:
        raw, content_type = json.dumps(document, ensure_ascii=False).encode(), JSON
    test = message.get("test")
    when = _time(message.get("time"))
    return Alert(
        id=alert_id,
        topic=str(message.get("topic") or ""),
        time=when,
        payload=document,
        raw=raw,
        content_type=content_type,
        test=test if isinstance(test, bool) else document.get("alert_tense") == "test",
        timestamp=int(when.timestamp() * 1000),
        cursor=str(message.get("cursor") or alert_id),
    )


def _time(value: Any) -> datetime:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    return when if when is not None else datetime.fromtimestamp(0, UTC)


def _message(text: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(text)
    except ValueError:
        log.warning("ignoring a live-feed message that is not JSON")
        return {}
    return message if isinstance(message, dict) else {}


def _refusal(said: str) -> Exception:
    """The server's refusal of the subscription, as our error."""
    if "may not read" in said:
        found = _SCOPE.search(said + " ")
        return AuthorizationError(said, scope=found[1] if found else None)
    return ConfigurationError(f"the live feed refused the subscription: {said}")


def _transient_reason(failure: BaseException) -> str:
    """Why connecting failed, when trying again may help; raises when it cannot."""
    if isinstance(failure, InvalidStatus):
        status = failure.response.status_code
        if 400 <= status < 500 and status not in (408, 429):
            raise ApiError(
                f"the live feed's address answered HTTP {status}: is it a skyalert server with "
                "the live feed turned on?",
                status,
            )
        return f"the handshake got HTTP {status}"
    if isinstance(failure, InvalidURI):
        raise ConfigurationError(f"the server's stream_url is not a WebSocket URL: {failure}")
    if isinstance(failure, ConnectionRefusedError):
        return "connection refused"
    if isinstance(failure, TimeoutError):
        return f"no answer within {OPEN_TIMEOUT:g} s"
    return str(failure) or type(failure).__name__
