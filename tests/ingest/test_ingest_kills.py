"""Kill -9 of the web app or of an ingest worker mid-burst: every alert accepted before the
kill is in the archive and, once the re-publisher ran, on Kafka exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.republish import republish_pending
from skyalert.broker.kafka.config import admin_config, consumer_config, producer_config
from skyalert.broker.kafka.inboxes import inbox_topics
from skyalert.broker.kafka.producer import KafkaSender
from skyalert.schemas.catalog import load_catalog
from support.auth import token_for
from support.gcn_examples import guano
from support.ingest import GUANO_TOPIC, key_counts, sync_catalog
from support.services import served, service_env, skyalert

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("inboxes")]
PUBLISHERS = 4
INBOX = "gcn.inbox"
KILL_AFTER = 60
INBOX_BURST = 1500
#: librdkafka's default (45 s) would hold the dead worker's partitions that long.
FAST_TAKEOVER = json.dumps({"session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


@pytest.fixture(scope="module")
def inboxes(settings: Settings) -> None:
    """The catalog's topics, and its inboxes with three partitions as ``topics sync`` makes
    them by default."""
    sync_catalog(settings, load_catalog(), inbox_partitions=3)


def wait_until(check: object, what: str, timeout: float = 90.0) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


def archived(settings: Settings, ids: set[str]) -> dict[str, bool]:
    """Alert id -> published (``published_at`` set), for those of ``ids`` in the archive."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Alert.id, Alert.published_at).where(Alert.id.in_(ids))
            ).all()
    finally:
        engine.dispose()
    return {row.id: row.published_at is not None for row in rows}


def by_key(settings: Settings, prefix: str) -> dict[str, bool]:
    """Idempotency key -> published, for the archived alerts whose key starts with ``prefix``."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(
                select(Alert.idempotency_key, Alert.published_at).where(
                    Alert.idempotency_key.like(f"{prefix}%")
                )
            ).all()
    finally:
        engine.dispose()
    return {str(row.idempotency_key): row.published_at is not None for row in rows}


def ids_by_key(settings: Settings, prefix: str) -> set[str]:
    """Ids of the archived alerts whose idempotency key starts with ``prefix``."""
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            query = select(Alert.id).where(Alert.idempotency_key.like(f"{prefix}%"))
            return set(session.scalars(query))
    finally:
        engine.dispose()


def wait_for_the_whole_burst(settings: Settings, prefix: str) -> None:
    def done() -> bool:
        found = by_key(settings, prefix)
        return len(found) == INBOX_BURST and all(found.values())

    wait_until(done, "every inbox message archived and published")


def assert_once_on_kafka(settings: Settings, ids: set[str]) -> None:
    counts = key_counts(settings, GUANO_TOPIC)
    missing = {i for i in ids if counts[i.encode()] == 0}
    doubled = {i for i in ids if counts[i.encode()] > 1}
    assert not missing, f"{len(missing)} of {len(ids)} accepted alerts not on Kafka"
    assert not doubled, f"{len(doubled)} of {len(ids)} accepted alerts on Kafka twice"


def burst(url: str, token: str, accepted: list[str], enough: threading.Event) -> None:
    """Publish until the server goes away, noting each 201's alert id."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
        while True:
            try:
                answer = http.post(f"/api/v1/topics/{GUANO_TOPIC}/alerts", content=guano())
            except httpx.TransportError:
                return
            if answer.status_code == 201:
                accepted.append(answer.json()["id"])
                if len(accepted) >= KILL_AFTER:
                    enough.set()


def test_kill_9_of_the_web_app_loses_no_accepted_alert(
    settings: Settings, app_url: str, tmp_path: Path
) -> None:
    token = token_for(settings, app_url, groups=["producers.gcn"])
    env = service_env(settings)
    accepted: list[str] = []
    enough = threading.Event()
    with served(env, tmp_path / "web.log") as (url, server):
        publishers = [
            threading.Thread(target=burst, args=(url, token, accepted, enough))
            for _ in range(PUBLISHERS)
        ]
        for thread in publishers:
            thread.start()
        assert enough.wait(60), f"only {len(accepted)} alerts accepted"
        os.kill(server.pid, signal.SIGKILL)
        for thread in publishers:
            thread.join(60)
        assert server.wait(10) == -signal.SIGKILL
    ids = set(accepted)
    assert len(ids) == len(accepted)
    with served(env, tmp_path / "web.log") as (url, _server):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        after = httpx.post(
            f"{url}/api/v1/topics/{GUANO_TOPIC}/alerts", content=guano(), headers=headers
        )
        assert after.status_code == 201, after.text
        found = archived(settings, ids)
        assert set(found) == ids, f"{len(ids - set(found))} accepted alerts not archived"
        unmarked = [i for i, published in found.items() if not published]
        print(f"{len(ids)} accepted before the kill, {len(unmarked)} not marked published")
        # The ingest worker's re-publisher, run here.
        engine = make_engine(settings)
        sender = KafkaSender(producer_config(settings))
        try:
            while republish_pending(settings, make_sessionmaker(engine), sender, timedelta(0)):
                pass
        finally:
            sender.close()
            engine.dispose()
    assert all(archived(settings, ids).values())
    assert_once_on_kafka(settings, ids)


def start_at_the_end(settings: Settings, group: str) -> None:
    """Commit ``group``'s offsets at the inboxes' ends: it takes only what comes next."""
    consumer = Consumer(consumer_config(settings, group))
    try:
        ends = []
        for inbox in inbox_topics(load_catalog(), settings.inbox_partitions):
            meta = consumer.list_topics(inbox.name, timeout=10).topics[inbox.name]
            for p in meta.partitions:
                ends.append(TopicPartition(inbox.name, p, end_of(consumer, inbox.name, p)))
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def end_of(consumer: Consumer, topic: str, partition: int) -> int:
    """The partition's end offset, once its (new) leader answers."""
    deadline = time.monotonic() + 30
    while True:
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)
            return int(high)
        except KafkaException:
            assert time.monotonic() < deadline, f"{topic}[{partition}] has no leader"
            time.sleep(0.2)


def inbox_burst(settings: Settings, prefix: str, count: int) -> None:
    """``count`` alerts into the ``gcn`` inbox, spread over its partitions in turn (unkeyed
    messages would go where librdkafka's sticky partitioner puts whole batches)."""
    producer = Producer(producer_config(settings))
    partitions = len(producer.list_topics(INBOX, timeout=10).topics[INBOX].partitions)
    for n in range(count):
        headers: list[tuple[str, str | bytes | None]] = [
            ("topic", GUANO_TOPIC.encode()),
            ("idempotency-key", f"{prefix}{n}".encode()),
        ]
        producer.produce(INBOX, guano(), partition=n % partitions, headers=headers)
        producer.poll(0)
    assert producer.flush(30) == 0


def members_assigned(settings: Settings, group: str, members: int) -> bool:
    """Whether ``group`` has ``members`` members, each holding a partition of the inbox."""
    admin = AdminClient(admin_config(settings))
    (found,) = admin.describe_consumer_groups([group]).values()
    described = found.result(10)
    holding = [
        m
        for m in described.members
        if any(tp.topic == INBOX for tp in m.assignment.topic_partitions)
    ]
    return len(described.members) == members and len(holding) == members


def ingest_env(settings: Settings, group: str) -> dict[str, str]:
    return service_env(
        settings,
        ingest_group=group,
        ingest_republish_after="1",
        kafka_config=FAST_TAKEOVER,
    )


def test_kill_9_of_the_ingest_worker_loses_no_inbox_message(
    settings: Settings, tmp_path: Path
) -> None:
    group = f"test-ingest-{uuid.uuid4().hex[:8]}"
    prefix = f"kill-{uuid.uuid4().hex[:8]}-"
    start_at_the_end(settings, group)
    env = ingest_env(settings, group)
    log = tmp_path / "ingest.log"
    with skyalert(["worker", "ingest"], env, log) as worker:
        inbox_burst(settings, prefix, INBOX_BURST)
        wait_until(lambda: len(by_key(settings, prefix)) >= INBOX_BURST // 5, "a fifth ingested")
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
    at_kill = by_key(settings, prefix)
    print(f"{len(at_kill)} of {INBOX_BURST} archived at the kill")
    assert len(at_kill) < INBOX_BURST, "the worker finished before the kill"
    with skyalert(["worker", "ingest"], env, log):
        wait_for_the_whole_burst(settings, prefix)
    ids = ids_by_key(settings, prefix)
    assert_once_on_kafka(settings, ids)


def test_two_ingest_workers_share_the_inbox_partitions(settings: Settings, tmp_path: Path) -> None:
    group = f"test-ingest-{uuid.uuid4().hex[:8]}"
    prefix = f"two-{uuid.uuid4().hex[:8]}-"
    start_at_the_end(settings, group)
    env = ingest_env(settings, group)
    logs = [tmp_path / "ingest-a.log", tmp_path / "ingest-b.log"]
    with skyalert(["worker", "ingest"], env, logs[0]), skyalert(["worker", "ingest"], env, logs[1]):
        wait_until(lambda: members_assigned(settings, group, 2), "both workers in the group")
        inbox_burst(settings, prefix, INBOX_BURST)
        wait_for_the_whole_burst(settings, prefix)
    # Each prints what it did when stopped.
    accepted = [
        int(re.findall(r"ingest stopped: (\d+) accepted", log.read_text())[-1]) for log in logs
    ]
    print(f"accepted by each worker: {accepted}")
    assert all(accepted), "one worker did nothing"
    ids = ids_by_key(settings, prefix)
    assert len(ids) == INBOX_BURST
    assert_once_on_kafka(settings, ids)
