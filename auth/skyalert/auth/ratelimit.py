"""Fixed-window rate limits with counters in the database, so every replica counts together."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.errors import RateLimited
from skyalert.auth.models import RateCounter
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.rates import Rate


def hit(sessions: sessionmaker[Session], bucket: str, rate: Rate, what: str) -> None:
    """Count one attempt in ``bucket``; raise RateLimited once the window's count is used up."""
    now = time.time()
    window = int(now // rate.period * rate.period)
    with sessions.begin() as session:
        dialect = session.get_bind().dialect.name
        values = {
            "bucket": bucket[:400],
            "window_start": window,
            "count": 1,
            "expires_at": datetime.fromtimestamp(window + rate.period, UTC),
        }
        keys = ["bucket", "window_start"]
        bump = {"count": RateCounter.count + 1}
        statement: postgresql.Insert | sqlite.Insert
        if dialect == "postgresql":
            pg = postgresql.insert(RateCounter).values(values)
            statement = pg.on_conflict_do_update(index_elements=keys, set_=bump)
        elif dialect == "sqlite":
            lite = sqlite.insert(RateCounter).values(values)
            statement = lite.on_conflict_do_update(index_elements=keys, set_=bump)
        else:
            raise ConfigError(f"rate limits need PostgreSQL or SQLite, not {dialect}")
        count = session.execute(statement.returning(RateCounter.count)).scalar_one()
    if count > rate.count:
        retry = max(1, int(window + rate.period - now))
        raise RateLimited(
            f"too many {what} ({rate.text}); try again in {retry} s", retry_after=retry
        )


def check(sessions: sessionmaker[Session], bucket: str, rate: Rate, what: str) -> None:
    """Raise RateLimited if ``bucket`` has used up this window, without counting an attempt
    (for limits that count only failures, such as wrong passwords)."""
    now = time.time()
    window = int(now // rate.period * rate.period)
    with sessions() as session:
        count = session.scalar(
            select(RateCounter.count).where(
                RateCounter.bucket == bucket[:400], RateCounter.window_start == window
            )
        )
    if count is not None and count >= rate.count:
        retry = max(1, int(window + rate.period - now))
        raise RateLimited(
            f"too many {what} ({rate.text}); try again in {retry} s", retry_after=retry
        )


def forget_old(session: Session) -> int:
    """Delete finished windows; returns how many rows went."""
    result = session.execute(
        delete(RateCounter).where(RateCounter.expires_at < utcnow() - timedelta(minutes=1))
    )
    return int(getattr(result, "rowcount", 0) or 0)
