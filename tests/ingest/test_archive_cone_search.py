"""Cone searches over the archive's sky cells find exactly what a brute-force scan finds."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

import pytest
from sqlalchemy import MetaData, Table, select
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


def alert(ra: float, dec: float, error: float | None) -> archive.Alert:
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


def random_sky(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(0, 360), math.degrees(math.asin(rng.uniform(-1, 1)))


#: One error radius from every tier (archive.ERROR_TIERS), None and 0 included.
ERRORS = [None, 0.0, 0.3, 1.0, 2.5, 4.0, 9.0, 30.0, 64.0, 120.0]


def test_cone_search_matches_brute_force_for_large_radii_and_every_error_tier(
    sessions: sessionmaker[Session],
) -> None:
    rng = random.Random(23)
    rows = [alert(*random_sky(rng), rng.choice(ERRORS)) for _ in range(1500)]
    rows += [alert(ra, 90.0, 0.0) for ra in (0.0, 180.0)]  # on the poles
    rows += [alert(0.0, -90.0, 2.0), alert(359.999, 0.0, 0.0), alert(0.0, 0.0, 0.0)]
    with sessions.begin() as session:
        for row in rows:
            archive.store(session, row, [])
    cones = [Cone(*random_sky(rng), r) for r in (0.2, 1.0, 3.0, 12.0, 35.0, 90.0, 179.0, 180.0)]
    cones += [Cone(0.1, 89.5, 1.0), Cone(359.9, -88.0, 3.0), Cone(359.95, 0.0, 0.1)]
    cones += [Cone(0.02, 1.0, 20.0), Cone(180.0, 90.0, 15.0), Cone(10.0, -90.0, 0.5)]
    for cone in cones:
        expected = {r.id for r in rows if cone.reaches(r.ra or 0, r.dec or 0, r.ra_dec_error)}
        query = archive.AlertQuery(topics=[TOPIC], cone=cone, limit=500)
        with sessions() as session:
            page = archive.search(session, query)
        found = {a.id for a in page.alerts}
        if page.next_cursor is None:
            assert found == expected, cone
        else:  # the whole sky: a full page of the newest matches
            assert len(found) == 500, cone
            assert found <= expected, cone
            assert sorted(expected, reverse=True)[:500] == [a.id for a in page.alerts]


@pytest.mark.parametrize("radius", [0.8, 25.0])  # gathered by cells, and walked by id
@pytest.mark.parametrize("order", ["desc", "asc"])
def test_cone_search_pages_by_cursor_in_id_order(
    sessions: sessionmaker[Session], radius: float, order: Literal["asc", "desc"]
) -> None:
    rng = random.Random(5)
    centre = Cone(359.6, -20.0, radius)  # across RA 0
    rows = []
    for _ in range(400):
        p_dec = max(-90.0, min(90.0, centre.dec + rng.uniform(-1.5, 1.5) * radius))
        stretch = max(0.05, math.cos(math.radians(p_dec)))
        p_ra = (centre.ra + rng.uniform(-1.5, 1.5) * radius / stretch) % 360
        rows.append(alert(p_ra, p_dec, rng.choice(ERRORS[:6])))
    with sessions.begin() as session:
        for row in rows:
            archive.store(session, row, [])
    expected = sorted(
        (r.id for r in rows if centre.reaches(r.ra or 0, r.dec or 0, r.ra_dec_error)),
        reverse=order == "desc",
    )
    assert len(expected) > 60
    seen: list[str] = []
    cursor = None
    while True:
        query = archive.AlertQuery([TOPIC], cone=centre, limit=17, cursor=cursor, order=order)
        with sessions() as session:
            page = archive.search(session, query)
        seen += [a.id for a in page.alerts]
        if page.next_cursor is None:
            break
        assert len(page.alerts) == 17
        cursor = page.next_cursor
    assert seen == expected


def test_cone_search_keeps_to_topics_time_and_test_flag(sessions: sessionmaker[Session]) -> None:
    inside = alert(10.0, 10.0, 0.0)
    other = alert(10.0, 10.0, 0.0)
    other.topic = "gcn.notices.other"
    trial = alert(10.0, 10.0, 0.0)
    trial.test = True
    with sessions.begin() as session:
        for row in (inside, other, trial):
            archive.store(session, row, [])
    cone = Cone(10.2, 10.0, 1.0)
    with sessions() as session:
        found = archive.search(session, archive.AlertQuery([TOPIC], cone=cone, test=False))
        later = archive.search(
            session, archive.AlertQuery([TOPIC], cone=cone, since=utcnow() + timedelta(days=1))
        )
    assert [a.id for a in found.alerts] == [inside.id]
    assert later.alerts == []


def test_migration_0007_indexes_archived_wide_circles(tmp_path: Path) -> None:
    """Alerts archived before 0007 with errors above 1° had no cell: the upgrade gives them one
    and a tier, and cone searches find them."""
    engine = make_engine(Settings(database_url=f"sqlite:///{tmp_path / 'm.db'}", var_dir=tmp_path))
    migrate.upgrade(engine, "0006")
    wide, small = alert(200.0, -45.0, 8.0), alert(200.0, -45.0, 0.001)
    columns = [c.name for c in archive.Alert.__table__.columns if c.name != "sky_tier"]
    table = Table("alerts", MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        for row, cell in ((wide, None), (small, archive.cell_of(200.0, -45.0))):
            values = {c: getattr(row, c) for c in columns} | {"sky_cell": cell}
            connection.execute(table.insert().values(values))
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        stored = {a.id: (a.sky_cell, a.sky_tier) for a in session.scalars(select(archive.Alert))}
        far = archive.search(session, archive.AlertQuery([TOPIC], cone=Cone(200.0, -37.5, 0.1)))
    cell = archive.cell_of(200.0, -45.0)
    assert stored == {wide.id: (cell, 2), small.id: (cell, None)}
    assert [a.id for a in far.alerts] == [wide.id]
    engine.dispose()
