"""Migrations and models agree, on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine

from skyalert.broker.core import migrate
from skyalert.broker.core.db import check_database, make_engine, make_sessionmaker
from skyalert.broker.core.errors import DatabaseError
from skyalert.broker.core.liveness import Liveness, forget_stale, last_seen
from skyalert.broker.core.settings import Settings
from skyalert.broker.run import tables


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        settings: Settings = request.getfixturevalue("settings")
    else:
        settings = Settings(var_dir=tmp_path)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), tables.METADATA)
    assert diff == []
    assert migrate.current_revision(engine) == migrate.head_revision(engine)


def test_upgrade_is_idempotent(engine: Engine) -> None:
    head = migrate.head_revision(engine)
    assert migrate.upgrade(engine) == (head, head)


def test_liveness_round_trip(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    me = Liveness(sessions, "test-worker", host="h", pid=4242)
    assert last_seen(sessions, "test-worker") is None
    me.beat("starting")
    first = last_seen(sessions, "test-worker")
    assert first is not None
    assert first.tzinfo is not None
    me.beat("running")
    second = last_seen(sessions, "test-worker")
    assert second is not None
    assert second >= first
    assert forget_stale(sessions, timedelta(hours=1)) == 0
    me.gone()
    assert last_seen(sessions, "test-worker") is None


def test_unreachable_database_is_a_clear_error() -> None:
    engine = create_engine("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    with pytest.raises(DatabaseError, match=r"127\.0\.0\.1:1") as caught:
        check_database(engine)
    assert "secret" not in str(caught.value)
