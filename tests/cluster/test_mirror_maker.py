"""MirrorMaker 2 with ops/mirror/mm2.properties between two local Apache Kafka clusters.

Both sides log in with SASL/OAUTHBEARER: client-credentials tokens from the test app's token
endpoint, checked by each cluster against its JWKS.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import ROOT
from skyalert.auth.kafka_listener import oauth_listener
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import (
    ServiceAccount,
    admin_config,
    consumer_config,
    producer_config,
)
from skyalert.broker.kafka.kafka_node import LocalKafka
from skyalert.broker.kafka.mirror_maker import DEFAULTS, PLACEHOLDER, render
from support.auth import make_credential, make_user
from support.ingest import GUANO_TOPIC, header
from support.kafka_acls import EVERYTHING, grant
from support.processes import Running, running
from support.stream import ensure_topics

pytestmark = pytest.mark.slow

SKYALERT = str(Path(sys.executable).with_name("skyalert"))


@pytest.fixture(scope="module")
def target_credential(settings: Settings) -> tuple[str, str]:
    """The credential MirrorMaker writes to the target with (a super user there)."""
    return make_credential(settings, make_user(settings), "all")


@pytest.fixture(scope="module")
def target(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_classpath_str: str,
    settings: Settings,
    target_credential: tuple[str, str],
) -> Iterator[LocalKafka]:
    """A second cluster trusting the same token endpoint; its operator's principal may write."""
    sasl = oauth_listener(settings)
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("target"),
        classpath=kafka_classpath_str,
        services=ServiceAccount.of(settings),
        heap="384m",
        extra_listeners=sasl.listeners,
        extra_properties=sasl.properties,
        jvm_options=sasl.jvm_options,
    )
    broker.start(timeout=90)
    grant(on_target(settings, broker), f"User:{target_credential[0]}", EVERYTHING)
    yield broker
    broker.stop()


def on_target(settings: Settings, target: LocalKafka) -> Settings:
    """Our services' login (the same var folder, so the same password) on the target."""
    return settings.model_copy(update={"kafka_bootstrap": target.bootstrap})


def _received(
    target_settings: Settings, value: bytes, mirror_maker: Running, timeout: float = 180
) -> Message:
    """Consume the target's copy of the topic until ``value`` comes."""
    consumer = Consumer(
        consumer_config(
            target_settings,
            f"test-{uuid.uuid4().hex}",
            # The topic appears when MirrorMaker creates it: notice it within a second.
            topic_metadata_refresh_interval_ms=1000,
        )
    )
    consumer.subscribe([GUANO_TOPIC])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and mirror_maker.process.poll() is None:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None and message.value() == value:
                return message
    finally:
        consumer.close()
    raise AssertionError(f"{value!r} never reached the target:\n{_output(mirror_maker)}")


def _output(process: Running) -> str:
    lines = []
    while True:
        try:
            lines.append(process.lines.get_nowait())
        except queue.Empty:
            return "".join(lines[-60:])


def test_mirror_maker_copies_public_topics_to_another_cluster_with_oauthbearer(
    settings: Settings,
    app_url: str,
    kafka: LocalKafka,
    target: LocalKafka,
    target_credential: tuple[str, str],
) -> None:
    ensure_topics(settings)
    source_id, source_secret = make_credential(settings, make_user(settings), "all")
    env = {
        **os.environ,
        "SKYALERT_VAR_DIR": str(ROOT / "var"),  # MirrorMaker's jars are cached beside Kafka's
        "MM2_SOURCE_BOOTSTRAP": kafka.listener_address("SASL"),
        "MM2_SOURCE_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MM2_SOURCE_TOKEN_URL": f"{app_url}/oauth2/token",
        "MM2_SOURCE_CLIENT_ID": source_id,
        "MM2_SOURCE_CLIENT_SECRET": source_secret,
        "MM2_TARGET_BOOTSTRAP": target.listener_address("SASL"),
        "MM2_TARGET_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "MM2_TARGET_TOKEN_URL": f"{app_url}/oauth2/token",
        "MM2_TARGET_CLIENT_ID": target_credential[0],
        "MM2_TARGET_CLIENT_SECRET": target_credential[1],
        "MM2_REPLICATION_FACTOR": "1",
        # One worker on a loaded machine: a missed heartbeat must not park its tasks for 5 min.
        "MM2_REBALANCE_DELAY_MS": "5000",
        "MM2_TOPICS": re.escape(GUANO_TOPIC),
    }
    # As `skyalert topics sync` does on a target skyalert: MirrorMaker copies into its topics.
    target_admin = AdminClient(admin_config(on_target(settings, target)))
    target_admin.create_topics([NewTopic(GUANO_TOPIC, 1, 1)])[GUANO_TOPIC].result(30)
    value = f'{{"mirrored": "{uuid.uuid4().hex}"}}'.encode()
    producer = Producer(producer_config(settings))
    producer.produce(GUANO_TOPIC, value, headers=[("alert-id", b"mm2-test")])
    assert producer.flush(10) == 0

    args = [SKYALERT, "mirror-maker", str(ROOT / "ops" / "mirror" / "mm2.properties")]
    with running(args, env) as mirror_maker:
        started = time.monotonic()
        copy = _received(on_target(settings, target), value, mirror_maker)
        print(f"MirrorMaker 2 delivered in {time.monotonic() - started:.1f} s")
        assert header(copy, "alert-id") == b"mm2-test"  # headers travel with the record
    assert mirror_maker.process.poll() is not None, "MirrorMaker did not stop"


def test_the_template_names_every_missing_value() -> None:
    template = (ROOT / "ops" / "mirror" / "mm2.properties").read_text("utf-8")
    with pytest.raises(ConfigError, match=r"MM2_SOURCE_BOOTSTRAP, MM2_SOURCE_CLIENT_ID"):
        render(template, {"MM2_TOPICS": "x"})
    values = {name: f"<{name}>" for name in PLACEHOLDER.findall(template)}
    filled = render(template, {k: v for k, v in values.items() if k not in DEFAULTS})
    assert "${" not in filled
    assert "replication.factor = 3\n" in filled
    assert 'clientSecret="<MM2_TARGET_CLIENT_SECRET>";' in filled
