"""Alembic environment: the engine comes from the caller, the models from MODEL_MODULES."""

from alembic import context
from sqlalchemy import Engine

from skyalert.broker.db import Base
from skyalert.broker.migrate import load_models

load_models()
engine: Engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
