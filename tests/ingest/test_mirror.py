"""``skyalert worker mirror``: an upstream broker's topics through our own pipeline, once each."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr
from sqlalchemy import func, select

from skyalert.broker.archive.store import Alert
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import Mirror, Settings
from skyalert.broker.kafka.config import producer_config
from skyalert.broker.kafka.kafka_node import LocalKafka
from skyalert.broker.mirror.worker import MirrorWorker, upstream_config
from skyalert.schemas.catalog import load_catalog
from support.auth import make_credential, make_user
from support.gcn_examples import guano
from support.ingest import GUANO_TOPIC, find_messages, header
from support.mirror import mirroring, own_cluster_mirror, produce, upstream_topic

pytestmark = pytest.mark.usefixtures("catalog_topics")


def _mirrored(settings: Settings, prefix: str) -> int:
    engine = make_engine(settings)
    try:
        with make_sessionmaker(engine)() as session:
            count = select(func.count()).select_from(Alert).where(Alert.sender.like(prefix + "%"))
            return int(session.scalar(count) or 0)
    finally:
        engine.dispose()


def test_each_upstream_alert_arrives_once_and_a_refused_one_is_dead_lettered(
    settings: Settings,
) -> None:
    upstream = upstream_topic(settings)
    name = f"m{uuid.uuid4().hex[:8]}"
    mirror = own_cluster_mirror(settings, name, {upstream: GUANO_TOPIC})
    first, second = guano(), guano()
    produce(
        settings,
        upstream,
        [(first, "up-1"), (first, "up-1"), (second, "up-2"), (guano(ra="east"), "up-3")],
    )
    sender = f"mirror:{name} {upstream}"
    with mirroring(settings, mirror) as stats:
        arrived = find_messages(
            settings,
            GUANO_TOPIC,
            lambda m: (header(m, "sender") or b"").startswith(sender.encode()),
            count=2,
        )
        (dead,) = find_messages(
            settings,
            load_catalog().dead_letter.name,
            lambda m: (header(m, "producer") or b"").startswith(sender.encode()),
        )
    assert sorted(m.value() or b"" for m in arrived) == sorted([first, second])
    assert header(dead, "reason") == b"schema_violation"
    assert (stats.accepted, stats.repeats, stats.refused) == (2, 1, 1)
    # Provenance: the upstream topic, partition and offset of each.
    assert {header(m, "sender") for m in arrived} == {
        f"{sender}[0]@0".encode(),
        f"{sender}[0]@2".encode(),
    }

    # Offsets were committed only after the archive held each: a restart takes up where it was.
    third = guano()
    produce(settings, upstream, [(third, "up-4")])
    with mirroring(settings, mirror):
        find_messages(settings, GUANO_TOPIC, lambda m: m.value() == third)
    assert _mirrored(settings, sender) == 3


def test_an_upstream_skyalert_is_read_with_oidc_client_credentials(
    settings: Settings, app_url: str, kafka: LocalKafka
) -> None:
    """As GCN's public Kafka is read: SASL OAUTHBEARER, method oidc, a token endpoint."""
    client_id, secret = make_credential(settings, make_user(settings), "all")
    name = f"m{uuid.uuid4().hex[:8]}"
    mirror = Mirror(
        name=name,
        bootstrap=kafka.listener_address("SASL"),
        security_protocol="SASL_PLAINTEXT",
        token_url=f"{app_url}/oauth2/token",
        client_id=client_id,
        client_secret=SecretStr(secret),
        # Upstream's IGWN alerts break the local GUANO contract: each is dead-lettered here.
        topics={"igwn.gwalert": GUANO_TOPIC},
        start="earliest",
    )
    assert upstream_config(mirror)["group.id"] == f"{client_id}.skyalert-mirror-{name}"
    producer = Producer(producer_config(settings))
    producer.produce("igwn.gwalert", b'{"superevent_id": "S1"}')
    assert producer.flush(10) == 0
    with mirroring(settings, mirror):
        (dead,) = find_messages(
            settings,
            load_catalog().dead_letter.name,
            lambda m: (header(m, "producer") or b"").startswith(f"mirror:{name} ".encode()),
        )
    assert header(dead, "reason") == b"schema_violation"


def test_a_mirror_must_map_to_local_alert_topics(settings: Settings) -> None:
    mirror = Mirror(name="bad", bootstrap="localhost:1", topics={"x": "no.such.topic"})
    with pytest.raises(ConfigError, match=r"no\.such\.topic, which are not alert topics"):
        MirrorWorker(settings, make_sessionmaker(make_engine(settings)), load_catalog(), mirror)
    oidc = Mirror(name="x", bootstrap="h:1", token_url="https://idp/token", topics={})
    with pytest.raises(ConfigError, match="no client_id and client_secret"):
        upstream_config(oidc)
