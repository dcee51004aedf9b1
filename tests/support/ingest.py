"""Helpers for tests that publish alerts: real VOEvent packets, isolated catalogs, Kafka reads."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from sqlalchemy.orm import Session, sessionmaker
from voeventparse.fixtures import datapaths

from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.inbox_worker import InboxWorker, IngestStats
from skyalert.broker.kafka.admin import sync_topics
from skyalert.broker.kafka.config import (
    admin_config,
    consumer_config,
    message_max_bytes,
    producer_config,
)
from skyalert.broker.kafka.inboxes import topics_to_sync
from skyalert.client.alert import header_map, message_headers
from skyalert.schemas.catalog import Catalog, load_catalog

BAT_TOPIC = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"
XRT_TOPIC = "gcn.classic.voevent.SWIFT_XRT_POSITION"
GUANO_TOPIC = "gcn.notices.swift.bat.guano"
#: The Swift BAT GRB position packet's sky position and trigger time.
BAT_RA, BAT_DEC, BAT_ERROR = 74.7412, -9.3137, 0.05
BAT_TIME = "2012-09-07T00:24:23.080Z"

PACKETS = {
    "swift_bat": datapaths.swift_bat_grb_pos_v2,
    "swift_xrt_v1_1": datapaths.swift_xrt_pos_v1,
    "gaia": datapaths.gaia_alert_16aac_direct,
    "moa": datapaths.moa_lensing_event_path,
    "asassn": datapaths.asassn_scraped_example,
    "no_namespace": datapaths.no_namespace_test_packet,
}
_IVORN = re.compile(rb'ivorn="([^"]+)"')

# Hostile XML: entity expansion, an external entity, an external DTD.
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="test"
  ivorn="ivo://example.org/x#1"><Description>&lol9;</Description></voe:VOEvent>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE voe:VOEvent [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="test"
  ivorn="ivo://example.org/x#1"><Description>&xxe;</Description></voe:VOEvent>
"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE VOEvent SYSTEM "http://127.0.0.1:9/voevent.dtd">
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="test"
  ivorn="ivo://example.org/x#1"/>
"""


def packet(name: str) -> bytes:
    """A real VOEvent packet shipped with voevent-parse, as bytes."""
    return Path(PACKETS[name]).read_bytes()


def with_ivorn(raw: bytes, ivorn: str) -> bytes:
    """The packet with another IVORN (so that tests sharing one archive do not collide)."""
    return _IVORN.sub(b'ivorn="' + ivorn.encode() + b'"', raw, count=1)


def ivorn_of(raw: bytes) -> str:
    found = _IVORN.search(raw)
    assert found is not None
    return found.group(1).decode()


def unique_bat() -> bytes:
    """The Swift BAT GRB position packet with a fresh IVORN."""
    return with_ivorn(
        packet("swift_bat"), f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_{uuid.uuid4().hex}"
    )


def xrt_as_v2(raw: bytes | None = None) -> bytes:
    """The Swift XRT packet (VOEvent 1.1 upstream) moved to the 2.0 namespace, STC unqualified."""
    text = (raw or packet("swift_xrt_v1_1")).decode()
    text = text.replace(
        "http://www.ivoa.net/xml/VOEvent/v1.1", "http://www.ivoa.net/xml/VOEvent/v2.0"
    )
    text = text.replace('version="1.1"', 'version="2.0"')
    text = text.replace(' xmlns="http://www.ivoa.net/xml/STC/stc-v1.30.xsd"', "")
    text = re.sub(r' xlink:(href|type)="[^"]*"', "", text)
    return text.encode()


def isolated_catalog(tag: str | None = None) -> Catalog:
    """The catalog with each namespace renamed (``gcn`` -> ``<tag>gcn``): own topics and inboxes."""
    tag = tag or f"t{uuid.uuid4().hex[:8]}"
    data = load_catalog().model_dump(mode="json")
    for topic in data["topics"]:
        topic["name"] = tag + topic["name"]
    return Catalog.model_validate(data)


def sync_catalog(settings: Settings, catalog: Catalog, inbox_partitions: int = 1) -> None:
    """The catalog's topics in the Kafka of ``settings``, as ``topics sync`` keeps them."""
    sync_topics(
        AdminClient(admin_config(settings)),
        topics_to_sync(catalog, inbox_partitions),
        max_message_bytes=message_max_bytes(settings),
    )


def reader(settings: Settings) -> Consumer:
    """A consumer of our services' that commits nothing (reads by assignment)."""
    return Consumer(consumer_config(settings, f"test-{uuid.uuid4().hex}"))


def find_messages(
    settings: Settings,
    topic: str,
    match: Callable[[Message], bool],
    count: int = 1,
    timeout: float = 30.0,
) -> list[Message]:
    """Read ``topic`` from the beginning until ``count`` messages match (or fail the test)."""
    consumer = reader(settings)
    found: list[Message] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + timeout
        while len(found) < count:
            assert time.monotonic() < deadline, f"only {len(found)}/{count} matches on {topic}"
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and match(message):
                found.append(message)
    finally:
        consumer.close()
    return found


def header(message: Message, name: str) -> bytes | None:
    return header_map(message_headers(message)).get(name)


def has_header(name: str, value: bytes) -> Callable[[Message], bool]:
    return lambda message: header(message, name) == value


def count_messages(settings: Settings, topic: str, match: Callable[[Message], bool]) -> int:
    """How many messages currently on ``topic`` match (reads to the end)."""
    return sum(bool(match(message)) for message in messages_now(settings, topic))


def key_counts(settings: Settings, topic: str) -> Counter[bytes]:
    """How often each message key occurs on ``topic`` now (reads to the end)."""
    return Counter(message.key() or b"" for message in messages_now(settings, topic))


def messages_now(settings: Settings, topic: str) -> Iterator[Message]:
    """Every message on ``topic`` up to its current end, partition by partition."""
    consumer = reader(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        done = {p for p, high in ends.items() if high == 0}
        deadline = time.monotonic() + 30
        while len(done) < len(ends):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            yield message
            if (message.offset() or 0) + 1 >= ends[message.partition() or 0]:
                done.add(message.partition() or 0)
    finally:
        consumer.close()


def topic_ending(catalog: Catalog, suffix: str) -> str:
    return next(t.name for t in catalog.topics if t.name.endswith(suffix))


@contextmanager
def running_worker(settings: Settings, catalog: Catalog, group: str) -> Iterator[IngestStats]:
    """An inbox worker in a thread of the test, stopped (and checked to stop) on exit."""
    with in_thread(settings, lambda s: InboxWorker(settings, s, catalog, group_id=group)) as stats:
        yield stats


@contextmanager
def in_thread(
    settings: Settings, build: Callable[[sessionmaker[Session]], InboxWorker]
) -> Iterator[IngestStats]:
    """The worker ``build`` makes (an inbox or mirror worker) run in a thread of the test,
    stopped (and checked to stop) on exit."""
    engine = make_engine(settings)
    worker = build(make_sessionmaker(engine))
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        yield worker.stats
    finally:
        stop.set()
        thread.join(30)
        engine.dispose()
    assert not thread.is_alive()


Headers = dict[str, str] | list[tuple[str, str]]


def send(settings: Settings, inbox: str, messages: list[tuple[bytes | None, Headers]]) -> None:
    """Produce to an inbox as a publisher's plain Kafka producer would (a list of headers may
    repeat a name)."""
    producer = Producer(producer_config(settings))
    for value, headers in messages:
        pairs = headers.items() if isinstance(headers, dict) else headers
        # As bytes: a str header value would be cut at its first NUL.
        encoded: list[tuple[str, str | bytes | None]] = [(k, v.encode()) for k, v in pairs]
        producer.produce(inbox, value, headers=encoded)
    assert producer.flush(10) == 0
