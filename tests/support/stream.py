"""Helpers for live-feed tests: publish real alerts over HTTP, talk to /api/v1/stream."""

from __future__ import annotations

import asyncio
import base64
import copy
import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from skyalert.broker.core.settings import Settings
from support.auth import get_token, make_credential, make_user
from support.gcn_examples import GUANO_EXAMPLE, example
from support.ingest import GUANO_TOPIC, sync_catalog

EXAMPLES = Path(__file__).resolve().parents[2] / "schemas/skyalert/schemas/json/examples"
#: NASA's Swift BAT-GUANO example notice (with a position) from @nasa-gcn/schema.
GUANO = example(GUANO_EXAMPLE).document
#: Seconds to wait for an expected message before the test fails.
WAIT = 20.0


def ws_url(app_url: str) -> str:
    return app_url.replace("http://", "ws://") + "/api/v1/stream"


def guano(
    marker: str, ra: float = 212.443, dec: float = -31.082, *, test: bool = False, padding: int = 0
) -> dict[str, Any]:
    """NASA's Swift BAT-GUANO example moved to (ra, dec), unique by ``marker`` (ingest drops
    repeats)."""
    alert = copy.deepcopy(GUANO)
    alert.update(ra=ra, dec=dec, alert_tense="test" if test else "current")
    # Random padding: WebSocket compression would shrink repeated characters to nothing.
    noise = base64.b64encode(os.urandom(padding * 3 // 4)).decode()
    alert["additional_info"] = f"{marker} {uuid.uuid4().hex} {noise}"
    alert["id"] = [marker]
    return alert


def mine(marker: str) -> dict[str, Any]:
    """A filter that lets through only the alerts of one test."""
    return {"field": "id", "op": "contains", "value": marker}


def own_loop(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test in a fresh event loop on its own thread.

    Playwright's sync API (the browser tests) keeps an event loop running in the main thread for
    the rest of the session, where pytest-asyncio then cannot run another one.
    """

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        failure: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(test(*args, **kwargs))
            except BaseException as exc:
                failure.append(exc)

        thread = threading.Thread(target=target, name=f"test-{test.__name__}")
        thread.start()
        thread.join()
        if failure:
            raise failure[0]

    return run


def post_json(client: httpx.Client, alert: dict[str, Any], topic: str = GUANO_TOPIC) -> str:
    """Publish a JSON alert through ``client`` (a publisher's, with its base URL); its id."""
    return _published(client.post(f"/api/v1/topics/{topic}/alerts", json=alert))


def post_voevent(client: httpx.Client, raw: bytes, topic: str) -> str:
    """Publish a VOEvent packet through ``client``; its id."""
    headers = {"Content-Type": "application/x-voevent+xml"}
    return _published(client.post(f"/api/v1/topics/{topic}/alerts", content=raw, headers=headers))


def _published(response: httpx.Response) -> str:
    assert response.status_code == 201, response.text
    alert_id: str = response.json()["id"]
    return alert_id


class Publisher:
    """Publishes alerts through the real ``POST /api/v1/topics/{topic}/alerts``.

    A blocking client run in threads: it belongs to no event loop, so one fixture serves all.
    """

    def __init__(self, app_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=app_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        )

    async def json(self, alert: dict[str, Any], topic: str = GUANO_TOPIC) -> str:
        return await asyncio.to_thread(post_json, self.client, alert, topic)

    async def voevent(self, raw: bytes, topic: str) -> str:
        return await asyncio.to_thread(post_voevent, self.client, raw, topic)

    def close(self) -> None:
        self.client.close()


def credential(
    settings: Settings, groups: Iterable[str] = (), scopes: Iterable[str] | str = "all"
) -> tuple[str, str]:
    user = make_user(settings, groups=groups)
    return make_credential(settings, user, scopes)


def token(settings: Settings, app_url: str, groups: Iterable[str] = ()) -> str:
    return get_token(app_url, *credential(settings, groups))


def ensure_topics(settings: Settings) -> None:
    from skyalert.schemas.catalog import load_catalog

    assert settings.kafka_bootstrap is not None
    sync_catalog(settings, load_catalog())


def open_feed(app_url: str, token: str | None = None, **kwargs: Any) -> connect:
    if token:
        kwargs["additional_headers"] = {"Authorization": f"Bearer {token}"}
    return connect(ws_url(app_url), open_timeout=WAIT, **kwargs)


async def receive(ws: ClientConnection, timeout: float = WAIT) -> dict[str, Any]:
    """The next message other than a ping."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] != "ping":
            return message


async def subscribe(ws: ClientConnection, **request: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "subscribe", **request}))
    answer = await receive(ws)
    assert answer["type"] == "subscribed", answer
    return answer


async def alerts(ws: ClientConnection, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        message = await receive(ws, timeout)
        assert message["type"] == "alert", message
        found.append(message)
    return found


async def until_closed(
    ws: ClientConnection, timeout: float = WAIT
) -> tuple[list[dict[str, Any]], Close]:
    """Every message up to the server's close, and its close frame (fails without one)."""
    messages = []
    try:
        while True:
            messages.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    except ConnectionClosed as closed:
        close = closed.rcvd
    assert close is not None, "the connection ended without a close frame"
    return messages, close
