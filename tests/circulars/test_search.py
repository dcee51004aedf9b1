"""The search language, and search itself on PostgreSQL (full text) and SQLite (fallback)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.circulars import search, submission
from skyalert.broker.circulars.errors import CircularError
from skyalert.broker.circulars.search import Query, Search, Term, parse
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings

START = datetime(2024, 3, 1, tzinfo=UTC)
CIRCULARS = [
    (
        "GRB 240301A: Swift-XRT afterglow detection",
        "The X-ray afterglow is fading.",
        "Ada Lovelace",
    ),
    ("GRB 240301A: optical counterpart", "An optical afterglow was found by MASTER.", "Bob Smith"),
    ("IceCube-240302A: neutrino track", "A track-like event; no afterglow seen.", "Ada Lovelace"),
    ("EP240303a: X-ray transient", "Einstein Probe saw a fast transient.", "Carla Ruiz"),
    (
        "GRB 240304B: Fermi GBM detection",
        "Bright burst; <b>bold</b> and 100% sure_ish.",
        "Bob Smith",
    ),
]


def test_parse_terms_fields_phrases_and_operators() -> None:
    assert parse("") == Query(())
    assert parse('subject:GRB body:"optical afterglow" -fading') == Query(
        ((Term("GRB", "subject"), Term("optical afterglow", "body"), Term("fading", None, True)),)
    )
    assert parse("xrt OR submitter:Smith AND NOT fermi") == Query(
        ((Term("xrt"),), (Term("Smith", "submitter"), Term("fermi", None, True)))
    )
    assert parse("SUBJECT:grb") == Query(((Term("grb", "subject"),),))


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("NOT fading", "not excluded"),
        ("xrt OR -fading", "not excluded"),
        ("x" * 201, "longer than"),
        (" ".join(f"w{i}" for i in range(21)), "at most 20"),
    ],
)
def test_bad_queries_say_why(query: str, reason: str) -> None:
    with pytest.raises(CircularError, match=reason):
        parse(query)


@pytest.fixture(scope="module")
def pg_sessions(postgres_admin_url: str) -> Iterator[sessionmaker[Session]]:
    name = f"skyalert_circ_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(Settings(database_url=url))
    yield _filled(engine)
    engine.dispose()
    with admin.connect() as connection:
        # Without FORCE: the server then stops its own autovacuum workers, which FORCE may not.
        connection.execute(text(f'DROP DATABASE "{name}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def lite_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    folder: Path = tmp_path_factory.mktemp("circ")
    engine = make_engine(Settings(var_dir=folder))
    yield _filled(engine)
    engine.dispose()


def _filled(engine: object) -> sessionmaker[Session]:
    migrate.upgrade(engine)  # type: ignore[arg-type]
    sessions = make_sessionmaker(engine)  # type: ignore[arg-type]
    with sessions.begin() as session:
        for day, (subject, body, who) in enumerate(CIRCULARS):
            submission.accept(
                session,
                Draft(subject, body),
                f"{who} at Somewhere <x{day}@example.org>",
                None,
                "web",
                created_at=START + timedelta(days=day),
            )
        search.index(session, range(1, len(CIRCULARS) + 1))
    return sessions


@pytest.fixture(params=["postgresql", "sqlite"])
def sessions(request: pytest.FixtureRequest) -> sessionmaker[Session]:
    name = "pg_sessions" if request.param == "postgresql" else "lite_sessions"
    found: sessionmaker[Session] = request.getfixturevalue(name)
    return found


def numbers(sessions: sessionmaker[Session], query: str, **more: object) -> set[int]:
    with sessions() as session:
        page = search.run(session, Search(query, **more))  # type: ignore[arg-type]
    return {c.number for c in page.circulars}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {1, 2, 3, 4, 5}),
        ("subject:GRB", {1, 2, 5}),
        ("afterglow", {1, 2, 3}),
        ("body:afterglow -subject:IceCube", {1, 2}),
        ('body:"optical afterglow"', {2}),
        ("submitter:Lovelace", {1, 3}),
        ("subject:EP240303a OR submitter:Smith", {2, 4, 5}),
        ("afterglow AND NOT fading", {2, 3}),
        ("subject:afterglow body:afterglow", {1}),
        ("nothing-like-this", set()),
    ],
)
def test_search(sessions: sessionmaker[Session], query: str, expected: set[int]) -> None:
    assert numbers(sessions, query) == expected


def test_hostile_terms_are_plain_text(sessions: sessionmaker[Session]) -> None:
    assert numbers(sessions, "'; DROP TABLE circulars; --") == set()
    assert numbers(sessions, "100%") == {5}
    assert numbers(sessions, "subject:IceCube") == {3}  # the table is still there


def test_date_range_event_and_paging(sessions: sessionmaker[Session]) -> None:
    assert numbers(sessions, "", since=START + timedelta(days=3)) == {4, 5}
    assert numbers(sessions, "", until=START + timedelta(days=1)) == {1, 2}
    assert numbers(sessions, "", event_id="GRB 240301A") == {1, 2}
    with sessions() as session:
        first = search.run(session, Search("", limit=2))
        third = search.run(session, Search("", page=3, limit=2))
    assert [c.number for c in first.circulars] == [5, 4]
    assert first.more
    assert [c.number for c in third.circulars] == [1]
    assert not third.more


def test_postgres_orders_by_relevance(pg_sessions: sessionmaker[Session]) -> None:
    with pg_sessions() as session:
        page = search.run(session, Search("afterglow"))
    # Subject hits (weight A) outrank body-only hits.
    assert page.circulars[0].number == 1
