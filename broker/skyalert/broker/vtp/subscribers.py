"""The VTP subscriber endpoint: every connection gets the VOEvents its address range grants.

Each connection has a bounded queue and its own writing task, so a slow peer only fills its
own queue; one that overflows it, leaves a write pending or leaves a VOEvent or ``iamalive``
unanswered longer than the answer timeout is dropped. Repeats of an IVORN are dropped per
connection (Kafka may deliver an alert twice after a crash).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from skyalert.broker.livefeed.live_alert import LiveAlert
from skyalert.broker.vtp import frames
from skyalert.broker.vtp.access import Grant, SubscriberPolicy, peer_address
from skyalert.broker.vtp.errors import FrameError

log = logging.getLogger(__name__)

#: IVORNs remembered per connection to drop repeats.
RECENT_IVORNS = 10_000
READ_CHUNK = 65_536


@dataclass(frozen=True)
class Limits:
    queue_size: int
    answer_timeout: float
    max_frame_bytes: int


class Subscriber:
    """One connection: what it may get, its queue, and what it has yet to answer."""

    def __init__(
        self, peer: str, grant: Grant, writer: asyncio.StreamWriter, limits: Limits
    ) -> None:
        self.peer = peer
        self.grant = grant
        self.writer = writer
        self.limits = limits
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(limits.queue_size)
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.unanswered = 0
        #: Since when (monotonic) the peer has been silent while owing an answer.
        self.owing_since = 0.0
        self.dropped: str | None = None

    def offer(self, alert: LiveAlert, framed: bytes) -> None:
        """A live alert of one of this range's topics, framed once for all (the server calls
        this)."""
        ivorn = alert.document.get("ivorn")
        if not self.grant.filter.matches(alert.document):
            return
        key = ivorn if isinstance(ivorn, str) else alert.id
        if key in self.seen:
            return
        self.seen[key] = None
        if len(self.seen) > RECENT_IVORNS:
            self.seen.popitem(last=False)
        self.send(framed)

    def send(self, framed: bytes) -> None:
        try:
            self.queue.put_nowait(framed)
        except asyncio.QueueFull:
            self.drop(f"{self.limits.queue_size} messages queued and not read")

    def overdue(self, now: float) -> bool:
        return self.unanswered > 0 and now - self.owing_since > self.limits.answer_timeout

    def drop(self, reason: str) -> None:
        if self.dropped is None:
            self.dropped = reason
            log.info("VTP subscriber %s dropped: %s", self.peer, reason)
            self.writer.transport.abort()  # at once: a peer that never reads must not hold it

    async def write_forever(self) -> None:
        while True:
            framed = await self.queue.get()
            if self.unanswered == 0:
                self.owing_since = time.monotonic()
            self.unanswered += 1
            self.writer.write(framed)
            transport = self.writer.transport
            if transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
                continue  # drain() would return at once; skip its timer (10k writes a burst)
            try:
                await asyncio.wait_for(self.writer.drain(), self.limits.answer_timeout)
            except TimeoutError:
                self.drop(f"a write waited more than {self.limits.answer_timeout:g} s")
                return
            except ConnectionError as exc:
                self.drop(f"connection lost ({exc})")
                return

    async def read_forever(self, reader: asyncio.StreamReader) -> None:
        """Take the peer's answers until it closes; a bad frame closes the connection."""
        frame_reader = frames.FrameReader(self.limits.max_frame_bytes)
        try:
            while data := await reader.read(READ_CHUNK):
                for payload in frame_reader.feed(data):
                    self._answer(frames.parse(payload))
            frame_reader.finish()
        except FrameError as exc:
            self.drop(str(exc))

    def _answer(self, message: frames.Transport | frames.Event) -> None:
        if isinstance(message, frames.Event):
            log.info("VTP subscriber %s sent a VOEvent; authors use the author port", self.peer)
            return
        if message.role == "nak":
            log.info("VTP subscriber %s refused %s: %s", self.peer, message.origin, message.result)
        elif message.role not in ("ack", "iamalive"):
            log.info("VTP subscriber %s sent a Transport role %r", self.peer, message.role)
            return
        self.unanswered = max(0, self.unanswered - 1)
        self.owing_since = time.monotonic()


class SubscriberServer:
    """Routes live VOEvents to the connections of their topic; keeps them alive."""

    def __init__(self, policy: SubscriberPolicy, ivorn: str, limits: Limits) -> None:
        self.policy = policy
        self.ivorn = ivorn
        self.limits = limits
        self.by_topic: dict[str, set[Subscriber]] = {}
        self.connected: set[Subscriber] = set()
        self.served = 0

    def dispatch(self, batch: list[LiveAlert]) -> None:
        for alert in batch:
            subscribers = tuple(self.by_topic.get(alert.topic, ()))
            if alert.xml is None or not subscribers:
                continue
            framed = frames.frame(alert.xml.encode("utf-8"))
            for subscriber in subscribers:
                subscriber.offer(alert, framed)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        grant = self.policy.grant_for(peer_address(host))
        if grant is None:
            log.info(
                "VTP subscriber %s refused: its address is in no SKYALERT_VTP_SUBSCRIBERS range",
                peer,
            )
            writer.transport.abort()
            return
        subscriber = Subscriber(peer, grant, writer, self.limits)
        self._add(subscriber)
        log.info(
            "VTP subscriber %s connected (%s: %d topics)", peer, grant.network, len(grant.topics)
        )
        writing = asyncio.create_task(subscriber.write_forever())
        try:
            await subscriber.read_forever(reader)
        except (ConnectionError, OSError) as exc:
            subscriber.drop(f"connection lost ({exc})")
        finally:
            writing.cancel()
            self._remove(subscriber)
            writer.transport.abort()
            log.info("VTP subscriber %s disconnected", peer)

    def _add(self, subscriber: Subscriber) -> None:
        self.served += 1
        self.connected.add(subscriber)
        for topic in subscriber.grant.topics:
            self.by_topic.setdefault(topic, set()).add(subscriber)

    def _remove(self, subscriber: Subscriber) -> None:
        self.connected.discard(subscriber)
        for topic in subscriber.grant.topics:
            self.by_topic.get(topic, set()).discard(subscriber)

    async def keep_alive(self, interval: float) -> None:
        """Send ``iamalive`` every ``interval`` s; drop whoever owes an answer too long."""
        tick = min(interval, self.limits.answer_timeout / 4, 1.0)
        next_beat = time.monotonic() + interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for subscriber in tuple(self.connected):
                if subscriber.overdue(now):
                    subscriber.drop(f"no answer for {self.limits.answer_timeout:g} s")
            if now >= next_beat:
                next_beat = now + interval
                framed = frames.frame(frames.iamalive(self.ivorn))
                for subscriber in tuple(self.connected):
                    subscriber.send(framed)
