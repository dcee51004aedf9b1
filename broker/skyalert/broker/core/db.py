"""SQLAlchemy engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import URL, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from skyalert.broker.core.errors import DatabaseError
from skyalert.broker.core.settings import Settings

# Stable constraint names make Alembic migrations portable between SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Every SQLite connection's settings: foreign keys kept, WAL (readers beside the writer).
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=5000")


def _sqlite_engine(url: str | URL, *pragmas: str) -> Engine:
    """An engine for a SQLite database whose connections run :data:`SQLITE_PRAGMAS`, then
    ``pragmas``."""
    engine = create_engine(url, connect_args={"check_same_thread": False})

    def run_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, *pragmas):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    event.listen(engine, "connect", run_pragmas)
    return engine


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file the settings name (None: another database, or in memory)."""
    url = settings.sqlalchemy_url
    database = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    return Path(database) if database and database != ":memory:" else None


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        if (database := sqlite_file(settings)) is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def unpinged_engine(engine: Engine) -> Engine:
    """One connection for one thread's transactions, not pinged before each (a round trip per
    transaction): its user replaces a connection it finds dropped. On SQLite ``engine`` itself."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(engine.url, pool_size=1, max_overflow=0)


def unflushed_engine(engine: Engine, connections: int = 4) -> Engine:
    """An engine for writes whose commits need not wait for the database's disk: on PostgreSQL
    a pool of its own (``connections`` at most) with ``synchronous_commit = off`` (a commit is
    visible at once and survives a crash of this process, not one of the database server, which
    may forget the last fraction of a second of commits); on a SQLite file, an engine of its
    own with ``synchronous = NORMAL`` (the same promise, against a crash of the machine); on an
    in-memory SQLite database (which a second engine would not see), ``engine`` itself."""
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        # In WAL mode a commit then survives a crash of the process, not one of the machine.
        return _sqlite_engine(engine.url, "synchronous=NORMAL")
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url,
        pool_pre_ping=True,
        pool_size=connections,
        max_overflow=0,
        connect_args={"options": "-c synchronous_commit=off"},
    )


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with sessions.begin() as session:
        yield session


def check_database(engine: Engine) -> None:
    """Raise DatabaseError with the reason when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(
            f"the database at {engine.url.render_as_string(hide_password=True)} "
            f"does not answer: {getattr(exc, 'orig', None) or exc}"
        ) from exc
