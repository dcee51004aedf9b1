"""Every notice example NASA ships in @nasa-gcn/schema, published as a GCN producer would.

Over HTTP and over the Kafka inbox, on GCN's own topic name: each is accepted, reaches Kafka
with its schema release in the ``schema`` header, and is archived with it and with the derived
position and time filters and cone search use.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.inbox_worker import IngestStats
from skyalert.broker.kafka.inboxes import inbox_name
from skyalert.client.filters import error_radius
from skyalert.schemas.catalog import Role, load_catalog
from support.auth import token_for
from support.gcn_examples import Example, notice_examples
from support.ingest import find_messages, has_header, header, running_worker, send

pytestmark = pytest.mark.usefixtures("catalog_topics")
#: Every notice a GCN producer could send us; GCN Circulars are written by our circulars
#: service only (tests/circulars checks they follow NASA's circulars schema).
EXAMPLES = [e for e in notice_examples() if e.topic is not None and e.topic.role is Role.ALERTS]


@pytest.fixture(scope="module")
def gcn_token(settings: Settings, app_url: str) -> str:
    return token_for(settings, app_url, groups=["producers.gcn"])


def topic_of(item: Example) -> str:
    assert item.topic is not None
    return item.topic.name


def check_derived(row: dict[str, Any], document: dict[str, Any]) -> None:
    """The archive's position and time are the unified schema's own fields."""
    has_position = "ra" in document and "dec" in document
    assert row["ra"] == (document["ra"] if has_position else None)
    assert row["dec"] == (document["dec"] if has_position else None)
    assert row["ra_dec_error"] == error_radius(document.get("ra_dec_error"))
    when = document.get("trigger_time") or document.get("alert_datetime")
    assert (row["event_time"] or "")[:19] == (when or "")[:19]


@pytest.mark.parametrize("item", EXAMPLES, ids=lambda e: e.path)
def test_every_nasa_example_is_accepted_over_http(
    item: Example, app_url: str, settings: Settings, gcn_token: str
) -> None:
    topic, raw = topic_of(item), item.raw()
    response = httpx.post(
        f"{app_url}/api/v1/topics/{topic}/alerts",
        content=raw,
        headers={
            "Authorization": f"Bearer {gcn_token}",
            "Content-Type": "application/json",
            "Idempotency-Key": uuid.uuid4().hex,  # the same example is published by other tests
        },
        timeout=60,
    )
    assert response.status_code == 201, response.text
    alert_id = response.json()["id"]
    (message,) = find_messages(settings, topic, has_header("alert-id", alert_id.encode()))
    assert message.value() == raw
    assert header(message, "schema") == item.document["$schema"].encode()
    assert header(message, "test") == (b"1" if item.document.get("alert_tense") == "test" else b"0")

    row = httpx.get(f"{app_url}/api/v1/alerts/{alert_id}", timeout=10).json()
    assert (row["topic"], row["schema"], row["alert"]) == (
        topic,
        item.document["$schema"],
        item.document,
    )
    check_derived(row, item.document)


@pytest.fixture(scope="module")
def gcn_inbox_worker(settings: Settings) -> Any:
    with running_worker(settings, load_catalog(), f"gcn-examples-{uuid.uuid4().hex}") as stats:
        yield stats


@pytest.mark.parametrize("item", EXAMPLES, ids=lambda e: e.path)
def test_every_nasa_example_is_accepted_over_the_kafka_inbox(
    item: Example, settings: Settings, gcn_inbox_worker: IngestStats
) -> None:
    topic, raw, key = topic_of(item), item.raw(), uuid.uuid4().hex
    headers = {"topic": topic, "content-type": "application/json", "idempotency-key": key}
    send(settings, inbox_name("gcn"), [(raw, headers)])
    (message,) = find_messages(settings, topic, has_header("idempotency-key", key.encode()))
    assert message.value() == raw
    assert header(message, "schema") == item.document["$schema"].encode()
    assert header(message, "sender") == b"kafka:gcn"

    alert_id = (header(message, "alert-id") or b"").decode()
    engine = make_engine(settings)
    with make_sessionmaker(engine)() as session:
        alert = session.scalars(select(Alert).where(Alert.id == alert_id)).one()
    engine.dispose()
    assert (alert.topic, alert.source, alert.schema_id) == (
        topic,
        "kafka",
        item.document["$schema"],
    )
    row = {
        "ra": alert.ra,
        "dec": alert.dec,
        "ra_dec_error": alert.ra_dec_error,
        "event_time": alert.event_time.isoformat() if alert.event_time else None,
    }
    check_derived(row, item.document)
