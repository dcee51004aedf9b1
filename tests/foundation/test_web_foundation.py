"""The web app's home page and probes, against the real Kafka and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
from pydantic import SecretStr

from conftest import serving
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog


def test_home_lists_every_catalog_topic(app_url: str) -> None:
    response = httpx.get(app_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for topic in load_catalog().topics:
        assert f'data-topic="{topic.name}"' in response.text
        assert topic.title in response.text


def test_healthz(app_url: str) -> None:
    assert httpx.get(app_url + "/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_kafka(app_url: str) -> None:
    response = httpx.get(app_url + "/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["kafka"]["ok"] is True
    assert body["checks"]["kafka"]["cluster_id"]


def test_readyz_names_the_unreachable_kafka(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, kafka_bootstrap="127.0.0.1:1")
    migrate.upgrade(make_engine(settings))
    with serving(settings) as url:
        response = httpx.get(url + "/readyz", timeout=10)
        home = httpx.get(url + "/", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["kafka"]["ok"] is False
    assert "127.0.0.1:1" in body["checks"]["kafka"]["error"]
    # The portal still answers, and says why counts are missing.
    assert home.status_code == 200
    assert "Kafka does not answer" in home.text


def test_unknown_page_is_an_html_error_and_api_gets_problem_json(app_url: str) -> None:
    page = httpx.get(app_url + "/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    api = httpx.get(app_url + "/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["status"] == 404


def test_discovery_document(app_url: str, settings: Settings) -> None:
    doc = httpx.get(app_url + "/.well-known/skyalert").json()
    assert doc["kafka"]["bootstrap_servers"] == settings.kafka_bootstrap
    assert doc["kafka"]["security_protocol"] in {"SASL_SSL", "SASL_PLAINTEXT", "PLAINTEXT", "SSL"}
    assert doc["token_endpoint"].endswith("/oauth2/token")
    assert doc["stream_url"].startswith("ws")
    assert doc["stream_url"].endswith("/api/v1/stream")
    assert doc["heartbeat_topic"] == load_catalog().heartbeat.name


def test_catalog_api(app_url: str) -> None:
    topics = httpx.get(app_url + "/api/v1/topics").json()["topics"]
    assert {t["name"] for t in topics} == {t.name for t in load_catalog().topics}
    one = httpx.get(app_url + "/api/v1/topics/igwn.gwalert").json()
    assert one["mission"]
    assert one["namespace"] == "igwn"
    assert one["schema_id"] == one["schema_ref"]  # our own schema, named by its $id
    guano = httpx.get(app_url + "/api/v1/topics/gcn.notices.swift.bat.guano").json()
    assert guano["schema_ref"] == "gcn/notices/swift/bat/Guano.schema.json"
    assert guano["schema_id"] == (
        "https://gcn.nasa.gov/schema/v7.2.3/gcn/notices/swift/bat/Guano.schema.json"
    )


def test_unknown_topic_suggests_the_closest(app_url: str) -> None:
    response = httpx.get(app_url + "/api/v1/topics/igwn.gwalrt")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "igwn.gwalert" in response.json()["detail"]


def test_metrics_are_public_unless_a_secret_guards_them(app_url: str, settings: Settings) -> None:
    assert httpx.get(app_url + "/metrics").status_code == 200
    guarded = settings.model_copy(update={"metrics_secret": SecretStr("scrape-me")})
    with serving(guarded) as url:
        for sent in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me"}):
            refused = httpx.get(url + "/metrics", headers=sent)
            assert refused.status_code == 401
            assert "SKYALERT_METRICS_SECRET" in refused.json()["detail"]
        scraped = httpx.get(url + "/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
