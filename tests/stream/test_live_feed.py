"""The live feed as a new user meets it: a token, a plain websockets client, alerts over HTTP."""

from __future__ import annotations

import re
import uuid

import httpx

from skyalert.auth.sessions import COOKIE, start_session
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.secrets import server_secret
from skyalert.broker.core.settings import Settings
from support.auth import make_user
from support.ingest import BAT_DEC, BAT_RA, BAT_TOPIC, unique_bat
from support.stream import Publisher, alerts, guano, mine, open_feed, own_loop, receive, subscribe

CONE = {"cone": {"ra": 212.4, "dec": -31.1, "radius": 1.0}}


def marker() -> str:
    return f"m{uuid.uuid4().hex[:12]}"


@own_loop
async def test_cone_filter_delivers_matching_alert_only(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    tag = marker()
    async with open_feed(feed_url, reader_token) as ws:
        answer = await subscribe(
            ws, topics=["gcn.notices.swift.bat.guano"], filter={"all": [CONE, mine(tag)]}
        )
        assert answer["topics"] == ["gcn.notices.swift.bat.guano"]
        assert answer["since"] == "now"
        assert answer["format"] == "json"
        assert answer["test"] is False
        outside = await publisher.json(guano(tag, ra=10.0, dec=40.0))
        inside = await publisher.json(guano(tag))
        (message,) = await alerts(ws, 1)
    # The one outside the cone was published first: had it matched, it would have come first.
    assert outside < inside
    assert message["id"] == message["cursor"] == inside
    assert message["topic"] == "gcn.notices.swift.bat.guano"
    assert message["alert"]["ra"] == 212.443
    assert tag in message["alert"]["id"]


@own_loop
async def test_test_alerts_only_when_asked(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    tag = marker()
    async with (
        open_feed(feed_url, reader_token) as plain,
        open_feed(feed_url, reader_token) as tests,
    ):
        await subscribe(plain, topics=["gcn.notices.swift.*"], filter=mine(tag))
        await subscribe(tests, topics=["gcn.notices.swift.*"], filter=mine(tag), test=True)
        drill = await publisher.json(guano(tag, test=True))
        real = await publisher.json(guano(tag))
        assert [m["id"] for m in await alerts(plain, 1)] == [real]
        assert [m["id"] for m in await alerts(tests, 2)] == [drill, real]


@own_loop
async def test_voevent_format_sends_the_original_xml(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    raw = unique_bat()
    ivorn = re.search(rb'ivorn="([^"]+)"', raw)
    assert ivorn is not None
    # Its own alert only: another process's feed may still be delivering an earlier test's.
    own = {"field": "ivorn", "op": "eq", "value": ivorn.group(1).decode()}
    async with open_feed(feed_url, reader_token) as ws:
        answer = await subscribe(
            ws,
            topics=["gcn.classic.voevent.SWIFT_*"],
            format="voevent",
            filter={"all": [{"cone": {"ra": BAT_RA, "dec": BAT_DEC, "radius": 0.5}}, own]},
        )
        assert BAT_TOPIC in answer["topics"]
        alert_id = await publisher.voevent(raw, BAT_TOPIC)
        (message,) = await alerts(ws, 1)
    assert message["id"] == alert_id
    assert message["xml"].encode() == raw
    assert "alert" not in message


@own_loop
async def test_voevent_format_on_a_json_topic_sends_json_with_a_note(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    tag = marker()
    async with open_feed(feed_url, reader_token) as ws:
        await subscribe(
            ws, topics=["gcn.notices.swift.bat.guano"], format="voevent", filter=mine(tag)
        )
        await publisher.json(guano(tag))
        (message,) = await alerts(ws, 1)
    assert "xml" not in message
    assert tag in message["alert"]["id"]
    assert "JSON alerts only" in message["note"]


@own_loop
async def test_browser_style_auth_message(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    tag = marker()
    async with open_feed(feed_url) as ws:
        await ws.send(f'{{"type": "auth", "token": "{reader_token}"}}')
        await subscribe(ws, topics=["gcn.notices.swift.bat.guano"], filter=mine(tag))
        alert_id = await publisher.json(guano(tag))
        assert [m["id"] for m in await alerts(ws, 1)] == [alert_id]


@own_loop
async def test_resume_by_cursor_gives_exactly_the_missed_alerts_then_live(
    feed_url: str, reader_token: str, publisher: Publisher
) -> None:
    tag = marker()
    request = {"topics": ["gcn.notices.swift.bat.guano"], "filter": mine(tag)}
    async with open_feed(feed_url, reader_token) as ws:
        await subscribe(ws, **request)
        first = await publisher.json(guano(tag))
        (seen,) = await alerts(ws, 1)
    assert seen["id"] == first
    missed = [await publisher.json(guano(tag)) for _ in range(3)]
    async with open_feed(feed_url, reader_token) as ws:
        answer = await subscribe(ws, **request, since={"cursor": seen["cursor"]})
        assert answer["since"] == {"cursor": first}
        assert [m["id"] for m in await alerts(ws, 3)] == missed
        live = await publisher.json(guano(tag))
        assert [m["id"] for m in await alerts(ws, 1)] == [live]


@own_loop
async def test_since_last_and_time(feed_url: str, reader_token: str, publisher: Publisher) -> None:
    tag = marker()
    request = {"topics": ["gcn.notices.swift.bat.guano"], "filter": mine(tag)}
    published = [await publisher.json(guano(tag)) for _ in range(4)]
    async with open_feed(feed_url, reader_token) as ws:
        await subscribe(ws, **request, since={"last": 2})
        assert [m["id"] for m in await alerts(ws, 2)] == published[2:]
        live = await publisher.json(guano(tag))
        assert [m["id"] for m in await alerts(ws, 1)] == [live]
    async with open_feed(feed_url, reader_token) as ws:
        await subscribe(ws, **request, since={"time": "2000-01-01T00:00:00Z"})
        assert [m["id"] for m in await alerts(ws, 5)] == [*published, live]


@own_loop
async def test_pings_and_metrics(app_url: str, reader_token: str, publisher: Publisher) -> None:
    tag = marker()
    async with open_feed(app_url, reader_token) as ws:
        await ws.send('{"type": "ping"}')
        assert await receive(ws) == {"type": "pong"}
        await subscribe(ws, topics=["gcn.notices.swift.bat.guano"], filter=mine(tag))
        await publisher.json(guano(tag))
        await alerts(ws, 1)
        await ws.send('{"type": "ping"}')
        assert await receive(ws) == {"type": "pong"}
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{app_url}/metrics")).text
    for name in (
        "skyalert_stream_sockets",
        "skyalert_stream_alerts_delivered_total",
        "skyalert_stream_slow_clients_dropped_total",
        "skyalert_stream_delivery_latency_seconds_bucket",
    ):
        assert name in text
    delivered = [
        line
        for line in text.splitlines()
        if line.startswith(
            'skyalert_stream_alerts_delivered_total{topic="gcn.notices.swift.bat.guano"}'
        )
    ]
    assert delivered
    assert float(delivered[0].split()[-1]) >= 1


@own_loop
async def test_portal_session_cookie_authenticates(
    settings: Settings, feed_url: str, publisher: Publisher
) -> None:
    user = make_user(settings)
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine).begin() as session:
            cookie = start_session(session, server_secret(settings), session.merge(user), 600)
    finally:
        engine.dispose()
    tag = marker()
    async with open_feed(feed_url, additional_headers={"Cookie": f"{COOKIE}={cookie}"}) as ws:
        await subscribe(ws, topics=["gcn.notices.swift.bat.guano"], filter=mine(tag))
        alert_id = await publisher.json(guano(tag))
        assert [m["id"] for m in await alerts(ws, 1)] == [alert_id]
