"""librdkafka configuration: defaults from discovery, every option still yours."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from skyalert.broker.core.settings import Settings
from skyalert.client import ConfigurationError, Discovery, config_from_env
from skyalert.client.config import default_group_id, dotted, kafka_config, split_own

SASL = Discovery(
    server="https://sky.example.org",
    token_endpoint="https://sky.example.org/oauth2/token",
    bootstrap_servers="kafka.sky.example.org:9092",
    security_protocol="SASL_SSL",
    heartbeat_topic="skyalert.heartbeat",
    catalog_url="https://sky.example.org/api/v1/topics",
    api_url="https://sky.example.org/api/v1",
    stream_url="wss://sky.example.org/api/v1/stream",
    sasl_mechanism="OAUTHBEARER",
)
LOCAL = Discovery(
    server="http://127.0.0.1:8000",
    token_endpoint="http://127.0.0.1:8000/oauth2/token",
    bootstrap_servers="127.0.0.1:9092",
    security_protocol="PLAINTEXT",
    heartbeat_topic="skyalert.heartbeat",
    catalog_url="http://127.0.0.1:8000/api/v1/topics",
    api_url="http://127.0.0.1:8000/api/v1",
    stream_url="ws://127.0.0.1:8000/api/v1/stream",
)


def test_sasl_uses_librdkafkas_oidc_method() -> None:
    config = kafka_config("consumer", SASL, "abc123", "s3cret", {})
    assert config["bootstrap.servers"] == "kafka.sky.example.org:9092"
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanisms"] == "OAUTHBEARER"
    assert config["sasl.oauthbearer.method"] == "oidc"
    assert config["sasl.oauthbearer.client.id"] == "abc123"
    assert config["sasl.oauthbearer.client.secret"] == "s3cret"
    assert config["sasl.oauthbearer.token.endpoint.url"] == "https://sky.example.org/oauth2/token"
    assert config["group.id"] == "abc123"  # stable: a restart resumes
    assert config["auto.offset.reset"] == "earliest"
    assert config["enable.auto.commit"] is False
    assert isinstance(config["logger"], logging.Logger)
    assert config["log_level"] == 2  # errors come through error_cb, once each


def test_plaintext_has_no_sasl_and_needs_no_credential() -> None:
    config = kafka_config("consumer", LOCAL, None, None, {})
    assert config["security.protocol"] == "PLAINTEXT"
    assert not [key for key in config if key.startswith("sasl")]
    assert config["group.id"].startswith("skyalert-client.")


def test_producer_defaults() -> None:
    config = kafka_config("producer", SASL, "abc123", "s3cret", {})
    assert config["compression.type"] == "zstd"
    assert config["enable.idempotence"] is True
    assert "group.id" not in config


def test_every_option_stays_open() -> None:
    options = {
        "group.id": "abc123.pipeline",
        "auto.offset.reset": "latest",
        "bootstrap.servers": "elsewhere:9093",
        "enable.auto.commit": True,
        "sasl.oauthbearer.scope": "read:public",
    }
    config = kafka_config("consumer", SASL, "abc123", "s3cret", options)
    assert {key: config[key] for key in options} == options


def test_own_oauth_callback_replaces_the_oidc_method() -> None:
    def token(_config: str) -> tuple[str, float]:
        return "t", 0.0

    config = kafka_config("consumer", SASL, "abc123", None, {"oauth_cb": token})
    assert config["oauth_cb"] is token
    assert "sasl.oauthbearer.method" not in config


def test_sasl_without_a_credential_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs a credential"):
        kafka_config("consumer", SASL, None, None, {})
    with pytest.raises(ConfigurationError, match="needs a credential"):
        kafka_config("consumer", SASL, "abc123", None, {})


def test_group_ids_must_start_with_the_client_id() -> None:
    with pytest.raises(ConfigurationError, match=r"group_id='abc123\.mine'"):
        kafka_config("consumer", SASL, "abc123", "s3cret", {"group.id": "mine"})
    kafka_config("consumer", LOCAL, "abc123", "s3cret", {"group.id": "mine"})  # no ACLs locally


def test_python_spellings_of_options() -> None:
    assert dotted({"group_id": "g", "linger_ms": 5, "error_cb": print, "log_level": 7}) == {
        "group.id": "g",
        "linger.ms": 5,
        "error_cb": print,
        "log_level": 7,
    }


def test_own_keys_are_split_from_librdkafkas() -> None:
    own, kafka = split_own({"client_id": "a", "server": "s", "group.id": "g"})
    assert own == {"client_id": "a", "server": "s"}
    assert kafka == {"group.id": "g"}


def test_default_group_id_is_the_client_id() -> None:
    assert default_group_id("abc123") == "abc123"
    assert default_group_id(None) == default_group_id(None)


def test_config_from_env() -> None:
    env = {
        "SKYALERT_CLIENT_SERVER": "https://sky.example.org",
        "SKYALERT_CLIENT_ID": "abc123",
        "SKYALERT_CLIENT_SECRET": "s3cret",
        "SKYALERT_CLIENT_KAFKA_GROUP_ID": "abc123.x",
        "SKYALERT_CLIENT_KAFKA_SASL_OAUTHBEARER_SCOPE": "read:public",
        "SKYALERT_CLIENT_KAFKA_SOME__DASHED___UNDER": "1",
        "SKYALERT_CLIENT_KAFKA_": "ignored",
        "KAFKA_GROUP_ID": "not ours",
        "SKYALERT_DATABASE_URL": "the server's",
    }
    assert config_from_env(env) == {
        "server": "https://sky.example.org",
        "client_id": "abc123",
        "client_secret": "s3cret",
        "group.id": "abc123.x",
        "sasl.oauthbearer.scope": "read:public",
        "some-dashed_under": "1",
    }
    assert config_from_env({"X_ID": "a"}, prefix="X_") == {"client_id": "a"}


def test_config_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYALERT_CLIENT_ID", "from-env")
    assert config_from_env()["client_id"] == "from-env"


def test_client_variables_cannot_collide_with_server_settings() -> None:
    # The server reads SKYALERT_<FIELD>; none of its fields may start with CLIENT_.
    clashing = [name for name in Settings.model_fields if name.upper().startswith("CLIENT_")]
    assert clashing == []


def test_env_config_feeds_the_consumer_arguments() -> None:
    env_config: dict[str, Any] = config_from_env(
        {"SKYALERT_CLIENT_ID": "abc123", "SKYALERT_CLIENT_SECRET": "s"}
    )
    own, kafka = split_own(env_config)
    config = kafka_config("consumer", SASL, own["client_id"], own["client_secret"], kafka)
    assert config["sasl.oauthbearer.client.id"] == "abc123"
