"""``skyalert worker vtp``: the VTP subscriber and author ports, fed by one Kafka reader.

Nothing that matters lives here: alerts come from Kafka (read from the moment the worker
started) and go to the archive through the ingest pipeline, so a restart loses no state;
subscribers reconnect (pygcn and Comet do by themselves).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.core.errors import KafkaUnavailable
from skyalert.broker.core.liveness import Liveness
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.pipeline import IngestPipeline
from skyalert.broker.kafka.config import consumer_config
from skyalert.broker.livefeed.hub import Batch, KafkaTail
from skyalert.broker.vtp.access import SubscriberPolicy
from skyalert.broker.vtp.authors import AuthorServer
from skyalert.broker.vtp.subscribers import Limits, SubscriberServer
from skyalert.schemas.catalog import Catalog
from skyalert.schemas.formats import ContentType

log = logging.getLogger(__name__)

LIVENESS_SECONDS = 10.0
#: How often the loop looks at the stop event.
STOP_POLL = 0.2
#: Pending connections the kernel may hold: many subscribers reconnect at once after a restart.
BACKLOG = 1024
#: Seconds between attempts to start reading Kafka.
START_RETRY = 0.5


@dataclass(frozen=True)
class Ports:
    subscribers: int
    authors: int


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.vtp_tls_cert is None or settings.vtp_tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.vtp_tls_cert, settings.vtp_tls_key)
    return context


class VtpWorker:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], catalog: Catalog
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        limits = Limits(
            queue_size=settings.vtp_queue_size,
            answer_timeout=settings.vtp_answer_timeout,
            max_frame_bytes=settings.ingest_max_bytes,
        )
        policy = SubscriberPolicy(settings.vtp_subscribers, catalog)  # bad ranges stop us here
        self.subscribers = SubscriberServer(policy, settings.vtp_ivorn, limits)
        self.pipeline = IngestPipeline.build(settings, sessions, catalog)
        self.authors = AuthorServer(
            self.pipeline,
            sessions,
            settings.vtp_authors,
            settings.vtp_author_topics,
            settings.vtp_ivorn,
            settings.ingest_max_bytes,
        )

    def _tail(self, on_batch: Callable[[Batch], None]) -> KafkaTail:
        config = consumer_config(
            self.settings, group_id="skyalert-vtp", log_level=0, fetch_wait_max_ms=50
        )
        topics = [t for t in self.catalog.alert_topics if t.content_type is ContentType.VOEVENT]
        # Topics just created (``skyalert up`` syncs them right before) may lack a leader yet.
        deadline = time.monotonic() + self.settings.kafka_timeout
        while True:
            tail = KafkaTail(config, topics, on_batch)
            try:
                tail.start(timeout=self.settings.kafka_timeout)
            except KafkaUnavailable as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("%s; trying again", exc)
                time.sleep(START_RETRY)
            else:
                return tail

    async def serve(
        self, stop: threading.Event, live: Liveness | None, ready: Callable[[Ports], None]
    ) -> None:
        """Read Kafka, open both ports, call ``ready``; return once ``stop`` is set."""
        loop = asyncio.get_running_loop()

        def on_batch(batch: Batch) -> None:
            loop.call_soon_threadsafe(self.subscribers.dispatch, batch)

        tail = await asyncio.to_thread(self._tail, on_batch)  # at the end: then take sockets
        host = self.settings.vtp_host or self.settings.host
        tls = tls_context(self.settings)
        servers = [
            await asyncio.start_server(
                self.subscribers.handle, host, self.settings.vtp_port, ssl=tls, backlog=BACKLOG
            ),
            await asyncio.start_server(
                self.authors.handle, host, self.settings.vtp_author_port, ssl=tls, backlog=BACKLOG
            ),
        ]
        keep_alive = asyncio.create_task(
            self.subscribers.keep_alive(self.settings.vtp_iamalive_interval)
        )
        ready(Ports(*(server.sockets[0].getsockname()[1] for server in servers)))
        try:
            await self._watch(tail, stop, live)
        finally:
            keep_alive.cancel()
            for server in servers:
                server.close()
            for subscriber in tuple(self.subscribers.connected):
                subscriber.drop("the server is shutting down")
            await asyncio.to_thread(tail.stop)
            self.pipeline.close()

    async def _watch(self, tail: KafkaTail, stop: threading.Event, live: Liveness | None) -> None:
        next_beat = 0.0
        while not await asyncio.to_thread(stop.wait, STOP_POLL):
            if not tail.alive:
                raise KafkaUnavailable("the VTP worker lost its Kafka reader; it will restart")
            now = time.monotonic()
            if live is not None and now >= next_beat:
                next_beat = now + LIVENESS_SECONDS
                connected = len(self.subscribers.connected)
                await asyncio.to_thread(live.beat, f"{connected} VTP subscribers")
        if live is not None:
            await asyncio.to_thread(live.gone)


def run_vtp(
    settings: Settings,
    sessions: sessionmaker[Session],
    catalog: Catalog,
    stop: threading.Event,
    *,
    live: Liveness | None = None,
    ready: Callable[[Ports], None] | None = None,
) -> int:
    """Serve until ``stop`` is set; returns how many subscribers were served in all."""
    worker = VtpWorker(settings, sessions, catalog)

    def announce(ports: Ports) -> None:
        log.info("VTP subscribers on port %d, authors on port %d", ports.subscribers, ports.authors)
        if ready is not None:
            ready(ports)

    asyncio.run(worker.serve(stop, live, announce))
    return worker.subscribers.served
