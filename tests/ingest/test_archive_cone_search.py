"""Cone searches over the archive's sky cells find exactly what a brute-force scan finds."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.archive.cone import Cone
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker, utcnow
from skyalert.broker.core.settings import Settings

TOPIC = "gcn.notices.bench"


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_url: str
) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'a.db'}" if request.param == "sqlite" else postgres_url
    engine = make_engine(Settings(database_url=url, var_dir=tmp_path))
    migrate.upgrade(engine)
    made = make_sessionmaker(engine)
    yield made
    with made.begin() as session:
        session.query(archive.Alert).delete()
    engine.dispose()


def alert(ra: float, dec: float, error: float) -> archive.Alert:
    return archive.Alert(
        id=new_alert_id(),
        topic=TOPIC,
        content_type="application/json",
        schema_id=None,
        sender="bench",
        source="http",
        received_at=utcnow(),
        event_time=None,
        test=False,
        ivorn=None,
        dedupe_key=f"key:{random.random()}",
        idempotency_key=None,
        content_sha256="0" * 64,
        ra=ra,
        dec=dec,
        ra_dec_error=error,
        document={},
        original=b"{}",
        published_at=None,
    )


def test_cone_search_matches_brute_force_at_poles_and_ra_zero(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(11)
    spots = [(0.0, 0.0), (359.8, 10.0), (45.0, 89.6), (300.0, -89.9), (120.0, -30.0)]
    rows = []
    for ra, dec in spots:
        for _ in range(60):
            p_dec = max(-90.0, min(90.0, dec + rng.uniform(-3, 3)))
            p_ra = (ra + rng.uniform(-3, 3) / max(0.05, math.cos(math.radians(p_dec)))) % 360
            rows.append(alert(p_ra, p_dec, rng.choice([0.0, 0.01, 0.9, 4.0])))
    with sessions.begin() as session:
        for row in rows:
            archive.store(session, row, [])
    for ra, dec in spots:
        for radius in (0.5, 2.0, 10.0):
            cone = Cone(ra, dec, radius)
            expected = {r.id for r in rows if cone.reaches(r.ra or 0, r.dec or 0, r.ra_dec_error)}
            query = archive.AlertQuery(topics=[TOPIC], cone=cone, limit=500)
            with sessions() as session:
                found = {a.id for a in archive.search(session, query).alerts}
            assert found == expected, (ra, dec, radius)
            assert expected or radius < 2
