"""Fixtures of the VTP tests: the real worker (both ports) in a thread, an author credential."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from skyalert.broker.core.settings import Settings, VtpRange
from skyalert.broker.kafka.kafka_node import free_port
from support.auth import make_credential, make_user
from support.stream import Publisher, ensure_topics, token
from support.vtp import Vtp, running

#: Subscribers from 127.0.0.3 are in no range; authors from 127.0.0.2 are bound to nobody.
SUBSCRIBER_RANGE = "127.0.0.1/32"
AUTHOR_RANGE = "127.0.0.1/32"
READER_RANGE = "127.0.0.4/32"


@pytest.fixture(scope="session")
def vtp_topics(settings: Settings) -> None:
    ensure_topics(settings)


@pytest.fixture(scope="session")
def author_id(settings: Settings, vtp_topics: None) -> str:
    """The producer credential bound to the author range (publish:gcn)."""
    return make_credential(settings, make_user(settings, groups=["producers.gcn"]))[0]


@pytest.fixture(scope="module")
def vtp(request: pytest.FixtureRequest, settings: Settings, author_id: str) -> Iterator[Vtp]:
    """The VTP worker on free ports, with quick keep-alives and a short answer timeout (a test
    module may set others in ``VTP_SETTINGS``)."""
    configured = settings.model_copy(
        update={
            "vtp_port": free_port(),
            "vtp_author_port": free_port(),
            "vtp_iamalive_interval": 0.3,
            "vtp_answer_timeout": 3.0,
            "vtp_subscribers": [VtpRange(network=ip_network(SUBSCRIBER_RANGE))],
            "vtp_authors": {
                AUTHOR_RANGE: author_id,
                # A credential with no producer group: its VOEvents are not its to publish.
                READER_RANGE: make_credential(settings, make_user(settings))[0],
            },
            **getattr(request.module, "VTP_SETTINGS", {}),
        }
    )
    with running(configured) as ports:
        yield Vtp(ports, configured, author_id)


@pytest.fixture(scope="module")
def publisher(settings: Settings, app_url: str, vtp_topics: None) -> Iterator[Publisher]:
    """Publishes over HTTP, as a mission does."""
    publisher = Publisher(app_url, token(settings, app_url, groups=["producers.gcn"]))
    yield publisher
    publisher.close()
