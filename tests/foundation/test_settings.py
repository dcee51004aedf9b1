from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.settings import Settings, load_settings, settings_markdown
from skyalert.broker.kafka.config import consumer_config, producer_config

ROOT = Path(__file__).resolve().parents[2]


def test_reads_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYALERT_KAFKA_BOOTSTRAP", "kafka.example.org:9092")
    monkeypatch.setenv("SKYALERT_PORT", "8123")
    monkeypatch.setenv("SKYALERT_KAFKA_CONFIG", '{"security.protocol": "SASL_SSL"}')
    settings = load_settings()
    assert settings.kafka_bootstrap == "kafka.example.org:9092"
    assert settings.port == 8123
    assert settings.kafka_config == {"security.protocol": "SASL_SSL"}
    assert settings.base_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SKYALERT_PORT", "eighty"),
        ("SKYALERT_PORT", "70000"),
        ("SKYALERT_LOG_LEVEL", "LOUD"),
        ("SKYALERT_KAFKA_CONFIG", "{not json"),
        ("SKYALERT_HEARTBEAT_INTERVAL", "-1"),
        ("SKYALERT_SMTP_URL", "mail.example.org"),
        ("SKYALERT_PUBLIC_URL", "not a url"),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_secrets_are_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYALERT_DATABASE_URL", "hunter2-no-scheme")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "SKYALERT_DATABASE_URL" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_default_database_is_sqlite_in_var(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve()}/skyalert.db"


def test_kafka_defaults_stay_open_to_overrides() -> None:
    settings = Settings(kafka_bootstrap="b:9092", kafka_config={"linger.ms": 50})
    producer = producer_config(settings, compression_type="lz4")
    assert producer["enable.idempotence"] is True
    assert producer["acks"] == "all"
    assert producer["linger.ms"] == 50  # SKYALERT_KAFKA_CONFIG beats the default
    assert producer["compression.type"] == "lz4"  # keyword beats both
    consumer = consumer_config(settings, "g1", error_cb=print)
    assert consumer["group.id"] == "g1"
    assert consumer["enable.auto.commit"] is False
    assert consumer["error_cb"] is print  # Python-only options keep their name


def test_kafka_config_without_bootstrap_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match="SKYALERT_KAFKA_BOOTSTRAP"):
        producer_config(Settings())


def test_settings_page_is_current() -> None:
    assert (ROOT / "ops" / "settings.md").read_text() == settings_markdown()
    for name in Settings.model_fields:
        assert f"`SKYALERT_{name.upper()}`" in settings_markdown()


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"public_url": "http://127.0.0.1:8000"}, "ws://127.0.0.1:8000/api/v1/stream"),
        (
            {"public_url": "http://127.0.0.1:8000", "stream_port": 8100},
            "ws://127.0.0.1:8100/api/v1/stream",
        ),
        # Behind TLS the feed's bare port is not reachable: the proxy routes the web app's path.
        (
            {"public_url": "https://alerts.example.org/sky", "stream_port": 8100},
            "wss://alerts.example.org/sky/api/v1/stream",
        ),
        (
            {
                "public_url": "https://alerts.example.org",
                "stream_public_url": "wss://feed.example.org/live",
            },
            "wss://feed.example.org/live",
        ),
    ],
)
def test_stream_url_points_where_the_feed_is_served(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    assert Settings(var_dir=tmp_path, **changes).stream_url == expected


def test_mirrors_come_as_json_or_from_a_file_and_a_bad_one_keeps_its_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = {
        "name": "gcn",
        "bootstrap": "kafka.gcn.nasa.gov:9092",
        "token_url": "https://auth.gcn.nasa.gov/oauth2/token",
        "client_id": "id",
        "client_secret": "s3cret",
        "topics": {"gcn.notices.swift.bat.guano": "gcn.notices.swift.bat.guano"},
    }
    path = tmp_path / "mirrors.json"
    path.write_text(json.dumps([mirror]))
    monkeypatch.setenv("SKYALERT_MIRRORS", str(path))
    (from_file,) = load_settings(var_dir=tmp_path).mirrors
    assert from_file.client_secret is not None
    assert from_file.client_secret.get_secret_value() == "s3cret"
    monkeypatch.setenv("SKYALERT_MIRRORS", json.dumps([mirror]))
    assert load_settings(var_dir=tmp_path).mirrors == [from_file]

    monkeypatch.setenv("SKYALERT_MIRRORS", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match=r"SKYALERT_MIRRORS: .*neither JSON nor a file"):
        load_settings(var_dir=tmp_path)
    for bad in ([{**mirror, "name": "Not Valid!"}], '[{"client_secret": "s3cret",'):
        monkeypatch.setenv("SKYALERT_MIRRORS", bad if isinstance(bad, str) else json.dumps(bad))
        with pytest.raises(ConfigError, match="SKYALERT_MIRRORS") as raised:
            load_settings(var_dir=tmp_path)
        assert "s3cret" not in str(raised.value)
