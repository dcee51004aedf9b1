"""Fixtures for circulars: submitters with a byline, their tokens, the topics in Kafka."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.models import User
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from support.auth import get_token, make_credential, make_user
from support.stream import ensure_topics


@dataclass(frozen=True)
class Author:
    user: User
    email: str
    token: str


@pytest.fixture(scope="module")
def topics(settings: Settings) -> None:
    ensure_topics(settings)


@pytest.fixture(scope="module")
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings)
    yield make_sessionmaker(engine)
    engine.dispose()


def author(
    settings: Settings,
    app_url: str,
    groups: Iterable[str] = ("circular-submitter",),
    name: str = "Ada Observer",
    affiliation: str = "Example Observatory",
) -> Author:
    """A verified account with a name and affiliation, in ``groups``, and a token of it."""
    email = f"ada-{uuid.uuid4().hex[:10]}@example.org"
    user = make_user(settings, email, groups=groups)
    credential = make_credential(settings, user, "all")  # merges the user: name it after
    engine = make_engine(settings)
    with make_sessionmaker(engine).begin() as session:
        row = session.get(User, user.id)
        assert row is not None
        row.name, row.affiliation = name, affiliation
    engine.dispose()
    return Author(user, email, get_token(app_url, *credential))


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """Settings of a new, migrated database of its own (PostgreSQL or SQLite), dropped after."""
    folder = tmp_path_factory.mktemp("db")
    if request.param == "sqlite":
        settings = Settings(var_dir=folder)
    else:
        admin_url: str = request.getfixturevalue("postgres_admin_url")
        name = f"skyalert_circ_{uuid.uuid4().hex[:10]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        settings = Settings(var_dir=folder, database_url=url)
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    yield settings
    if request.param == "postgresql":
        with admin.connect() as connection:
            # Without FORCE: the server then stops its own autovacuum workers, which FORCE may not.
            connection.execute(text(f'DROP DATABASE "{name}"'))
        admin.dispose()
