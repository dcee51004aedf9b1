"""Alembic environment: the engine comes from the caller.

Each part defines its tables on the one ``Base``; ``skyalert.broker.run.tables`` imports them
all, so autogenerate (and the schema-drift test) sees every table.
"""

from alembic import context
from sqlalchemy import Engine

from skyalert.broker.core.db import Base

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
