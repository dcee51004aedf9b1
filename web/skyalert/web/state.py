"""What the web app shares between requests, built once at start-up from the settings."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from skyalert.auth.context import AuthContext
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.pipeline import IngestPipeline
from skyalert.broker.ingest.writer import ArchiveWriter
from skyalert.broker.kafka.admin import message_counts
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.kafka.topic_rates import TopicRate, topic_rates
from skyalert.schemas.catalog import Catalog, load_catalog

T = TypeVar("T")

#: Message counts change slowly; a short cache keeps pages fast under load.
COUNTS_TTL = 2.0
#: Rates need two offset look-ups per partition; they move even more slowly.
RATES_TTL = 10.0


_CONSUMER_ONLY = frozenset(
    {"group.id", "auto.offset.reset", "enable.auto.commit", "enable.partition.eof"}
)


@dataclass
class KafkaProbe:
    """A metadata-only Kafka client: message counts and the readiness check."""

    config: dict[str, Any]
    _consumer: Consumer | None = None
    _admin: AdminClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counts: tuple[float, dict[str, int]] = (0.0, {})
    _rates: tuple[float, dict[str, TopicRate]] = (0.0, {})

    def _client(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(self.config)
        return self._consumer

    def admin(self) -> AdminClient:
        """One admin client per process: building one costs a connection and a metadata trip."""
        with self._lock:
            if self._admin is None:
                self._admin = AdminClient(
                    {k: v for k, v in self.config.items() if k not in _CONSUMER_ONLY}
                )
            return self._admin

    def cluster_id(self, timeout: float = 2.0) -> str:
        with self._lock:
            metadata = self._client().list_topics(timeout=timeout)
        if not metadata.brokers:
            raise KafkaException("no broker answered")
        return str(metadata.cluster_id)

    def counts(self, topics: list[str]) -> dict[str, int] | None:
        """Retained messages per topic, or None when Kafka does not answer."""
        stamp, cached = self._counts
        if time.monotonic() - stamp < COUNTS_TTL:
            return cached
        try:
            with self._lock:
                counts = message_counts(self._client(), topics, timeout=2.0)
        except KafkaException:
            return None
        self._counts = (time.monotonic(), counts)
        return counts

    def rates(self, retention_days: dict[str, float]) -> dict[str, TopicRate] | None:
        """Alerts per day of each topic (keys of ``retention_days``), None if Kafka is down."""
        stamp, cached = self._rates
        if time.monotonic() - stamp < RATES_TTL:
            return cached
        try:
            with self._lock:
                rates = topic_rates(self._client(), retention_days, retention_days, timeout=2.0)
        except KafkaException:
            return None
        self._rates = (time.monotonic(), rates)
        return rates

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
            self._admin = None  # AdminClient has no close(); dropping it frees it


@dataclass
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    catalog: Catalog
    kafka: KafkaProbe
    auth: AuthContext
    ingest: IngestPipeline
    #: HTTP publishing's archive writes, batched across concurrent requests.
    writer: ArchiveWriter
    #: The workers a deployment runs (the registry in ``skyalert.broker.run.workers``).
    workers: tuple[str, ...] = ()

    @classmethod
    def build(cls, settings: Settings, workers: tuple[str, ...] = ()) -> AppState:
        engine = make_engine(settings)
        config = consumer_config(
            settings, group_id="skyalert-web-probe", log_level=0, socket_timeout_ms=2000
        )
        sessions = make_sessionmaker(engine)
        catalog = load_catalog()
        auth = AuthContext.build(settings, sessions, catalog)
        auth.tokens.start()
        auth.limits.start()
        ingest = IngestPipeline.build(settings, sessions, catalog)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            catalog=catalog,
            kafka=KafkaProbe(config),
            auth=auth,
            ingest=ingest,
            writer=ArchiveWriter(ingest),
            workers=workers,
        )

    async def read(self, work: Callable[[Session], T]) -> T:
        """``work`` with a database session, in a worker thread (the drivers block)."""

        def run() -> T:
            with self.sessions() as session:
                return work(session)

        return await run_in_threadpool(run)

    async def write(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction, committed if it returns, in a worker thread."""

        def run() -> T:
            with self.sessions.begin() as session:
                return work(session)

        return await run_in_threadpool(run)

    def close(self) -> None:
        self.auth.tokens.close()
        self.auth.limits.close()
        self.kafka.close()
        self.writer.close()
        self.ingest.close()
        self.engine.dispose()


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.skyalert
    return state


State = Annotated[AppState, Depends(get_state)]
