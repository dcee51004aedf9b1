"""Alembic migrations, run in-process by ``skyalert db upgrade`` and ``skyalert up``."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from skyalert.broker.core.db import Base, check_database, make_engine, sqlite_file
from skyalert.broker.core.errors import DatabaseError
from skyalert.broker.core.settings import Settings


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("skyalert.broker.core").joinpath("migrations"))
    )
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns the revisions before and after."""
    config = alembic_config(engine)
    try:
        before = current_revision(engine)
        command.upgrade(config, revision)
        return before, current_revision(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database migration failed: {exc}") from exc


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def migrated_engine(settings: Settings) -> Engine:
    """An engine on a database at the newest schema, for commands that need one; otherwise a
    DatabaseError saying where we looked (creating nothing there) and what to run."""
    where, fix = _where(settings)
    missing = sqlite_file(settings)
    if missing is not None and not missing.exists():
        raise DatabaseError(f"there is no database in {where}, so it is not migrated: {fix}")
    engine = make_engine(settings)
    check_database(engine)
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        engine.dispose()
        state = "empty" if current is None else f"at schema revision {current}, not {head}"
        raise DatabaseError(f"the database in {where} is {state} (not migrated): {fix}")
    return engine


def _where(settings: Settings) -> tuple[str, str]:
    if settings.database_url is not None:
        return "SKYALERT_DATABASE_URL", "run `skyalert db upgrade` with the same settings"
    folder = settings.var_dir.resolve()
    return (
        f"the var folder {folder} (SKYALERT_VAR_DIR, default ./var)",
        "run the command in the folder where you run `skyalert up` (or set SKYALERT_VAR_DIR "
        "to its var folder), or `skyalert db upgrade` to set up a database here",
    )


__all__ = ["Base", "current_revision", "head_revision", "migrated_engine", "upgrade"]
