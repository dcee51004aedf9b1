"""``Consumer.alerts()`` against the real Kafka and the real app (discovery says PLAINTEXT)."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.admin import sync_topics
from skyalert.broker.kafka.config import admin_config
from skyalert.client import (
    Alert,
    ConfigurationError,
    Consumer,
    FilterError,
    StallError,
    UnknownTopicError,
    fetch_discovery,
)
from skyalert.schemas.catalog import load_catalog
from support.client import JsonStub, heartbeat, produce_alerts, within

TOPIC = "gcn.notices.dsa110.frb"
OTHER = "gcn.notices.superk.sn_alert"


def consumer(server_url: str, **options: Any) -> Consumer:
    return Consumer(server=server_url, group_id=f"test-{uuid.uuid4().hex}", **options)


def collect(alerts: Iterator[Alert], ids: list[str], *, timeout: float = 30) -> list[Alert]:
    """Alerts of ``ids`` in arrival order (the topics also hold other tests' alerts)."""
    wanted, found = set(ids), []
    with within(timeout):
        for alert in alerts:
            if alert.id in wanted:
                found.append(alert)
                if {a.id for a in found} >= wanted:
                    return found
    raise AssertionError("the iterator ended")


def grb(**fields: Any) -> dict[str, Any]:
    return {
        "mission": "DSA-110",
        "ra": 150.0,
        "dec": 30.0,
        "ra_dec_error": 0.1,
        "alert_tense": "current",
        "note": uuid.uuid4().hex,
    } | fields


def test_alerts_arrive_decoded(server_url: str, settings: Settings) -> None:
    payloads = [grb(n=i) for i in range(3)]
    started = datetime.now(UTC) - timedelta(seconds=5)
    ids = produce_alerts(settings, TOPIC, payloads)
    reader = consumer(server_url)
    try:
        found = collect(reader.alerts(TOPIC, stall_timeout=None), ids)
    finally:
        reader.close()
    assert [a.id for a in found] == ids
    assert [a.payload for a in found] == payloads
    first = found[0]
    assert first.topic == TOPIC
    assert first.content_type == "application/json"
    assert first.raw.startswith(b"{")
    assert first.xml is None
    assert not first.is_voevent
    assert first.test is False
    assert first.sender == "test-sender"
    assert first.schema == "https://example.org/x.json"
    assert first.time >= started
    assert first.timestamp > 0
    assert dict(first.headers)["alert-id"] == first.id.encode()
    assert found[1].offset == first.offset + 1
    assert found[1].partition == first.partition


def test_test_alerts_are_skipped_unless_asked_for(server_url: str, settings: Settings) -> None:
    tests = produce_alerts(settings, TOPIC, [grb(alert_tense="test")], test=True)
    real = produce_alerts(settings, TOPIC, [grb()])
    reader = consumer(server_url)
    try:
        seen = [a.id for a in collect(reader.alerts(TOPIC, stall_timeout=None), real)]
    finally:
        reader.close()
    assert tests[0] not in seen
    reader = consumer(server_url)
    try:
        both = collect(reader.alerts(TOPIC, include_tests=True, stall_timeout=None), tests + real)
    finally:
        reader.close()
    assert [a.id for a in both] == tests + real
    assert both[0].test is True


def test_filter_is_applied_on_the_client(server_url: str, settings: Settings) -> None:
    far, near, bright = grb(ra=10.0, dec=-40.0), grb(ra=150.4, dec=30.2), grb(snr=50)
    ids = produce_alerts(settings, TOPIC, [far, near, bright])
    notes = [near["note"], bright["note"]]
    wanted = {
        "all": [
            {"cone": {"ra": 150, "dec": 30, "radius": 0.5}},
            {"field": "note", "op": "in", "value": notes},
        ]
    }
    reader = consumer(server_url)
    try:
        found = collect(reader.alerts(TOPIC, filter=wanted, stall_timeout=None), ids[1:])
    finally:
        reader.close()
    assert [a.payload["note"] for a in found] == [near["note"], bright["note"]]


def test_a_bad_filter_is_refused_before_connecting(server_url: str) -> None:
    reader = consumer(server_url)
    try:
        with pytest.raises(FilterError, match="at /op"):
            reader.alerts(TOPIC, filter={"field": "ra", "op": "near", "value": 1})
        assert reader.assignment() == []
    finally:
        reader.close()


def test_unknown_topic_is_refused_before_connecting(server_url: str) -> None:
    reader = consumer(server_url)
    try:
        with pytest.raises(UnknownTopicError, match=r"did you mean gcn\.notices\.dsa110\.frb"):
            reader.alerts(["gcn.notices.dsa110.frbb"])
    finally:
        reader.close()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"format": "xml"}, "format must be"),
        ({"on_stall": "retry"}, "on_stall must be"),
        ({"stall_timeout": 0}, "stall_timeout must be"),
    ],
)
def test_bad_options_are_refused(server_url: str, options: dict[str, Any], words: str) -> None:
    reader = consumer(server_url)
    try:
        with pytest.raises(ConfigurationError, match=words):
            reader.alerts(TOPIC, **options)
        with pytest.raises(ConfigurationError, match="one or more topic names"):
            reader.alerts([])
    finally:
        reader.close()


def test_restart_resumes_without_repeats_or_gaps(server_url: str, settings: Settings) -> None:
    group = f"test-{uuid.uuid4().hex}"
    ids = produce_alerts(settings, TOPIC, [grb(n=i) for i in range(4)])
    first = Consumer(server=server_url, group_id=group)
    got: list[str] = []
    try:
        with within(30):
            for alert in first.alerts(TOPIC, stall_timeout=None):
                if alert.id in ids:
                    got.append(alert.id)
                if len(got) == 2:
                    first.commit_alert(alert)  # handled: keep it done although we break
                    break
    finally:
        first.close()
    more = produce_alerts(settings, TOPIC, [grb(n=9)])
    second = Consumer(server=server_url, group_id=group)
    try:
        rest = [a.id for a in collect(second.alerts(TOPIC, stall_timeout=None), ids[2:] + more)]
    finally:
        second.close()
    assert got + rest == ids + more  # no repeats, no gaps, in order


CTRL_C_CHILD = """
import sys
from skyalert.client import Consumer

reader = Consumer(server=sys.argv[1], group_id=sys.argv[2])
for alert in reader.alerts(sys.argv[3], stall_timeout=None):  # the README's loop: no close()
    print(alert.id, flush=True)
"""


def test_a_program_stopped_by_ctrl_c_leaves_its_group(server_url: str, settings: Settings) -> None:
    (alert_id,) = produce_alerts(settings, TOPIC, [grb()])
    group = f"test-{uuid.uuid4().hex}"
    command = [sys.executable, "-c", CTRL_C_CHILD, server_url, group, TOPIC]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as program:
        assert program.stdout is not None
        with within(60):
            while program.stdout.readline().strip() != alert_id:
                pass
        program.send_signal(signal.SIGINT)
        assert program.wait(30) != 0  # KeyboardInterrupt
    # Left at exit: a restart need not wait for Kafka to give up on a silent member (45 s).
    admin = AdminClient(admin_config(settings))
    (described,) = admin.describe_consumer_groups([group]).values()
    assert described.result(10).state == ConsumerGroupState.EMPTY


EXIT_CHILD = """
import sys
from skyalert.client import Producer

# A long linger keeps the message queued when the script ends, without a flush().
Producer(server=sys.argv[1], linger_ms=60_000).produce(sys.argv[2], sys.argv[3].encode())
"""


def test_a_producer_delivers_what_it_holds_when_the_program_ends(
    server_url: str, settings: Settings
) -> None:
    sent = grb()
    subprocess.run(
        [sys.executable, "-c", EXIT_CHILD, server_url, TOPIC, json.dumps(sent)],
        check=True,
        timeout=60,
    )
    reader = consumer(server_url)
    try:
        with within(30):
            next(a for a in reader.alerts(TOPIC, stall_timeout=None) if a.payload == sent)
    finally:
        reader.close()


def test_breaking_out_without_commit_gives_that_alert_again(
    server_url: str, settings: Settings
) -> None:
    group = f"test-{uuid.uuid4().hex}"
    ids = produce_alerts(settings, TOPIC, [grb(), grb()])
    first = Consumer(server=server_url, group_id=group)
    try:
        with within(30):
            for alert in first.alerts(TOPIC, stall_timeout=None):
                if alert.id == ids[0]:
                    break  # as if the loop body failed on it: at least once, it comes again
    finally:
        first.close()
    second = Consumer(server=server_url, group_id=group)
    try:
        again = collect(second.alerts(TOPIC, stall_timeout=None), ids)
    finally:
        second.close()
    assert [a.id for a in again] == ids


def test_a_quiet_topic_is_not_an_error(
    server_url: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    quiet = f"test.quiet.{uuid.uuid4().hex[:8]}"  # in the catalog, never created in Kafka
    document = fetch_discovery(server_url).document
    catalog = {
        "topics": [
            {"name": TOPIC, "content_type": "application/json"},
            {"name": quiet, "content_type": "application/json"},
        ]
    }
    with JsonStub() as stub:
        stub.routes["/.well-known/skyalert"] = {
            **document,
            "catalog_url": f"{stub.url}/api/v1/topics",
        }
        stub.routes["/api/v1/topics"] = catalog
        reader = consumer(stub.url)
        try:
            with caplog.at_level(logging.INFO, logger="skyalert.client"):
                alerts = reader.alerts([quiet, TOPIC], stall_timeout=None)
                ids = produce_alerts(settings, TOPIC, [grb()])
                assert [a.id for a in collect(alerts, ids)] == ids
        finally:
            reader.close()
    assert f"{quiet} has no alerts yet" in caplog.text


@pytest.fixture
def own_heartbeat(server_url: str, settings: Settings) -> Iterator[tuple[str, Any]]:
    """A stub discovery naming a heartbeat topic of this test's own (nobody else beats there)."""
    topic = load_catalog().heartbeat.model_copy(update={"name": f"test.hb.{uuid.uuid4().hex[:8]}"})
    sync_topics(AdminClient(admin_config(settings)), [topic])
    document = fetch_discovery(server_url).document
    with JsonStub() as stub:
        stub.routes["/.well-known/skyalert"] = {**document, "heartbeat_topic": topic.name}
        yield stub.url, topic


def test_heartbeats_keep_a_quiet_listener_alive(
    settings: Settings, own_heartbeat: tuple[str, Any]
) -> None:
    url, topic = own_heartbeat
    reader = consumer(url)
    late = grb()
    later = threading.Timer(6.0, produce_alerts, (settings, TOPIC, [late]))
    try:
        with heartbeat(settings, topic), within(60):
            alerts = reader.alerts(TOPIC, stall_timeout=2.0)
            later.start()  # nothing but heartbeats for three stall periods
            arrived = next(a for a in alerts if a.payload.get("note") == late["note"])
    finally:
        later.cancel()
        reader.close()
    assert arrived.topic == TOPIC


def test_a_stopped_heartbeat_raises_a_stall_error(
    settings: Settings, own_heartbeat: tuple[str, Any]
) -> None:
    url, topic = own_heartbeat
    reader = consumer(url)
    stopped: list[float] = []
    with ExitStack() as beating:
        beating.enter_context(heartbeat(settings, topic))

        def stop_heartbeat() -> None:
            beating.close()
            stopped.append(time.monotonic())

        timer = threading.Timer(4.0, stop_heartbeat)
        try:
            alerts = reader.alerts(OTHER, stall_timeout=3.0)
            timer.start()
            with pytest.raises(StallError) as caught, within(60):
                for _ in alerts:
                    pass
            raised = time.monotonic()
        finally:
            timer.cancel()
            reader.close()
    assert stopped, "the heartbeat was never stopped"
    assert raised > stopped[0], "stalled while the heartbeat was still beating"
    assert raised - stopped[0] < 3.0 + 10.0  # within the configured time (and some slack)
    message = str(caught.value)
    assert f"not even the server's heartbeat on {topic.name}" in message
    assert "on_stall='reconnect'" in message
    assert "stall_timeout=None" in message


def test_reconnect_on_stall_keeps_going(
    settings: Settings, own_heartbeat: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    url, _topic = own_heartbeat  # no heartbeat at all: every 2 s is a stall
    reader = consumer(url)
    late = grb()

    def publish_after_a_reconnect() -> None:
        while "Reconnecting" not in caplog.text:
            time.sleep(0.1)
        produce_alerts(settings, OTHER, [late])

    publisher = threading.Thread(target=publish_after_a_reconnect, daemon=True)
    try:
        with caplog.at_level(logging.WARNING, logger="skyalert.client"), within(60):
            alerts = reader.alerts(OTHER, stall_timeout=2.0, on_stall="reconnect")
            publisher.start()
            arrived = next(a for a in alerts if a.payload.get("note") == late["note"])
    finally:
        reader.close()
    assert "Reconnecting" in caplog.text
    assert arrived.topic == OTHER
