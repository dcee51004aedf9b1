"""Our services' Kafka listener lets in only the stack's service account (issue 20, item 5):
no anonymous super user, no reading restricted topics or writing public ones past ingest."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, Producer
from pydantic import SecretStr

from skyalert.broker.core.errors import ConfigError, KafkaUnavailable, LocalBrokerError
from skyalert.broker.core.secrets import KAFKA_SERVICES_FILE, kafka_services_password
from skyalert.broker.core.settings import Settings, load_settings
from skyalert.broker.kafka.admin import wait_for_kafka
from skyalert.broker.kafka.config import (
    ServiceAccount,
    admin_config,
    base_config,
    consumer_config,
    services_login,
)
from skyalert.broker.kafka.kafka_node import LocalKafka, services_properties
from skyalert.schemas.catalog import Visibility, load_catalog
from support.ingest import GUANO_TOPIC, count_messages, sync_catalog
from support.kafka_login import DISCONNECTED, login_attempt, produce_attempt, read_attempt

RESTRICTED = next(t.name for t in load_catalog().topics if t.visibility is Visibility.RESTRICTED)


@pytest.fixture(scope="module")
def topics(kafka_settings: Settings) -> Settings:
    sync_catalog(kafka_settings, load_catalog())
    return kafka_settings


def _wrong(settings: Settings, **changes: object) -> Settings:
    return settings.model_copy(update=changes)


def test_without_a_login_nobody_reads_a_restricted_topic(
    kafka: LocalKafka, topics: Settings
) -> None:
    secret = f"restricted-{uuid.uuid4().hex}".encode()
    producer = Producer(base_config(topics))
    producer.produce(RESTRICTED, secret, partition=0)
    assert producer.flush(10) == 0
    ours = read_attempt(consumer_config(topics, "unused"), RESTRICTED)
    assert ours.messages  # the same read with the login works
    assert not ours.errors

    intruder = read_attempt({"bootstrap.servers": kafka.bootstrap}, RESTRICTED)
    assert intruder.messages == []
    assert intruder.codes & DISCONNECTED, intruder.errors


def test_without_a_login_nobody_writes_a_public_topic(kafka: LocalKafka, topics: Settings) -> None:
    forged = f"forged-{uuid.uuid4().hex}".encode()
    intruder = produce_attempt({"bootstrap.servers": kafka.bootstrap}, GUANO_TOPIC, forged)
    assert intruder.messages == []
    assert KafkaError._MSG_TIMED_OUT in intruder.codes, intruder.errors
    assert intruder.codes & DISCONNECTED, intruder.errors
    assert count_messages(topics, GUANO_TOPIC, lambda m: m.value() == forged) == 0


def test_a_wrong_password_or_user_is_refused(kafka_settings: Settings) -> None:
    assert login_attempt(admin_config(kafka_settings)).answered
    for wrong in (
        _wrong(kafka_settings, kafka_password=SecretStr("not-the-password")),
        _wrong(kafka_settings, kafka_username="ANONYMOUS"),
    ):
        refused = login_attempt(admin_config(wrong))
        assert not refused.answered
        assert KafkaError._AUTHENTICATION in refused.codes, refused.errors


def test_the_controller_listener_wants_the_login_too(kafka: LocalKafka) -> None:
    """SASL there too (a client without it gets no answer: the controller serves no metadata)."""
    controller = {"bootstrap.servers": kafka.listener_address("CONTROLLER")}
    wrong = ServiceAccount(kafka.services.name, "not-the-password").login()
    refused = login_attempt({**controller, **wrong})
    assert KafkaError._AUTHENTICATION in refused.codes, refused.errors


def test_a_refused_login_tells_the_operator_what_to_check(kafka_settings: Settings) -> None:
    wrong = _wrong(kafka_settings, kafka_password=SecretStr("not-the-password"))
    with pytest.raises(KafkaUnavailable) as refused:
        wait_for_kafka(admin_config(wrong), timeout=20)
    message = str(refused.value)
    assert "refused our services' login as User:skyalert-services" in message
    assert "SKYALERT_KAFKA_PASSWORD" in message
    assert "not-the-password" not in message


def test_the_secret_and_the_broker_config_are_owner_only(
    kafka: LocalKafka, kafka_settings: Settings
) -> None:
    secret = kafka_settings.var_dir.resolve() / KAFKA_SERVICES_FILE
    properties = kafka.home / "server.properties"
    for path in (secret, properties):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    text = properties.read_text()
    assert "super.users=User:skyalert-services\n" in text
    assert "ANONYMOUS" not in text
    assert "SERVICES:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT," in text
    assert kafka_services_password(kafka_settings) == secret.read_text().strip()


def test_an_operators_cluster_gets_the_login_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYALERT_KAFKA_BOOTSTRAP", "kafka-1.internal:9094")
    monkeypatch.setenv("SKYALERT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SKYALERT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SKYALERT_KAFKA_USERNAME", "skyalert-prod")
    monkeypatch.setenv("SKYALERT_KAFKA_PASSWORD", "from-the-vault")
    config = base_config(load_settings(var_dir=tmp_path))
    assert {k: config[k] for k in config if k.startswith(("sasl.", "security."))} == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "skyalert-prod",
        "sasl.password": "from-the-vault",
    }
    assert not (tmp_path / KAFKA_SERVICES_FILE).exists()  # nothing generated for it


@pytest.mark.parametrize("protocol", ["SSL", "PLAINTEXT"])
def test_without_sasl_no_password_is_sent(tmp_path: Path, protocol: str) -> None:
    settings = Settings(var_dir=tmp_path, kafka_security_protocol=protocol)
    assert services_login(settings) == {"security.protocol": protocol}
    assert not (tmp_path / KAFKA_SERVICES_FILE).exists()


def test_kafka_config_still_overrides_the_login(tmp_path: Path) -> None:
    settings = Settings(
        var_dir=tmp_path,
        kafka_bootstrap="k:9092",
        kafka_config={"security.protocol": "SSL", "ssl.key.location": "/etc/skyalert/key.pem"},
    )
    config = base_config(settings)
    assert config["security.protocol"] == "SSL"
    assert config["ssl.key.location"] == "/etc/skyalert/key.pem"


def test_a_bad_mechanism_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYALERT_KAFKA_SASL_MECHANISM", "GSSAPI")
    with pytest.raises(ConfigError, match="SKYALERT_KAFKA_SASL_MECHANISM"):
        load_settings()


@pytest.mark.parametrize("password", ['with"quote', "back\\slash", "two\nlines"])
def test_the_local_broker_refuses_a_password_it_cannot_write(password: str) -> None:
    with pytest.raises(LocalBrokerError, match="SKYALERT_KAFKA_PASSWORD"):
        services_properties(ServiceAccount("skyalert-services", password))
