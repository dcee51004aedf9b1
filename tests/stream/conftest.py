"""Fixtures of the live-feed tests: catalog topics in Kafka, a publisher, a reader's token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skyalert.broker.core.settings import Settings
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
