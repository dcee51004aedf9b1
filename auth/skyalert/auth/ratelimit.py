"""Fixed-window rate limits with counters in the database, so every replica counts together:
counted per attempt there (:func:`hit`), or in memory and merged (:class:`SharedLimiter`)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.errors import RateLimited
from skyalert.auth.models import RateCounter
from skyalert.broker.core.db import utcnow
from skyalert.broker.core.errors import ConfigError
from skyalert.broker.core.periodic import Periodic
from skyalert.broker.core.rates import LocalCounts, Rate

log = logging.getLogger(__name__)


def hit(sessions: sessionmaker[Session], bucket: str, rate: Rate, what: str) -> None:
    """Count one attempt in ``bucket``; raise RateLimited once the window's count is used up."""
    now = time.time()
    window = int(now // rate.period * rate.period)
    with sessions.begin() as session:
        count = _add(session, bucket, window, rate.period, 1)
    if count > rate.count:
        _refuse(what, rate, max(1, int(window + rate.period - now)))


def _refuse(what: str, rate: Rate, retry: int) -> None:
    raise RateLimited(f"too many {what} ({rate.text}); try again in {retry} s", retry_after=retry)


def _add(session: Session, bucket: str, window: int, period: int, hits: int) -> int:
    """Add ``hits`` to a window's counter row; returns its new count."""
    dialect = session.get_bind().dialect.name
    values = {
        "bucket": bucket[:400],
        "window_start": window,
        "count": hits,
        "expires_at": datetime.fromtimestamp(window + period, UTC),
    }
    keys = ["bucket", "window_start"]
    bump = {"count": RateCounter.count + hits}
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        pg = postgresql.insert(RateCounter).values(values)
        statement = pg.on_conflict_do_update(index_elements=keys, set_=bump)
    elif dialect == "sqlite":
        lite = sqlite.insert(RateCounter).values(values)
        statement = lite.on_conflict_do_update(index_elements=keys, set_=bump)
    else:
        raise ConfigError(f"rate limits need PostgreSQL or SQLite, not {dialect}")
    return int(session.execute(statement.returning(RateCounter.count)).scalar_one())


class SharedLimiter:
    """Rate limits counted in this process's memory (no query per hit), merged into the
    database's counters every ``interval`` seconds, so that every process shares one bound: a
    window accepts at most the limit plus what the other processes accepted in their last
    ``interval`` before they heard of each other's hits (a bucket new to a process is read
    once, so that process starts from the shared count). ``start`` the merging, ``close`` it."""

    def __init__(self, sessions: sessionmaker[Session], interval: float = 0.5) -> None:
        self.sessions = sessions
        self.interval = interval
        self.counts = LocalCounts()
        self._ticker = Periodic("rate-limits", interval, self._merge_or_warn)

    def hit(self, bucket: str, rate: Rate, what: str) -> None:
        """Count one attempt in ``bucket``; raise RateLimited once the window is used up.
        A bucket new to this process in this window is read from the database once, so that
        a process does not start from zero where others have used the window up."""
        bucket, now = bucket[:400], time.time()
        if not self.counts.knows(bucket, rate, now):
            self.counts.seed(bucket, rate, now, self._stored(bucket, rate, now))
        count, retry = self.counts.hit(bucket, rate, now)
        if count > rate.count:
            _refuse(what, rate, retry)

    def _stored(self, bucket: str, rate: Rate, now: float) -> int:
        window = int(now // rate.period * rate.period)
        with self.sessions() as session:
            count = session.scalar(
                select(RateCounter.count).where(
                    RateCounter.bucket == bucket, RateCounter.window_start == window
                )
            )
        return int(count or 0)

    def start(self) -> None:
        self._ticker.start()

    def close(self) -> None:
        self._ticker.stop()
        self.merge()

    def _merge_or_warn(self) -> None:
        try:
            self.merge()
        except SQLAlchemyError as exc:  # counted locally meanwhile; merged next time
            log.warning("could not merge rate-limit counts: %s", exc)

    def merge(self) -> None:
        """Send this process's new hits to the database; learn every process's totals."""
        deltas = self.counts.drain(time.time())
        held = self.counts.windows()
        if not held:
            return
        with self.sessions.begin() as session:
            for d in deltas:
                _add(session, d.bucket, d.window, d.period, d.hits)
            # Every window held, not only those this process added to: others' hits count too.
            key = tuple_(RateCounter.bucket, RateCounter.window_start)
            totals = session.execute(
                select(RateCounter.bucket, RateCounter.window_start, RateCounter.count).where(
                    key.in_(held)
                )
            ).all()
        for bucket, window, total in totals:
            self.counts.heard(bucket, window, total)


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
