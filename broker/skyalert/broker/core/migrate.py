"""Alembic migrations, run in-process by ``skyalert db upgrade`` and ``skyalert up``."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from skyalert.broker.core.db import Base
from skyalert.broker.core.errors import DatabaseError


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


__all__ = ["Base", "current_revision", "head_revision", "upgrade"]
