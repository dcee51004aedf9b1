"""The Kafka inbox path: a plain producer writes to ``<namespace>.inbox``; the worker ingests."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from skyalert.broker.archive.store import Alert
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.rejections import Rejection
from skyalert.broker.kafka.inboxes import inbox_name
from skyalert.schemas.catalog import Catalog
from support.gcn_examples import guano
from support.ingest import (
    BAT_DEC,
    BAT_RA,
    BAT_TIME,
    BILLION_LAUGHS,
    Headers,
    count_messages,
    find_messages,
    header,
    isolated_catalog,
    ivorn_of,
    packet,
    running_worker,
    send,
    sync_catalog,
    topic_ending,
    unique_bat,
)


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    isolated = isolated_catalog()
    sync_catalog(settings, isolated)
    return isolated


def test_voevent_through_the_inbox_arrives_once(
    settings: Settings, catalog: Catalog, unique_name: str
) -> None:
    bat = topic_ending(catalog, "voevent.SWIFT_BAT_GRB_POS_ACK")
    namespace = catalog.by_name[bat].namespace
    raw = unique_bat()
    with running_worker(settings, catalog, unique_name) as stats:
        send(settings, inbox_name(namespace), [(raw, {"topic": bat})])
        (message,) = find_messages(settings, bat, lambda m: m.value() == raw)
        alert_id = header(message, "alert-id")
        assert alert_id is not None
        assert header(message, "content-type") == b"application/x-voevent+xml"
        assert header(message, "schema") == b""
        assert header(message, "sender") == f"kafka:{namespace}".encode()
        assert header(message, "test") == b"0"

        # Sent again (a producer retry): no second alert. A marker proves it was handled.
        marker = unique_bat()
        send(settings, inbox_name(namespace), [(raw, {"topic": bat}), (marker, {"topic": bat})])
        find_messages(settings, bat, lambda m: m.value() == marker)
    assert count_messages(settings, bat, lambda m: m.value() == raw) == 1
    assert (stats.accepted, stats.repeats) == (2, 1)

    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        row = session.scalars(select(Alert).where(Alert.ivorn == ivorn_of(raw))).one()
    engine.dispose()
    assert row.id.encode() == alert_id
    assert (row.ra, row.dec, row.document["event_time"]) == (BAT_RA, BAT_DEC, BAT_TIME)
    assert row.source == "kafka"


def test_bad_messages_are_dead_lettered_and_good_ones_behind_them_arrive(
    settings: Settings, catalog: Catalog, unique_name: str
) -> None:
    bat = topic_ending(catalog, "voevent.SWIFT_BAT_GRB_POS_ACK")
    guano_topic = topic_ending(catalog, "swift.bat.guano")
    namespace = catalog.by_name[bat].namespace
    elsewhere = topic_ending(catalog, "igwn.gwalert")  # another namespace
    truncated = packet("swift_bat")[:700]
    limit = 64 * 1024
    small = settings.model_copy(update={"ingest_max_bytes": limit})
    bad: list[tuple[str, bytes | None, Headers]] = [
        ("malformed_voevent", truncated, {"topic": bat}),
        ("malformed_voevent", BILLION_LAUGHS, {"topic": bat}),
        ("invalid_voevent", packet("swift_xrt_v1_1"), {"topic": bat}),
        ("malformed_json", b'{"mission": "Sw\xffift"}', {"topic": guano_topic}),
        ("malformed_json", None, {"topic": guano_topic}),
        ("schema_violation", guano(ra="east", mission=5, rate_snr="high"), {"topic": guano_topic}),
        ("forbidden_topic", guano(), {"topic": elsewhere}),
        ("unknown_topic", guano(), {}),
        ("unknown_topic", guano(), {"topic": "nowhere.at.all"}),
        ("unknown_topic", guano(), {"topic": "nul\x00topic", "content-type": "x\x00"}),
        ("unsupported_content_type", guano(), {"topic": guano_topic, "content-type": "text/csv"}),
        ("too_large", b" " * (limit + 1), {"topic": guano_topic}),
        ("malformed_json", b'{"rate_snr": 1e999999}', {"topic": guano_topic}),
        ("malformed_json", b'{"id": ["\\ud800"]}', {"topic": guano_topic}),
        ("ambiguous_headers", guano(), [("topic", guano_topic), ("topic", guano_topic)]),
        (
            "ambiguous_headers",
            guano(),
            [
                ("topic", guano_topic),
                ("content-type", "application/json"),
                ("Content-Type", "application/x-voevent+xml"),
            ],
        ),
    ]
    good = guano()
    messages = [(value, hdrs) for _, value, hdrs in bad]
    messages.append((good, {"topic": guano_topic, "idempotency-key": "after-the-bad-ones"}))
    with running_worker(small, catalog, unique_name) as stats:
        send(small, inbox_name(namespace), messages)
        (arrived,) = find_messages(settings, guano_topic, lambda m: m.value() == good)
        assert header(arrived, "idempotency-key") == b"after-the-bad-ones"
        dead = find_messages(settings, catalog.dead_letter.name, lambda m: True, count=len(bad))
    assert (stats.accepted, stats.refused) == (1, len(bad))

    assert [header(m, "reason") for m in dead] == [reason.encode() for reason, _, _ in bad]
    for message, (_, value, hdrs) in zip(dead, bad, strict=True):
        assert header(message, "producer") == f"kafka:{namespace}".encode()
        assert header(message, "topic") == dict(hdrs).get("topic", "").encode()
        envelope = json.loads(message.value() or b"")
        assert envelope["source"] == "kafka"
        assert base64.b64decode(envelope["original_base64"]) == (value or b"")[:limit]
    schema_envelope = json.loads(dead[5].value() or b"")
    paths = {v["path"] for v in schema_envelope["violations"]}
    assert paths == {"", "/ra", "/mission", "/rate_snr"}
    assert json.loads(dead[0].value() or b"")["errors"][0]["line"] > 1

    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        rows = session.scalars(
            select(Rejection).where(Rejection.namespace == namespace).order_by(Rejection.id)
        ).all()
    engine.dispose()
    assert [r.reason for r in rows] == [reason for reason, _, _ in bad]
    assert "nul\ufffdtopic" in [r.topic for r in rows]  # PostgreSQL text cannot hold NUL
    assert {r.source for r in rows} == {"kafka"}


def test_offsets_are_committed_so_a_restart_reads_nothing_twice(
    settings: Settings, catalog: Catalog, unique_name: str
) -> None:
    guano_topic = topic_ending(catalog, "swift.bat.guano")
    namespace = catalog.by_name[guano_topic].namespace
    first, second = guano(), guano()
    with running_worker(settings, catalog, unique_name) as stats:
        send(
            settings,
            inbox_name(namespace),
            [(b"not json", {"topic": guano_topic}), (first, {"topic": guano_topic})],
        )
        find_messages(settings, guano_topic, lambda m: m.value() == first)
    assert (stats.accepted, stats.refused) == (1, 1)
    with running_worker(settings, catalog, unique_name) as again:
        send(settings, inbox_name(namespace), [(second, {"topic": guano_topic})])
        find_messages(settings, guano_topic, lambda m: m.value() == second)
    assert (again.accepted, again.repeats, again.refused) == (1, 0, 0)


def test_database_outage_is_waited_out_not_dead_lettered(
    settings: Settings, catalog: Catalog, unique_name: str, postgres_admin_url: str
) -> None:
    # A database without tables: every write fails until the migration runs.
    name = f"skyalert_outage_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    outage = settings.model_copy(update={"database_url": url})
    guano_topic = topic_ending(catalog, "swift.bat.guano")
    good = guano()
    try:
        with running_worker(outage, catalog, unique_name) as stats:
            send(
                outage,
                inbox_name(catalog.by_name[guano_topic].namespace),
                [(good, {"topic": guano_topic}), (b"{", {"topic": guano_topic})],
            )
            deadline = time.monotonic() + 30
            while stats.retries < 2:  # the batch failed and was retried: nothing got lost
                assert time.monotonic() < deadline, "the worker never met the outage"
                time.sleep(0.05)
            engine = make_engine(outage)
            migrate.upgrade(engine)  # the database is back
            engine.dispose()
            find_messages(settings, guano_topic, lambda m: m.value() == good)
            find_messages(
                settings,
                catalog.dead_letter.name,
                lambda m: header(m, "reason") == b"malformed_json",
            )
        assert (stats.accepted, stats.refused) == (1, 1)
        assert count_messages(settings, catalog.dead_letter.name, lambda m: True) == 1
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
