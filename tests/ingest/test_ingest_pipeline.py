"""The pipeline against PostgreSQL and Kafka: archive, produce, de-duplicate, refuse, recover."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.pipeline import Accepted, IngestPipeline, Refused, Submission
from skyalert.broker.ingest.rejections import Rejection
from skyalert.broker.ingest.republish import republish_pending
from skyalert.broker.kafka.config import producer_config
from skyalert.broker.kafka.producer import KafkaSender
from skyalert.schemas.catalog import Catalog
from skyalert.schemas.validation import SchemaRegistry, load_registry
from support.gcn_examples import gcn_registry, guano
from support.ingest import (
    BAT_DEC,
    BAT_RA,
    count_messages,
    find_messages,
    has_header,
    header,
    isolated_catalog,
    ivorn_of,
    sync_catalog,
    unique_bat,
)

GUANO_EXAMPLE = "gcn.notices.swift.bat.guano"


@pytest.fixture(scope="module")
def catalog(settings: Settings) -> Catalog:
    isolated = isolated_catalog()
    assert settings.kafka_bootstrap is not None
    sync_catalog(settings, isolated)
    return isolated


@pytest.fixture
def pipeline(settings: Settings, catalog: Catalog) -> Iterator[IngestPipeline]:
    engine = make_engine(settings)
    pipeline = IngestPipeline.build(settings, make_sessionmaker(engine), catalog)
    yield pipeline
    pipeline.close()
    engine.dispose()


def bat_topic(catalog: Catalog) -> str:
    return next(t.name for t in catalog.topics if t.name.endswith("voevent.SWIFT_BAT_GRB_POS_ACK"))


def guano_topic(catalog: Catalog) -> str:
    return next(t.name for t in catalog.topics if t.name.endswith(GUANO_EXAMPLE))


def submit(
    pipeline: IngestPipeline, topic: str, payload: bytes, **extra: object
) -> Accepted | Refused:
    fields: dict[str, object] = {
        "topic": topic,
        "payload": payload,
        "sender": "tester",
        "source": "http",
        **extra,
    }
    return pipeline.publish(Submission(**fields))  # type: ignore[arg-type]


def test_voevent_is_archived_then_produced_with_headers(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    raw = unique_bat()
    outcome = submit(pipeline, bat_topic(catalog), raw, content_type="application/x-voevent+xml")
    assert isinstance(outcome, Accepted)
    assert outcome.created
    assert outcome.published

    (message,) = find_messages(
        settings,
        bat_topic(catalog),
        has_header("alert-id", outcome.alert_id.encode()),
    )
    assert message.value() == raw
    assert message.key() == outcome.alert_id.encode()
    assert dict(message.headers() or []) == {
        "alert-id": outcome.alert_id.encode(),
        "content-type": b"application/x-voevent+xml",
        "schema": b"",
        "sender": b"tester",
        "test": b"0",
    }

    with pipeline.sessions() as session:
        row = archive.get(session, outcome.alert_id)
        assert row is not None
        assert row.original == raw
        assert row.ivorn == ivorn_of(raw)
        assert (row.ra, row.dec, row.ra_dec_error) == (BAT_RA, BAT_DEC, 0.05)
        assert row.document["event_time"] == "2012-09-07T00:24:23.080Z"
        assert row.published_at is not None
        assert row.event_time is not None


def test_repeats_create_nothing(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    raw = unique_bat()
    first = submit(pipeline, bat_topic(catalog), raw)
    # The same IVORN again, even with other bytes, is the same alert.
    again = submit(
        pipeline,
        bat_topic(catalog),
        raw.replace(b"<Description>\n  </Description>", b"<Description>resent</Description>"),
    )
    assert isinstance(first, Accepted)
    assert isinstance(again, Accepted)
    assert (again.alert_id, again.created, again.published) == (first.alert_id, False, True)
    with pipeline.sessions() as session:
        assert len(session.scalars(select(Alert).where(Alert.ivorn == ivorn_of(raw))).all()) == 1
    assert (
        count_messages(
            settings,
            bat_topic(catalog),
            has_header("alert-id", first.alert_id.encode()),
        )
        == 1
    )


def test_json_repeats_by_content_and_by_idempotency_key(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    topic = guano_topic(catalog)
    document = json.loads(guano())
    document["id"] = [f"{id(pipeline)}"]
    raw = json.dumps(document).encode()
    first = submit(pipeline, topic, raw)
    by_content = submit(pipeline, topic, json.dumps(document, indent=2).encode())
    assert isinstance(first, Accepted)
    assert isinstance(by_content, Accepted)
    assert by_content.alert_id == first.alert_id
    assert not by_content.created

    keyed = submit(pipeline, topic, raw, idempotency_key="mission-42")
    assert isinstance(keyed, Accepted)
    assert keyed.created  # a key makes it a publication of its own
    (message,) = find_messages(settings, topic, has_header("alert-id", keyed.alert_id.encode()))
    assert header(message, "idempotency-key") == b"mission-42"
    expected = gcn_registry().resolve(str(catalog.by_name[topic].schema_ref))
    assert header(message, "schema") == expected.encode() == document["$schema"].encode()
    again = submit(pipeline, topic, raw, idempotency_key="mission-42")
    assert isinstance(again, Accepted)
    assert (again.alert_id, again.created) == (keyed.alert_id, False)

    document["ra"] = 1.0
    conflict = submit(pipeline, topic, json.dumps(document).encode(), idempotency_key="mission-42")
    assert isinstance(conflict, Refused)
    assert conflict.rejected.reason == "idempotency_conflict"
    assert conflict.rejected.http_status == 409
    assert keyed.alert_id in conflict.rejected.detail


def test_test_alerts_carry_the_test_flag(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    raw = unique_bat().replace(b'role="observation"', b'role="test"')
    outcome = submit(pipeline, bat_topic(catalog), raw)
    assert isinstance(outcome, Accepted)
    (message,) = find_messages(
        settings,
        bat_topic(catalog),
        has_header("alert-id", outcome.alert_id.encode()),
    )
    assert header(message, "test") == b"1"


def test_refusals_are_recorded_and_dead_lettered(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    topic = guano_topic(catalog)
    document = json.loads(guano())
    document.update(ra="east", dec="south")
    raw = json.dumps(document).encode()
    outcome = submit(pipeline, topic, raw, idempotency_key="k-1")
    assert isinstance(outcome, Refused)
    assert outcome.rejected.reason == "schema_violation"
    outcome.dead_letter.result(timeout=30)

    dead = catalog.dead_letter
    (message,) = find_messages(
        settings,
        dead.name,
        lambda m: (
            header(m, "topic") == topic.encode() and header(m, "reason") == b"schema_violation"
        ),
    )
    assert header(message, "producer") == b"tester"
    envelope = json.loads(message.value() or b"")
    assert load_registry().violations(str(dead.schema_ref), envelope) == []
    assert base64.b64decode(envelope["original_base64"]) == raw
    assert [v["path"] for v in envelope["violations"]] == ["", "/dec", "/ra"]
    assert envelope["producer"] == "tester"
    assert envelope["idempotency_key"] == "k-1"

    with pipeline.sessions() as session:
        row = session.scalars(
            select(Rejection).where(Rejection.topic == topic, Rejection.idempotency_key == "k-1")
        ).one()
    assert (row.reason, row.status, row.sender, row.source) == (
        "schema_violation",
        422,
        "tester",
        "http",
    )
    assert row.namespace == catalog.by_name[topic].namespace
    assert [v["path"] for v in row.violations] == ["", "/dec", "/ra"]


def test_routing_refusals(pipeline: IngestPipeline, catalog: Catalog) -> None:
    cases = {
        "unknown_topic": submit(pipeline, "nowhere.topic", b"{}"),
        "not_publishable": submit(pipeline, catalog.heartbeat.name, b"{}"),
        "forbidden_topic": submit(pipeline, bat_topic(catalog), unique_bat(), namespace="other"),
        "too_large": submit(
            pipeline, bat_topic(catalog), b"x" * (pipeline.settings.ingest_max_bytes + 1)
        ),
        "bad_idempotency_key": submit(
            pipeline, bat_topic(catalog), unique_bat(), idempotency_key="a b"
        ),
    }
    for reason, outcome in cases.items():
        assert isinstance(outcome, Refused), reason
        assert outcome.rejected.reason == reason


class ExplodingRegistry(SchemaRegistry):
    """A schema check that crashes, as a parser bug would."""

    def violations(self, schema_id: str, document: object) -> list:  # type: ignore[type-arg]
        raise RuntimeError("boom")


def test_a_crash_while_checking_is_a_refusal_not_an_outage(
    pipeline: IngestPipeline, catalog: Catalog
) -> None:
    crashing = IngestPipeline(
        pipeline.settings,
        pipeline.sessions,
        catalog,
        pipeline.sender,
        registry=ExplodingRegistry(
            (gcn_registry().schema(s) for s in gcn_registry().ids), gcn_registry().gcn_version
        ),
    )
    outcome = submit(crashing, guano_topic(catalog), guano())
    assert isinstance(outcome, Refused)
    assert outcome.rejected.reason == "unprocessable"
    assert "RuntimeError" in outcome.rejected.detail


def test_alert_archived_while_kafka_is_away_is_republished(
    pipeline: IngestPipeline, catalog: Catalog, settings: Settings
) -> None:
    # Kafka unreachable right after the archive: as if the process died between the two.
    away = settings.model_copy(update={"kafka_bootstrap": "127.0.0.1:9", "kafka_timeout": 0.5})
    sender = KafkaSender(producer_config(away, message_timeout_ms=500, log_level=0))
    stranded = IngestPipeline(away, pipeline.sessions, catalog, sender)
    raw = unique_bat()
    outcome = submit(stranded, bat_topic(catalog), raw)
    sender.close(timeout=2)
    assert isinstance(outcome, Accepted)
    assert outcome.created
    assert not outcome.published
    with pipeline.sessions() as session:
        row = archive.get(session, outcome.alert_id)
        assert row is not None
        assert row.published_at is None

    assert republish_pending(settings, pipeline.sessions, pipeline.sender, timedelta(0)) >= 1
    (message,) = find_messages(
        settings,
        bat_topic(catalog),
        has_header("alert-id", outcome.alert_id.encode()),
    )
    assert message.value() == raw
    with pipeline.sessions() as session:
        row = archive.get(session, outcome.alert_id)
        assert row is not None
        assert row.published_at is not None
    # Once acknowledged it is never sent again.
    assert all(a.id != outcome.alert_id for a in _pending(pipeline))


def _pending(pipeline: IngestPipeline) -> list[Alert]:
    with pipeline.sessions() as session:
        return archive.unpublished(session, timedelta(0), 1000)
