"""Bad input on the live feed: every mistake gets a clear answer, the right close code."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import ClientConnection

from conftest import serving
from skyalert.auth.keys import KeyRing
from skyalert.auth.tokens import issue_access_token
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from support.auth import get_token, revoke_token
from support.feed_servers import feed_servers
from support.stream import credential, open_feed, own_loop, receive, subscribe, until_closed


@pytest.fixture(scope="module", params=["web app", "two feed processes"])
def quick_app(
    request: pytest.FixtureRequest, settings: Settings, stream_topics: None
) -> Iterator[tuple[str, str]]:
    """A web app and a feed (itself, or two feed processes) that re-check credentials and ping
    every few tenths of a second."""
    quick = settings.model_copy(
        update={"stream_recheck_interval": 0.2, "stream_ping_interval": 0.3}
    )
    with serving(quick) as url:
        if request.param == "web app":
            yield url, url
            return
        with feed_servers(quick, 2) as (feed, _servers):
            yield url, feed


async def closed_with(ws: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; its close code and reason."""
    _messages, close = await until_closed(ws)
    return close.code, close.reason


async def error_of(ws: ClientConnection, message: object) -> str:
    await ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
    answer = await receive(ws)
    assert answer["type"] == "error", answer
    return str(answer["message"])


@own_loop
async def test_malformed_messages_get_errors_and_the_socket_stays(
    app_url: str, reader_token: str
) -> None:
    async with open_feed(app_url, reader_token) as ws:
        assert "not valid JSON" in await error_of(ws, "{not json")
        assert "JSON object" in await error_of(ws, "[1, 2]")
        assert "text frames" in await error_of(ws, b"\x00\x01")
        assert '"type"' in await error_of(ws, {"topics": ["igwn.gwalert"]})
        assert "unknown message type 'listen'" in await error_of(ws, {"type": "listen"})
        assert "'topic' (did you mean 'topics'?)" in await error_of(
            ws, {"type": "subscribe", "topic": "igwn.gwalert"}
        )
        assert "non-empty list" in await error_of(ws, {"type": "subscribe", "topics": []})
        assert '"format"' in await error_of(
            ws, {"type": "subscribe", "topics": ["igwn.gwalert"], "format": "xml"}
        )
        assert '"since"' in await error_of(
            ws, {"type": "subscribe", "topics": ["igwn.gwalert"], "since": "yesterday"}
        )
        assert "cursor" in await error_of(
            ws, {"type": "subscribe", "topics": ["igwn.gwalert"], "since": {"cursor": "abc"}}
        )
        # Still usable after all that.
        await subscribe(ws, topics=["igwn.gwalert"])
        assert "already subscribed" in await error_of(
            ws, {"type": "subscribe", "topics": ["igwn.gwalert"]}
        )


@own_loop
async def test_unknown_topics_are_refused_with_the_closest_names(
    app_url: str, reader_token: str
) -> None:
    async with open_feed(app_url, reader_token) as ws:
        message = await error_of(
            ws, {"type": "subscribe", "topics": ["gcn.notices.swift.bat.guan"]}
        )
        assert "unknown topic 'gcn.notices.swift.bat.guan'" in message
        assert "did you mean gcn.notices.swift.bat.guano" in message
        message = await error_of(ws, {"type": "subscribe", "topics": ["skyalert.heartbeat"]})
        assert "not an alert topic" in message
        message = await error_of(ws, {"type": "subscribe", "topics": ["nope.*"]})
        assert "matches no alert topic" in message


@own_loop
async def test_bad_filters_are_refused_pointing_at_the_mistake(
    app_url: str, reader_token: str
) -> None:
    async with open_feed(app_url, reader_token) as ws:
        message = await error_of(
            ws,
            {
                "type": "subscribe",
                "topics": ["igwn.gwalert"],
                "filter": {"all": [{"field": "ra", "op": "near", "value": 1}]},
            },
        )
        assert message.startswith("invalid filter at /all/0")
        assert "near" in message


@own_loop
async def test_restricted_topics_need_their_scope(
    settings: Settings, app_url: str, reader_token: str
) -> None:
    async with open_feed(app_url, reader_token) as ws:
        message = await error_of(
            ws, {"type": "subscribe", "topics": ["igwn.early_warning.gwalert"]}
        )
        assert "you may not read igwn.early_warning.gwalert" in message
        assert "read:restricted.lvk_early" in message
        answer = await subscribe(ws, topics=["igwn.*"])
        assert answer["topics"] == ["igwn.gwalert"]
    insider = get_token(app_url, *credential(settings, groups=["restricted.lvk_early"]))
    async with open_feed(app_url, insider) as ws:
        answer = await subscribe(ws, topics=["igwn.*"])
        assert answer["topics"] == ["igwn.gwalert", "igwn.early_warning.gwalert"]


@own_loop
async def test_no_token_is_refused(app_url: str) -> None:
    async with open_feed(app_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": ["igwn.gwalert"]}))
        assert "authenticate first" in (await receive(ws))["message"]
        code, reason = await closed_with(ws)
    assert code == 4401
    assert "authenticate first" in reason


@own_loop
async def test_wrong_authorization_scheme_is_refused(app_url: str) -> None:
    async with open_feed(app_url, additional_headers={"Authorization": "Basic Zm9vOmJhcg=="}) as ws:
        code, reason = await closed_with(ws)
    assert (code, reason) == (4401, "send 'Authorization: Bearer <token>'")


@own_loop
async def test_tampered_token_is_refused(app_url: str, reader_token: str) -> None:
    head, body, signature = reader_token.split(".")
    forged = ".".join(
        [head, body, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")]
    )
    async with open_feed(app_url, forged) as ws:
        assert "signature does not verify" in (await receive(ws))["message"]
        code, _reason = await closed_with(ws)
    assert code == 4401


@own_loop
async def test_expired_token_is_refused(settings: Settings, app_url: str) -> None:
    client_id, _secret = credential(settings)
    engine = make_engine(settings)
    try:
        ring = KeyRing(make_sessionmaker(engine), settings)
        expired, _claims = issue_access_token(
            ring,
            settings,
            subject=client_id,
            client_id=client_id,
            scopes={"read:public"},
            lifetime=-60,
        )
    finally:
        engine.dispose()
    async with open_feed(app_url, expired) as ws:
        message = (await receive(ws))["message"]
        code, _reason = await closed_with(ws)
    assert code == 4401
    assert "expired" in message


@own_loop
async def test_revoked_token_is_disconnected(
    settings: Settings, quick_app: tuple[str, str]
) -> None:
    app, feed = quick_app
    client_id, secret = credential(settings)
    token = get_token(app, client_id, secret)
    async with open_feed(feed, token) as ws:
        await subscribe(ws, topics=["igwn.gwalert"])
        revoke_token(app, token, client_id, secret)
        code, reason = await closed_with(ws)
    assert code == 4401
    assert "revoked" in reason


@own_loop
async def test_server_pings(quick_app: tuple[str, str], reader_token: str) -> None:
    async with open_feed(quick_app[1], reader_token) as ws:
        await subscribe(ws, topics=["igwn.gwalert"])
        message = json.loads(await ws.recv())
    assert message["type"] == "ping"
    assert "time" in message


def test_without_kafka_the_feed_says_try_again_later(settings: Settings, reader_token: str) -> None:
    from skyalert.broker.kafka.kafka_node import free_port

    unreachable = settings.model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{free_port()}", "kafka_timeout": 1.0}
    )
    with serving(unreachable) as url:

        @own_loop
        async def attempt() -> None:
            async with open_feed(url, reader_token) as ws:
                await ws.send(json.dumps({"type": "subscribe", "topics": ["igwn.gwalert"]}))
                messages, close = await until_closed(ws)
            assert messages == [{"type": "error", "message": "the live feed cannot reach Kafka"}]
            assert (close.code, close.reason) == (1013, "the live feed cannot reach Kafka")

        attempt()
