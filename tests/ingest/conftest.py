"""Fixtures of the ingest tests: the catalog's topics and inboxes exist in the test Kafka."""

from __future__ import annotations

import pytest

from skyalert.broker.core.settings import Settings
from skyalert.schemas.catalog import load_catalog
from support.ingest import sync_catalog


@pytest.fixture(scope="session")
def catalog_topics(kafka_settings: Settings) -> None:
    """Every catalog topic and inbox, as ``skyalert topics sync`` creates them."""
    sync_catalog(kafka_settings, load_catalog())
