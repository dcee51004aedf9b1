"""WebSocket ``/api/v1/stream``: the live feed. Authenticate, take one subscription, stream.

The protocol is in :mod:`skyalert.broker.livefeed.protocol`, fan-out in
:mod:`skyalert.broker.livefeed.hub`, resume in :mod:`skyalert.broker.livefeed.replay`;
this is the thin edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect

from skyalert.auth.errors import InvalidToken
from skyalert.auth.principal import Principal
from skyalert.auth.sessions import COOKIE
from skyalert.broker.core.errors import SkyalertError
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.livefeed.hub import Hub, KafkaTail, Subscriber
from skyalert.broker.livefeed.protocol import (
    CloseCode,
    StreamRequestError,
    Subscription,
    auth_token,
    parse_message,
    parse_subscribe,
)
from skyalert.broker.livefeed.replay import catch_up
from skyalert.web.api.security import principal_from_token, still_valid
from skyalert.web.state import AppState

log = logging.getLogger(__name__)
router = APIRouter(tags=["live feed"])

#: Seconds a browser has to send its ``auth`` message.
AUTH_TIMEOUT: Final = 10.0
#: Seconds to wait for a close frame to get past a full socket before hanging up.
CLOSE_TIMEOUT: Final = 10.0
#: Close reasons are limited to 123 bytes by RFC 6455.
MAX_REASON: Final = 123


class Refused(Exception):
    """Close the socket: ``code`` and the client-facing ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def make_hub(state: AppState) -> Hub:
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

    state: AppState
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
        if still_valid(self.state, self.principal):
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
            return principal_from_token(self.state, self.token)
        assert self.cookie is not None
        return self.state.auth.principal_from_session(self.cookie)


@router.websocket("/api/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """The live feed; protocol and close codes: ops/live-feed.md."""
    state: AppState = websocket.app.state.skyalert
    hub: Hub = websocket.app.state.stream_hub
    await websocket.accept()
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
    subscriber = Subscriber(websocket, subscription, credential, queue_size)
    await _serve(websocket, hub, subscriber, state)


async def _serve(websocket: WebSocket, hub: Hub, subscriber: Subscriber, state: AppState) -> None:
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
        main = [subscriber.start_sending(), asyncio.create_task(_read(websocket, subscriber))]
        extra = [asyncio.create_task(catch_up(subscriber, state.sessions))] if replaying else []
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


async def _read(websocket: WebSocket, subscriber: Subscriber) -> None:
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


async def _receive(websocket: WebSocket) -> str | None:
    """The next client message: text, or None for a binary frame."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text: str | None = message.get("text")
    return text


async def _authenticate(websocket: WebSocket, state: AppState) -> Credential:
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


async def _from_token(state: AppState, token: str) -> Credential:
    try:
        principal = await asyncio.to_thread(principal_from_token, state, token)
    except InvalidToken as exc:
        raise Refused(CloseCode.UNAUTHORIZED, str(exc)) from None
    return Credential(state, principal, token, None)


async def _subscription(
    websocket: WebSocket, state: AppState, principal: Principal
) -> Subscription:
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


async def _refuse(websocket: WebSocket, code: CloseCode, message: str) -> None:
    """Say why in an error message (close reasons are short), then close."""
    try:
        await websocket.send_text(_error(message))
    except WebSocketDisconnect:
        return
    await _close(websocket, code, message)


async def _close(websocket: WebSocket, code: CloseCode, reason: str) -> None:
    # The client may be gone, or never read on: then the server just hangs up.
    with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
        await asyncio.wait_for(websocket.close(int(code), _reason(reason)), CLOSE_TIMEOUT)


@asynccontextmanager
async def running(app: FastAPI, state: AppState) -> AsyncIterator[None]:
    """The live feed's hub for the app's lifetime (part of the app's lifespan)."""
    hub = make_hub(state)
    app.state.stream_hub = hub
    try:
        yield
    finally:
        await hub.close()
