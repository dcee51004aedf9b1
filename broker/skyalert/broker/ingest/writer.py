"""Group commit for concurrent publishers: their checked alerts archived in one transaction.

One thread takes every alert waiting (up to ``MAX_BATCH``), inserts them with one statement,
starts their produces and then commits, so the commit and Kafka's acknowledgement overlap. The
answer waits for both: an alert answered 201 is in the archive. The price of the overlap: when
the commit itself fails after the insert (the database went away in that instant), Kafka may
hold an alert the archive does not; its publisher was answered 503, not 201. A kill -9 between
the produce and the commit leaves the same: a message with an ``alert-id`` the archive never
had, answered nothing, so a retry archives it anew under another id. A kill after the commit
leaves an archived alert without ``published_at``, which the re-publisher sends unless Kafka
holds it already (:mod:`skyalert.broker.ingest.republish`).

The thread keeps one connection and does not ping it before each batch: a batch whose first
statements find it dropped (the database restarted meanwhile) wrote and sent nothing, and runs
once more on a new connection.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future

from sqlalchemy.exc import DBAPIError

from skyalert.broker.core.db import make_sessionmaker, unpinged_engine
from skyalert.broker.ingest.pipeline import Accepted, IngestPipeline, Prepared
from skyalert.broker.ingest.reasons import Rejected

log = logging.getLogger(__name__)

MAX_BATCH = 256

_Item = tuple[Prepared, "Future[Accepted]"]


class _DroppedConnection(Exception):
    """The batch's connection was gone before its commit: nothing was written or sent."""


class ArchiveWriter:
    """The archive-and-produce step of many callers, batched; ``close`` it after use."""

    def __init__(self, pipeline: IngestPipeline) -> None:
        self.pipeline = pipeline
        self.sessions = make_sessionmaker(unpinged_engine(pipeline.sessions.kw["bind"]))
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self._thread.start()

    def submit(self, prepared: Prepared) -> Future[Accepted]:
        """Archive and start the produce; the future fails with Rejected for a key reused on
        other content, or with the database's error."""
        future: Future[Accepted] = Future()
        self._queue.put((prepared, future))
        return future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)
        engine = self.sessions.kw["bind"]
        if engine is not self.pipeline.sessions.kw["bind"]:
            engine.dispose()

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[_Item]) -> None:
        prepared = [item for item, _ in batch]
        try:
            try:
                sent = self._archive(prepared)
            except _DroppedConnection:
                sent = self._archive(prepared, retried=True)
        except Exception as exc:  # every caller hears it; the thread serves the next batch
            log.warning("could not archive %d alert(s): %s", len(batch), exc)
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, sent, strict=True):
            if isinstance(outcome, Rejected):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def _archive(
        self, batch: list[Prepared], *, retried: bool = False
    ) -> list[Accepted | Rejected]:
        """Insert the batch and start its produces in one transaction, committed last."""
        pipeline = self.pipeline
        with self.sessions.begin() as session:
            try:
                outcomes = pipeline.store(session, batch)
            except DBAPIError as exc:
                if exc.connection_invalidated and not retried:
                    raise _DroppedConnection from exc
                raise
            return [
                pipeline.sent(outcome, prepared) if isinstance(outcome, Accepted) else outcome
                for prepared, outcome in zip(batch, outcomes, strict=True)
            ]
