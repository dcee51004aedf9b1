"""``skyalert.client.stream()`` against the real app's live feed, archive and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.client import (
    Alert,
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    FilterError,
    ServerUnreachable,
    Stream,
    UnknownTopicError,
    fetch_discovery,
    stream,
)
from skyalert.client.stream import _Backoff, since_json
from support.auth import get_token, make_credential, make_user, revoke_membership
from support.feed_servers import feed_servers
from support.ingest import BAT_RA, BAT_TOPIC, GUANO_TOPIC, ivorn_of, unique_bat
from support.stream import WAIT, Publisher, guano, mine, own_loop

EARLY = "igwn.early_warning.gwalert"
EARLY_GROUP = "restricted.lvk_early"


@pytest.fixture(scope="module")
def reader(settings: Settings, server_url: str) -> tuple[str, str]:
    """A subscriber's credential (every account may read public topics)."""
    return make_credential(settings, make_user(settings), "all")


@pytest.fixture
def publisher(settings: Settings, server_url: str) -> Iterator[Publisher]:
    user = make_user(settings, groups=["producers.gcn"])
    publisher = Publisher(server_url, get_token(server_url, *make_credential(settings, user)))
    yield publisher
    publisher.close()


class OwnApp:
    """A second app on a port of its own (its discovery names that port), stopped and started
    again at will. Call both from a thread: stopping waits for open sockets to close."""

    def __init__(self, settings: Settings, **changes: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings.model_copy(
            update={"public_url": self.url, "port": self.port, **changes}
        )
        self._running: contextlib.ExitStack | None = None

    def start(self) -> None:
        self._running = contextlib.ExitStack()
        self._running.enter_context(serving(self.settings, self.port))

    def stop(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None


@contextlib.asynccontextmanager
async def own_app(settings: Settings, **changes: Any) -> AsyncIterator[OwnApp]:
    app = OwnApp(settings, **changes)
    await asyncio.to_thread(app.start)
    try:
        yield app
    finally:
        await asyncio.to_thread(app.stop)


class Collector:
    """Reads a stream in a task; the test awaits the alerts it wants."""

    def __init__(self, alerts: Stream) -> None:
        self.alerts = alerts
        self.received: list[Alert] = []
        self._arrived = asyncio.Condition()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for alert in self.alerts:
            async with self._arrived:
                self.received.append(alert)
                self._arrived.notify_all()

    async def until(self, alert_id: str, timeout: float = WAIT) -> list[Alert]:
        """Everything received up to and including ``alert_id``."""

        def seen() -> bool:
            return any(alert.id == alert_id for alert in self.received) or self.task.done()

        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(seen), timeout)
        if self.task.done():
            self.task.result()  # raises what ended the stream
        return list(self.received)

    async def failure(self, timeout: float = WAIT) -> BaseException | None:
        done, _running = await asyncio.wait({self.task}, timeout=timeout)
        assert done, "the stream is still running"
        return self.task.exception()

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        await self.alerts.aclose()


@contextlib.asynccontextmanager
async def collecting(alerts: Stream) -> AsyncIterator[Collector]:
    collector = Collector(alerts)
    try:
        yield collector
    finally:
        await collector.close()


async def subscribed(caplog: pytest.LogCaptureFixture, times: int = 1) -> None:
    """Wait until the stream has said ``subscribed`` ``times`` times (it logs each)."""

    def count() -> int:
        return sum(r.getMessage().startswith("subscribed to ") for r in caplog.records)

    deadline = asyncio.get_running_loop().time() + WAIT
    while count() < times:
        assert asyncio.get_running_loop().time() < deadline, "the stream never subscribed"
        await asyncio.sleep(0.02)


@pytest.fixture(autouse=True)
def stream_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skyalert.client.stream")


# --- receiving ----------------------------------------------------------------------------


@own_loop
async def test_alerts_arrive_decoded_with_cursors(
    server_url: str, reader: tuple[str, str], publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    tag = uuid.uuid4().hex
    alerts = stream(server_url, *reader, [GUANO_TOPIC], mine(tag))
    async with collecting(alerts) as collector:
        await subscribed(caplog)
        before = datetime.now(UTC) - timedelta(seconds=1)
        first = await publisher.json(guano(tag))
        (alert,) = await collector.until(first)
    assert alert.id == alert.cursor == first
    assert alerts.cursor == first
    assert alert.topic == GUANO_TOPIC
    assert alert.payload["ra"] == 212.443
    assert tag in alert.payload["id"]
    assert alert.content_type == "application/json"
    assert alert.test is False
    assert before <= alert.time <= datetime.now(UTC)
    assert alert.xml is None


@own_loop
async def test_wildcards_tests_and_voevent_format(
    server_url: str, reader: tuple[str, str], publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    tag = uuid.uuid4().hex
    drills = stream(server_url, *reader, ["gcn.notices.swift.*"], mine(tag), include_tests=True)
    packet = unique_bat()
    xml = stream(
        server_url,
        *reader,
        [BAT_TOPIC],
        {"field": "ivorn", "op": "eq", "value": ivorn_of(packet)},
        format="voevent",
    )
    async with collecting(drills) as tests, collecting(xml) as voevents:
        await subscribed(caplog, 2)
        drill = await publisher.json(guano(tag, test=True))
        real = await publisher.json(guano(tag))
        bat = await publisher.voevent(packet, BAT_TOPIC)
        assert [(a.id, a.test) for a in await tests.until(real)] == [(drill, True), (real, False)]
        (voevent,) = await voevents.until(bat)
    assert voevent.is_voevent
    assert voevent.raw == packet
    assert voevent.payload == {}


@own_loop
async def test_since_a_cursor_resumes_without_gaps_or_repeats(
    server_url: str, reader: tuple[str, str], publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    tag = uuid.uuid4().hex
    async with collecting(stream(server_url, *reader, GUANO_TOPIC, mine(tag))) as collector:
        await subscribed(caplog)
        first = await publisher.json(guano(tag))
        (seen,) = await collector.until(first)
    missed = [await publisher.json(guano(tag)) for _ in range(3)]
    again = stream(server_url, *reader, GUANO_TOPIC, mine(tag), since=seen.cursor)
    async with collecting(again) as collector:
        await collector.until(missed[-1])
        live = await publisher.json(guano(tag))
        received = await collector.until(live)
    assert [a.id for a in received] == [*missed, live]


@own_loop
async def test_since_a_time_or_the_last_n(
    server_url: str, reader: tuple[str, str], publisher: Publisher
) -> None:
    tag = uuid.uuid4().hex
    ids = [await publisher.json(guano(tag)) for _ in range(3)]
    by_time = stream(server_url, *reader, GUANO_TOPIC, mine(tag), since=timedelta(minutes=5))
    last_two = stream(server_url, *reader, GUANO_TOPIC, mine(tag), since={"last": 2})
    async with collecting(by_time) as everything, collecting(last_two) as newest:
        assert [a.id for a in await everything.until(ids[-1])] == ids
        assert [a.id for a in await newest.until(ids[-1])] == ids[1:]


# --- reconnecting -------------------------------------------------------------------------


@own_loop
async def test_a_restarted_server_is_reconnected_and_nothing_is_missed(
    client_settings: Settings,
    reader: tuple[str, str],
    publisher: Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tag = uuid.uuid4().hex
    async with own_app(client_settings) as app:
        alerts = stream(app.url, *reader, GUANO_TOPIC, mine(tag), max_backoff=1.0)
        async with collecting(alerts) as collector:
            await subscribed(caplog)
            first = await publisher.json(guano(tag))
            await collector.until(first)
            await asyncio.to_thread(app.stop)
            missed = await publisher.json(guano(tag))  # through the other app: same archive
            await asyncio.to_thread(app.start)
            await collector.until(missed, timeout=60)
            live = await publisher.json(guano(tag))
            received = await collector.until(live)
    assert [a.id for a in received] == [first, missed, live]
    assert any("lost the live feed" in r.getMessage() for r in caplog.records)


@own_loop
async def test_an_expired_token_is_renewed_and_the_stream_resumes(
    client_settings: Settings,
    reader: tuple[str, str],
    publisher: Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tag = uuid.uuid4().hex
    async with own_app(client_settings, token_lifetime=2, stream_recheck_interval=0.2) as app:
        alerts = stream(app.url, *reader, GUANO_TOPIC, mine(tag))
        async with collecting(alerts) as collector:
            await subscribed(caplog)
            first = await publisher.json(guano(tag))
            await collector.until(first)
            await subscribed(caplog, 2)  # the token expired, a new one was fetched
            then = await publisher.json(guano(tag))
            received = await collector.until(then)
    assert [a.id for a in received] == [first, then]
    assert any("4401" in r.getMessage() and "expired" in r.getMessage() for r in caplog.records)


@own_loop
async def test_losing_the_group_ends_the_stream_naming_why(
    settings: Settings, client_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    user = make_user(settings, groups=[EARLY_GROUP])
    insider = make_credential(settings, user, "all")
    async with (
        own_app(client_settings, stream_recheck_interval=0.2) as app,
        collecting(stream(app.url, *insider, EARLY)) as collector,
    ):
        await subscribed(caplog)
        await asyncio.to_thread(revoke_membership, settings, user.email, EARLY_GROUP)
        failure = await collector.failure()
    assert isinstance(failure, AuthorizationError)
    assert f"you may no longer read {EARLY}" in str(failure)


@own_loop
async def test_without_reconnect_a_drop_is_an_error(
    client_settings: Settings, reader: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    async with own_app(client_settings) as app:
        alerts = stream(app.url, *reader, GUANO_TOPIC, reconnect=False)
        async with collecting(alerts) as collector:
            await subscribed(caplog)
            await asyncio.to_thread(app.stop)
            failure = await collector.failure()
    assert isinstance(failure, ServerUnreachable)
    assert "reconnect=True" in str(failure)


# --- mistakes -----------------------------------------------------------------------------


async def first_error(alerts: Stream) -> BaseException:
    with pytest.raises(Exception) as raised:  # noqa: PT011 - each test checks the type
        async with alerts:
            await asyncio.wait_for(alerts.__anext__(), WAIT)
    return raised.value


@own_loop
async def test_mistakes_are_refused_with_what_to_do(
    settings: Settings, server_url: str, reader: tuple[str, str]
) -> None:
    misspelt = await first_error(stream(server_url, *reader, ["gcn.notices.swift.bat.guan"]))
    assert isinstance(misspelt, UnknownTopicError)
    assert "did you mean gcn.notices.swift.bat.guano?" in str(misspelt)
    nothing = await first_error(stream(server_url, *reader, ["nosuch.*"]))
    assert isinstance(nothing, UnknownTopicError)
    assert "matches no alert topic" in str(nothing)
    heartbeat = await first_error(stream(server_url, *reader, ["skyalert.heartbeat"]))
    assert isinstance(heartbeat, ConfigurationError)
    assert "not an alert topic" in str(heartbeat)
    restricted = await first_error(stream(server_url, *reader, [EARLY]))
    assert isinstance(restricted, AuthorizationError)
    assert restricted.scope == f"read:{EARLY_GROUP}"
    wrong = await first_error(stream(server_url, reader[0], "not-the-secret", [GUANO_TOPIC]))
    assert isinstance(wrong, AuthenticationError)
    assert f"the server refused client id {reader[0]!r}" in str(wrong)


def test_arguments_are_checked_before_connecting() -> None:
    nowhere = "http://127.0.0.1:9"  # nothing connects: these fail first
    with pytest.raises(FilterError, match="unknown operator"):
        stream(nowhere, "id", "secret", [GUANO_TOPIC], {"field": "ra", "op": "near"})
    with pytest.raises(ConfigurationError, match="needs a credential"):
        stream(nowhere, "", "", [GUANO_TOPIC])
    with pytest.raises(ConfigurationError, match="one or more topic names"):
        stream(nowhere, "id", "secret", [])
    with pytest.raises(ConfigurationError, match="format must be"):
        # Wrong types on purpose: callers without a type checker get a clear error.
        stream(nowhere, "id", "secret", [GUANO_TOPIC], format="xml")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="since must be"):
        stream(nowhere, "id", "secret", [GUANO_TOPIC], since=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="positive"):
        stream(nowhere, "id", "secret", [GUANO_TOPIC], since=timedelta(0))


def test_since_forms() -> None:
    assert since_json(None) == since_json("now") == "now"
    assert since_json("01JDB7Y3K9Q8Z5T4W2V1X0N6M3") == {"cursor": "01JDB7Y3K9Q8Z5T4W2V1X0N6M3"}
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert since_json(naive) == {"time": "2026-01-02T03:04:05Z"}
    assert since_json(naive.replace(tzinfo=UTC)) == {"time": "2026-01-02T03:04:05Z"}
    assert since_json({"last": 5}) == {"last": 5}
    recent = since_json(timedelta(hours=1))
    assert isinstance(recent, dict)
    when = datetime.fromisoformat(recent["time"])
    assert abs(when - (datetime.now(UTC) - timedelta(hours=1))) < timedelta(minutes=1)


@own_loop
async def test_voevent_alerts_in_their_json_form(
    server_url: str, reader: tuple[str, str], publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    packet = unique_bat()
    only = {"field": "ivorn", "op": "eq", "value": ivorn_of(packet)}
    async with collecting(stream(server_url, *reader, BAT_TOPIC, only)) as collector:
        await subscribed(caplog)
        bat = await publisher.voevent(packet, BAT_TOPIC)
        (alert,) = await collector.until(bat)
    assert alert.payload["ra"] == BAT_RA
    assert alert.content_type == "application/json"  # what ``raw`` holds: the JSON form
    assert not alert.is_voevent


@own_loop
async def test_an_unreachable_feed_without_reconnect_says_so(
    server_url: str, reader: tuple[str, str]
) -> None:
    real = fetch_discovery(server_url)
    closed = f"ws://127.0.0.1:{free_port()}/api/v1/stream"
    gone = dataclasses.replace(real, stream_url=closed)
    failure = await first_error(stream(None, *reader, GUANO_TOPIC, discovery=gone, reconnect=False))
    assert isinstance(failure, ServerUnreachable)
    assert f"the live feed at {closed} closed (connection refused)" in str(failure)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    backoff = _Backoff(cap=4.0, _random=random.Random(7))
    delays = [backoff.next() for _ in range(8)]
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next() <= 0.5


# --- the feed's own server -----------------------------------------------------------------


@own_loop
async def test_stream_follows_discovery_to_the_feeds_own_server(
    client_settings: Settings,
    reader: tuple[str, str],
    publisher: Publisher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    app = OwnApp(client_settings, stream_port=port)
    # The feed checks tokens against the issuer it is told: this app's own public URL.
    with feed_servers(app.settings, 1):
        await asyncio.to_thread(app.start)
        try:
            discovery = await asyncio.to_thread(fetch_discovery, app.url)
            assert discovery.stream_url == f"ws://127.0.0.1:{port}/api/v1/stream"
            tag = uuid.uuid4().hex
            async with collecting(stream(app.url, *reader, [GUANO_TOPIC], mine(tag))) as got:
                await subscribed(caplog)
                sent = await publisher.json(guano(tag))
                (alert,) = await got.until(sent)
        finally:
            await asyncio.to_thread(app.stop)
    assert alert.id == sent
    assert alert.payload["ra"] == 212.443
