"""A circular accepted while Kafka did not acknowledge it is archived and sent later by the
ingest worker's re-publisher: never lost."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive.store import Alert
from skyalert.broker.circulars import publishing, submission
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.pipeline import IngestPipeline
from skyalert.broker.ingest.republish import republish_pending
from skyalert.schemas.catalog import load_catalog
from support.ingest import find_messages

pytestmark = pytest.mark.usefixtures("topics")


def test_unacknowledged_circular_is_republished(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    pipeline = IngestPipeline.build(settings, sessions, load_catalog())
    try:
        with sessions.begin() as session:  # accepted and archived; the process "dies" here
            circular, version = submission.accept(
                session,
                Draft("IceCube-251213A: track", "Body."),
                "Me <me@example.org>",
                None,
                "api",
            )
            alerts = publishing.archive_version(session, pipeline, circular, version)
            number = circular.number
        assert [a.topic for a in alerts] == ["gcn.circulars", "gcn.circulars.neutrino"]
        sent = republish_pending(settings, sessions, pipeline.sender, timedelta(0))
        assert sent >= 2
    finally:
        pipeline.close()
    assert settings.kafka_bootstrap is not None
    for topic in ("gcn.circulars", "gcn.circulars.neutrino"):
        (message,) = find_messages(
            settings,
            topic,
            lambda m: json.loads(m.value() or b"{}").get("circularId") == number,
        )
        assert dict(message.headers() or [])["schema"] == (
            b"https://gcn.nasa.gov/schema/v7.2.3/gcn/circulars.schema.json"  # NASA's own
        )
    with sessions() as session:
        ids = [a.id for a in alerts]
        rows = session.scalars(select(Alert).where(Alert.id.in_(ids))).all()
        assert all(row.published_at is not None for row in rows)
