"""Fixtures of the live-feed tests: topics in Kafka, a publisher, a token, where the feed runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skyalert.broker.core.settings import Settings
from support.feed_servers import feed_servers
from support.stream import Publisher, ensure_topics, token


@pytest.fixture(scope="session")
def stream_topics(settings: Settings) -> None:
    ensure_topics(settings)


@pytest.fixture(scope="session")
def reader_token(settings: Settings, app_url: str, stream_topics: None) -> str:
    """A subscriber's token: every account may read public topics."""
    return token(settings, app_url)


@pytest.fixture(scope="session")
def publisher_token(settings: Settings, app_url: str, stream_topics: None) -> str:
    return token(settings, app_url, groups=["producers.gcn"])


@pytest.fixture
def publisher(app_url: str, publisher_token: str) -> Iterator[Publisher]:
    publisher = Publisher(app_url, publisher_token)
    yield publisher
    publisher.close()


@pytest.fixture(scope="session")
def one_feed_process(settings: Settings, stream_topics: None) -> Iterator[str]:
    with feed_servers(settings, 1) as (url, _servers):
        yield url


@pytest.fixture(scope="session")
def two_feed_processes(settings: Settings, stream_topics: None) -> Iterator[str]:
    """Two ``skyalert worker stream`` processes on one port (SO_REUSEPORT), each tailing Kafka."""
    with feed_servers(settings, 2) as (url, _servers):
        yield url


@pytest.fixture(params=["web app", "one feed process", "two feed processes"])
def feed_url(request: pytest.FixtureRequest, app_url: str) -> str:
    """Where the live feed is served: by the web app, or by one or two dedicated processes."""
    if request.param == "web app":
        return app_url
    name = request.param.replace(" ", "_")
    url: str = request.getfixturevalue(name)
    return url
