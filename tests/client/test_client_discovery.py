"""Discovery and catalog: what the client learns from the server's URL alone."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.client import (
    ConfigurationError,
    DiscoveryError,
    ServerUnreachable,
    UnknownTopicError,
    fetch_discovery,
)
from skyalert.client.catalog import check_topics, fetch_catalog
from skyalert.client.discovery import normalise_server
from support.client import JsonStub


def test_discovery_from_the_real_server(server_url: str, client_settings: Settings) -> None:
    found = fetch_discovery(server_url)
    assert found.server == server_url
    assert found.bootstrap_servers == client_settings.kafka_client_bootstrap
    assert found.security_protocol == "PLAINTEXT"
    assert not found.uses_sasl
    assert found.token_endpoint == f"{server_url}/oauth2/token"
    assert found.catalog_url == f"{server_url}/api/v1/topics"
    assert found.heartbeat_topic == "skyalert.heartbeat"
    assert found.stream_url.startswith("ws://127.0.0.1:")


def test_trailing_slash_and_case_of_scheme(server_url: str) -> None:
    assert fetch_discovery(server_url + "/").server == server_url
    assert normalise_server("HTTPS://example.org/sky/") == "https://example.org/sky"


@pytest.mark.parametrize(
    ("server", "words"),
    [
        (None, "no server given"),
        ("", "no server given"),
        ("skyalert.example.org", "write it as https://skyalert.example.org"),
        ("ftp://example.org", "must be an http:// or https:// URL"),
        ("https://", "must be an http:// or https:// URL"),
    ],
)
def test_bad_server_urls(server: str | None, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        normalise_server(server)


def test_discovery_is_cached_on_disk(server_url: str, client_dirs: Path) -> None:
    with JsonStub() as stub:
        stub.routes["/.well-known/skyalert"] = fetch_discovery(server_url).document
        first = fetch_discovery(stub.url)
        again = fetch_discovery(stub.url)
        assert first == again
        assert stub.hits == ["/.well-known/skyalert"]  # the second came from the cache
        assert list((client_dirs / "cache").rglob("*.json"))
        fetch_discovery(stub.url, ttl=0)  # expired: asks again
        fetch_discovery(stub.url, refresh=True)
        assert len(stub.hits) == 3


def test_a_stale_copy_serves_when_the_server_is_down(
    client_settings: Settings,
    client_dirs: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    moved = client_settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    with serving(moved, port) as url:
        live = fetch_discovery(url)
    with caplog.at_level(logging.WARNING, logger="skyalert.client"):
        offline = fetch_discovery(url, ttl=0)
    assert offline == live
    assert "using the copy cached" in caplog.text
    monkeypatch.setenv("SKYALERT_CLIENT_CACHE_DIR", str(client_dirs / "empty-cache"))
    with pytest.raises(ServerUnreachable, match="connection refused"):
        fetch_discovery(url)


def test_not_a_skyalert_server(server_url: str) -> None:
    with pytest.raises(DiscoveryError, match=r"is .* a skyalert server"):
        fetch_discovery(f"{server_url}/not-here")
    with JsonStub() as stub:
        stub.routes["/.well-known/skyalert"] = {"kafka": {"bootstrap_servers": "x:1"}}
        with pytest.raises(DiscoveryError, match="lacks 'token_endpoint'"):
            fetch_discovery(stub.url)
        stub.routes["/.well-known/skyalert"] = b"<html>hello</html>"
        with pytest.raises(ServerUnreachable, match="did not answer with JSON"):
            fetch_discovery(stub.url, refresh=True)
        stub.routes["/.well-known/skyalert"] = ["a", "list"]
        with pytest.raises(DiscoveryError, match="not a JSON object"):
            fetch_discovery(stub.url, refresh=True)


def test_unreachable_server_says_why() -> None:
    with pytest.raises(ServerUnreachable, match="connection refused"):
        fetch_discovery(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ServerUnreachable, match="does not resolve"):
        fetch_discovery("http://no-such-host.invalid")


def test_catalog_from_the_real_server(server_url: str) -> None:
    catalog = fetch_catalog(fetch_discovery(server_url))
    guano = catalog.get("gcn.notices.swift.bat.guano")
    assert guano is not None
    assert guano.format == "json"
    assert guano.read_scope == "read:public"
    assert guano.publish_scope == "publish:gcn"
    early = catalog.get("igwn.early_warning.gwalert")
    assert early is not None
    assert early.read_scope == "read:restricted.lvk_early"
    bat = catalog.get("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK")
    assert bat is not None
    assert bat.format == "voevent"


def test_misspelt_topic_names_the_right_one(server_url: str) -> None:
    discovery = fetch_discovery(server_url)
    with pytest.raises(UnknownTopicError) as caught:
        check_topics(discovery, ["gcn.notices.swift.bat.guano", "gcn.notices.swift.bat.guana"])
    assert caught.value.topic == "gcn.notices.swift.bat.guana"
    assert caught.value.suggestions[0] == "gcn.notices.swift.bat.guano"
    assert "did you mean gcn.notices.swift.bat.guano" in str(caught.value)
    with pytest.raises(UnknownTopicError, match="see `skyalert-client topics`"):
        check_topics(discovery, ["zzzz"])


def test_a_new_topic_is_found_despite_the_cache(server_url: str) -> None:
    document = fetch_discovery(server_url).document
    with JsonStub() as stub:
        topics = json.loads(
            json.dumps(fetch_catalog(fetch_discovery(server_url)).topics[:1], default=vars)
        )
        stub.routes["/.well-known/skyalert"] = {
            **document,
            "catalog_url": f"{stub.url}/api/v1/topics",
        }
        stub.routes["/api/v1/topics"] = {"topics": topics}
        discovery = fetch_discovery(stub.url)
        check_topics(discovery, [topics[0]["name"]])
        stub.routes["/api/v1/topics"] = {"topics": [*topics, {**topics[0], "name": "new.topic"}]}
        check_topics(discovery, ["new.topic"])  # not in the cached catalog: asked again
        assert stub.hits.count("/api/v1/topics") == 2
