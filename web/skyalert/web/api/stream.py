"""WebSocket ``/api/v1/stream``: the live feed. Authenticate, take one subscription, stream.

The protocol is in :mod:`skyalert.broker.livefeed.protocol`, fan-out in
:mod:`skyalert.broker.livefeed.hub`, resume in :mod:`skyalert.broker.livefeed.replay`;
this is the thin edge, served two ways with one code path: by the web app (ASGI), and by the
dedicated ``websockets`` server of ``skyalert worker stream`` (:func:`serve_dedicated`), where
live frames, encoded once, are written into each transport rather than by a task per socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.cookies import SimpleCookie
from typing import Any, Final, Protocol

from fastapi import APIRouter, FastAPI, WebSocket
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from skyalert.auth.context import AuthContext
from skyalert.auth.errors import InvalidToken
from skyalert.auth.principal import Principal
from skyalert.auth.sessions import COOKIE
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.livefeed.hub import Hub, KafkaTail, Subscriber
from skyalert.broker.livefeed.protocol import (
    MAX_MESSAGE,
    CloseCode,
    StreamRequestError,
    Subscription,
    auth_token,
    parse_message,
    parse_subscribe,
)
from skyalert.broker.livefeed.replay import catch_up
from skyalert.schemas.catalog import Catalog, load_catalog
from skyalert.web.api.security import token_principal

log = logging.getLogger(__name__)
router = APIRouter(tags=["live feed"])

#: Seconds a browser has to send its ``auth`` message.
AUTH_TIMEOUT: Final = 10.0
#: Seconds to wait for a close frame to get past a full socket before hanging up.
CLOSE_TIMEOUT: Final = 10.0
#: Close reasons are limited to 123 bytes by RFC 6455.
MAX_REASON: Final = 123
PATH: Final = "/api/v1/stream"
#: Seconds between the dedicated server's looks at its stop flag and Kafka reader.
STOP_POLL: Final = 0.5
LIVENESS_SECONDS: Final = 10.0


class FeedState(Protocol):
    """What the feed needs of the app's state (the web app's ``AppState``, or :class:`FeedOnly`)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def auth(self) -> AuthContext: ...


@dataclass(frozen=True)
class FeedOnly:
    """The state of a dedicated feed process: no ingest, no Kafka probe, only what the feed uses."""

    settings: Settings
    catalog: Catalog
    sessions: sessionmaker[Session]
    auth: AuthContext

    @classmethod
    def build(cls, settings: Settings) -> FeedOnly:
        sessions = make_sessionmaker(make_engine(settings))
        catalog = load_catalog()
        return cls(settings, catalog, sessions, AuthContext.build(settings, sessions, catalog))


class Socket(Protocol):
    """What the edge needs of a WebSocket: Starlette's, or :class:`DirectSocket`."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    async def receive(self) -> MutableMapping[str, Any]: ...

    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class DirectSocket:
    """A ``websockets`` server connection seen as an ASGI-style socket (one edge, two servers)."""

    def __init__(self, connection: ServerConnection) -> None:
        self.connection = connection
        self.headers: Mapping[str, str] = connection.request.headers if connection.request else {}
        jar: SimpleCookie = SimpleCookie(self.headers.get("cookie", ""))
        self.cookies: Mapping[str, str] = {name: m.value for name, m in jar.items()}

    async def receive(self) -> MutableMapping[str, Any]:
        try:
            data = await self.connection.recv()
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            return {"type": "websocket.disconnect", "code": code}
        return {"type": "websocket.receive", "text": data if isinstance(data, str) else None}

    async def send_text(self, data: str) -> None:
        try:
            await self.connection.send(data)
        except ConnectionClosed as exc:
            raise WebSocketDisconnect(1006) from exc

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self.connection.close(code, reason or "")


class Refused(Exception):
    """Close the socket: ``code`` and the client-facing ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def make_hub(state: FeedState) -> Hub:
    """The process's hub; its Kafka reader starts with the first subscription."""
    settings = state.settings

    def start_tail(on_batch: Any) -> KafkaTail:
        config = consumer_config(
            settings,
            group_id=f"skyalert-live-feed-{id(state)}",
            log_level=0,
            fetch_wait_max_ms=50,
        )
        tail = KafkaTail(config, state.catalog.alert_topics, on_batch)
        tail.start(timeout=settings.kafka_timeout)
        return tail

    return Hub(
        start_tail,
        ping_interval=settings.stream_ping_interval,
        recheck_interval=settings.stream_recheck_interval,
    )


@dataclass(frozen=True)
class Credential:
    """A socket's token or portal session, re-checked while the socket lives."""

    state: FeedState
    principal: Principal
    token: str | None
    cookie: str | None

    @property
    def key(self) -> Hashable:
        return (self.token, self.cookie)

    def recheck(self, topics: Sequence[str]) -> tuple[CloseCode, str] | None:
        expires = self.principal.expires_at
        if expires is not None and expires <= datetime.now(UTC):
            when = expires.isoformat(timespec="seconds")
            return CloseCode.UNAUTHORIZED, f"the token expired at {when}; get a new one, resume"
        if self.state.auth.still_valid(self.principal):
            return None
        try:
            current = self._authenticate()
        except InvalidToken as exc:
            return CloseCode.UNAUTHORIZED, str(exc)
        if current is None:
            return CloseCode.UNAUTHORIZED, "your portal session ended; log in again"
        for name in topics:
            topic = self.state.catalog.get(name)
            if topic is not None and not current.may_read(topic):
                return CloseCode.FORBIDDEN, f"you may no longer read {name}"
        return None

    def _authenticate(self) -> Principal | None:
        if self.token is not None:
            return self.state.auth.principal_from_token(self.token)
        assert self.cookie is not None
        return self.state.auth.principal_from_session(self.cookie)


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """The live feed; protocol and close codes: ops/live-feed.md."""
    state: FeedState = websocket.app.state.skyalert
    hub: Hub = websocket.app.state.stream_hub
    await websocket.accept()
    await _handle(websocket, state, hub)


async def _handle(
    websocket: Socket, state: FeedState, hub: Hub, direct: Connection | None = None
) -> None:
    """One socket from the handshake on, whichever server accepted it."""
    try:
        credential = await _authenticate(websocket, state)
        subscription = await _subscription(websocket, state, credential.principal)
        await hub.ready()
    except WebSocketDisconnect:
        return
    except Refused as refused:
        await _refuse(websocket, refused.code, refused.reason)
        return
    except SkyalertError as exc:  # Kafka unreachable or not configured
        log.error("live feed unavailable: %s", exc)
        await _refuse(websocket, CloseCode.TRY_AGAIN_LATER, "the live feed cannot reach Kafka")
        return
    queue_size = state.settings.stream_queue_size
    subscriber = Subscriber(websocket, subscription, credential, queue_size, direct)
    await _serve(websocket, hub, subscriber, state)


async def _serve(websocket: Socket, hub: Hub, subscriber: Subscriber, state: FeedState) -> None:
    replaying = subscriber.subscription.since.kind != "now"
    if replaying:
        subscriber.start_replay()
    # Registered before the answer (and before the archive is read): nothing slips between.
    hub.add(subscriber)
    tasks: list[asyncio.Task[None]] = []
    try:
        # ``resume``: where to start again if the socket drops before the first alert.
        answer = subscriber.subscription.describe() | {"resume": subscriber.resume_point()}
        await websocket.send_text(json.dumps(answer))
        reader = asyncio.create_task(_read(websocket, subscriber))
        subscriber.watch(reader)
        # A direct sender ends once the socket is live (its group writes from then on).
        sender = subscriber.start_sending()
        main, extra = ([reader], [sender]) if subscriber.direct else ([sender, reader], [])
        if replaying:
            extra.append(asyncio.create_task(catch_up(subscriber, state.sessions)))
        tasks = main + extra
        await _until_first_ends(main, extra)
    except WebSocketDisconnect:
        return
    except Exception:
        log.exception("live feed: a socket failed")
        subscriber.stop(CloseCode.INTERNAL_ERROR, "internal error; reconnect and resume")
    finally:
        hub.remove(subscriber)
        for task in tasks:
            task.cancel()
    if subscriber.closing is not None:
        await _close(websocket, subscriber.closing.code, subscriber.closing.reason)


async def _until_first_ends(
    main: list[asyncio.Task[None]], extra: list[asyncio.Task[None]]
) -> None:
    """Run the sender and the reader (and the replay) until the sender or the reader ends."""
    running = {*main, *extra}
    while True:
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error
        if any(task in done for task in main):
            return


async def _read(websocket: Socket, subscriber: Subscriber) -> None:
    """Client messages after ``subscribe``: pings; anything else gets an error answer."""
    while True:
        text = await _receive(websocket)
        try:
            message = parse_message(text)
            if message["type"] == "ping":
                subscriber.control(json.dumps({"type": "pong"}))
            elif message["type"] == "subscribe":
                raise StreamRequestError(
                    "this socket is already subscribed; open another connection for another "
                    "subscription"
                )
            elif message["type"] != "pong":
                raise StreamRequestError(f"unknown message type {message['type']!r}")
        except StreamRequestError as exc:
            subscriber.control(_error(str(exc)))


async def _receive(websocket: Socket) -> str | None:
    """The next client message: text, or None for a binary frame."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text: str | None = message.get("text")
    return text


async def _authenticate(websocket: Socket, state: FeedState) -> Credential:
    """Bearer header, else the portal session cookie, else a first ``auth`` message."""
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused(CloseCode.UNAUTHORIZED, "send 'Authorization: Bearer <token>'")
        return await _from_token(state, token.strip())
    cookie = websocket.cookies.get(COOKIE)
    if cookie:
        principal = await asyncio.to_thread(state.auth.principal_from_session, cookie)
        if principal is not None:
            return Credential(state, principal, None, cookie)
    try:
        text = await asyncio.wait_for(_receive(websocket), AUTH_TIMEOUT)
    except TimeoutError:
        raise Refused(
            CloseCode.UNAUTHORIZED, f"no auth message within {AUTH_TIMEOUT:g} s"
        ) from None
    try:
        token = auth_token(parse_message(text))
    except StreamRequestError as exc:
        raise Refused(CloseCode.UNAUTHORIZED, str(exc)) from None
    return await _from_token(state, token)


async def _from_token(state: FeedState, token: str) -> Credential:
    try:
        principal = await token_principal(state.auth, token)
    except InvalidToken as exc:
        raise Refused(CloseCode.UNAUTHORIZED, str(exc)) from None
    return Credential(state, principal, token, None)


async def _subscription(websocket: Socket, state: FeedState, principal: Principal) -> Subscription:
    """Wait for a valid ``subscribe``; answer pings and refuse mistakes meanwhile."""
    while True:
        text = await _receive(websocket)
        try:
            message = parse_message(text)
            kind = message["type"]
            if kind == "subscribe":
                return parse_subscribe(message, state.catalog, principal.may_read)
            if kind == "ping":
                await websocket.send_text(json.dumps({"type": "pong"}))
                continue
            if kind == "auth":
                raise StreamRequestError("already authenticated; send subscribe")
            raise StreamRequestError(f'unknown message type {kind!r}; send "subscribe"')
        except StreamRequestError as exc:
            await websocket.send_text(_error(str(exc)))


def _error(message: str) -> str:
    return json.dumps({"type": "error", "message": message})


def _reason(text: str) -> str:
    encoded = text.encode()
    if len(encoded) <= MAX_REASON:
        return text
    return encoded[: MAX_REASON - 3].decode("utf-8", "ignore") + "..."


async def _refuse(websocket: Socket, code: CloseCode, message: str) -> None:
    """Say why in an error message (close reasons are short), then close."""
    try:
        await websocket.send_text(_error(message))
    except WebSocketDisconnect:
        return
    await _close(websocket, code, message)


async def _close(websocket: Socket, code: CloseCode, reason: str) -> None:
    # The client may be gone, or never read on: then the server just hangs up.
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
        await asyncio.wait_for(websocket.close(int(code), _reason(reason)), CLOSE_TIMEOUT)


@asynccontextmanager
async def running(app: FastAPI, state: FeedState) -> AsyncIterator[None]:
    """The live feed's hub for the app's lifetime (part of the app's lifespan)."""
    hub = make_hub(state)
    app.state.stream_hub = hub
    try:
        yield
    finally:
        await hub.close()


def _only_the_stream(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.partition("?")[0] != PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"the live feed is at {PATH}\n")
    return None


async def serve_dedicated(
    state: FeedState,
    stop: threading.Event,
    live: Liveness | None = None,
    ready: Callable[[int], None] | None = None,
) -> None:
    """Serve the live feed on ``SKYALERT_STREAM_PORT`` (``SO_REUSEPORT``) until ``stop`` is set."""
    hub = make_hub(state)

    async def handler(connection: ServerConnection) -> None:
        await _handle(DirectSocket(connection), state, hub, direct=connection)

    settings = state.settings
    async with serve(
        handler,
        settings.host,
        settings.stream_port,
        reuse_port=True,
        backlog=4096,
        # Per-socket state kept small: no compression context, our JSON pings, short messages.
        compression=None,
        ping_interval=None,
        max_size=MAX_MESSAGE,
        max_queue=4,
        process_request=_only_the_stream,
    ) as server:
        await hub.ready()
        port = server.sockets[0].getsockname()[1]
        log.info("live feed serving ws://%s:%d%s", settings.host, port, PATH)
        if ready is not None:
            ready(port)
        try:
            await _watch(hub, stop, live)
        finally:
            await hub.close()


async def _watch(hub: Hub, stop: threading.Event, live: Liveness | None) -> None:
    next_beat = 0.0
    loop = asyncio.get_running_loop()
    while not await asyncio.to_thread(stop.wait, STOP_POLL):
        if live is not None and loop.time() >= next_beat:
            next_beat = loop.time() + LIVENESS_SECONDS
            detail = f"{hub.sockets} live-feed sockets in {hub.groups} groups"
            await asyncio.to_thread(live.beat, detail)
