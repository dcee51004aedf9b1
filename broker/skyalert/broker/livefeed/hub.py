"""Fan-out of the live feed: one Kafka consumer per web process feeds every socket it serves.

:class:`KafkaTail` reads every alert topic in a thread (assigned partitions, no consumer group
rebalancing, nothing committed: each process sees every alert from the moment it started) and
hands batches to the :class:`Hub` on the event loop. The hub routes each alert to the
:class:`Group` s of its topic: sockets with identical subscriptions share one group, so an alert
is filtered once per group and its text built once per format. A socket served by the ASGI app
has a bounded queue and its own sending task; a socket of the dedicated server (``direct``) gets
the alert's frame, encoded once per format, written straight into its transport once it is
live (what ``broadcast()`` does, without framing the same bytes again per socket). Either way a
slow socket only fills its own buffer: past its bound it is dropped with close code 4408 and
resumes from its last cursor.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from websockets.asyncio.connection import Connection
from websockets.protocol import State

from skyalert.broker.archive.alert_ids import lowest_id_at
from skyalert.broker.core.errors import KafkaUnavailable
from skyalert.broker.livefeed import metrics
from skyalert.broker.livefeed.live_alert import LiveAlert, from_kafka, server_frame
from skyalert.broker.livefeed.protocol import CloseCode, Since, Subscription
from skyalert.schemas.catalog import Topic

log = logging.getLogger(__name__)

#: Kafka may deliver an alert again (a re-publish after a crash): drop ids seen this recently.
RECENT_IDS: Final = 10_000
#: How often the tail looks for new partitions (a topic created after start-up).
REFRESH_SECONDS: Final = 5.0
#: What a partition of a topic created moments ago answers until its leader is known.
_LEADER_MOVING: Final = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
    }
)
#: Alerts a replaying subscriber may buffer from the live side before it counts as slow.
PENDING_LIMIT: Final = 10_000
#: Replayed ids this close to the switch-over are remembered to drop their live copies.
SWITCH_GRACE: Final = timedelta(seconds=60)

Batch = list[LiveAlert]


class KafkaTail:
    """A consumer thread that reads every alert topic from the moment it started."""

    def __init__(
        self, config: dict[str, Any], topics: Sequence[Topic], on_batch: Callable[[Batch], None]
    ) -> None:
        self._config = config
        self._topics = {topic.name: topic for topic in topics}
        self._on_batch = on_batch
        self._consumer: Consumer | None = None
        self._assigned: set[tuple[str, int]] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_ms = 0

    def start(self, timeout: float) -> None:
        """Position at the end of every partition, then read in a thread. Blocking."""
        self._consumer = Consumer(self._config)
        self._started_ms = int(time.time() * 1000)
        try:
            self._assign_new(timeout, at_end=True)
        except KafkaException as exc:
            self._consumer.close()
            raise KafkaUnavailable(
                f"the live feed cannot read Kafka at {self._config['bootstrap.servers']}: "
                f"{exc.args[0]}"
            ) from None
        self._thread = threading.Thread(target=self._run, name="skyalert-live-feed", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _assign_new(self, timeout: float, at_end: bool) -> None:
        """Assign partitions not yet read: at their end at start-up, later from start-up time.

        Offsets are looked up here, not left to ``OFFSET_END``, so an alert produced right after
        a subscriber was told ``subscribed`` cannot slip past an offset resolved later.
        """
        consumer = self._consumer
        assert consumer is not None
        metadata = consumer.list_topics(timeout=timeout)
        new: list[TopicPartition] = []
        for name in self._topics:
            found = metadata.topics.get(name)
            if found is None or found.error is not None:
                continue
            for partition, about in found.partitions.items():
                # A new topic's partition may have no leader yet: the next refresh takes it,
                # from start-up time, so nothing produced meanwhile is missed.
                if (name, partition) not in self._assigned and about.leader >= 0:
                    new.append(TopicPartition(name, partition, self._started_ms))
        if not new:
            return
        if not at_end:
            new = consumer.offsets_for_times(new, timeout=timeout)
        placed = [tp for tp in new if self._place(consumer, tp, timeout, at_end)]
        if placed:
            consumer.incremental_assign(placed)
            self._assigned.update((tp.topic, tp.partition) for tp in placed)

    @staticmethod
    def _place(consumer: Consumer, tp: TopicPartition, timeout: float, at_end: bool) -> bool:
        """Set where ``tp`` is read from; False while its leader is still moving (retry later)."""
        if not (at_end or tp.offset < 0):
            return True
        try:
            tp.offset = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)[1]
        except KafkaException as exc:
            if exc.args[0].code() not in _LEADER_MOVING:
                raise
            log.info(
                "%s[%d] is not ready (%s); taken at the next refresh", tp.topic, tp.partition, exc
            )
            return False
        return True

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_refresh = time.monotonic() + REFRESH_SECONDS
        try:
            while not self._stop.is_set():
                messages = self._next_messages(consumer)
                batch = [alert for message in messages if (alert := self._alert(message))]
                if batch:
                    self._on_batch(batch)
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + REFRESH_SECONDS
                    try:
                        self._assign_new(5.0, at_end=False)
                    except KafkaException as exc:
                        log.warning("live feed: cannot refresh Kafka partitions: %s", exc)
        except Exception:
            log.exception("live feed: the Kafka reader failed; restart the web process")
            raise
        finally:
            consumer.close()

    @staticmethod
    def _next_messages(consumer: Consumer) -> list[Any]:
        """As soon as one message is there, it and those right behind it (``consume`` alone
        waits for a full batch or its whole timeout: up to 0.2 s added to every alert)."""
        first = consumer.poll(0.2)
        if first is None:
            return []
        return [first, *consumer.consume(num_messages=499, timeout=0)]

    def _alert(self, message: Any) -> LiveAlert | None:
        if message.error() is not None:
            log.warning("live feed: Kafka error: %s", message.error())
            return None
        topic = self._topics.get(message.topic())
        alert = from_kafka(message, topic) if topic is not None else None
        if alert is None or alert.id in self._recent:
            return None
        self._recent[alert.id] = None
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)
        metrics.RECEIVED.labels(alert.topic).inc()
        return alert


class Sink(Protocol):
    """Where a subscriber's messages go: a WebSocket."""

    async def send_text(self, data: str) -> None: ...


class Tail(Protocol):
    """What the hub needs of its alert reader (a :class:`KafkaTail`)."""

    @property
    def alive(self) -> bool: ...

    def stop(self) -> None: ...


class Authority(Protocol):
    """The credential behind a socket, re-checked while the socket lives."""

    @property
    def key(self) -> Hashable:
        """Sockets with equal keys share one credential and one re-check."""

    def recheck(self, topics: Sequence[str]) -> tuple[CloseCode, str] | None:
        """None while still valid for ``topics``; else why to close. Blocking (database)."""


@dataclass(frozen=True)
class Closing:
    code: CloseCode
    reason: str


class Subscriber:
    """One socket's subscription: a bounded queue and the task that empties it.

    With ``direct`` (a ``websockets`` connection), the task only runs until the socket is live
    (the replay and what queued meanwhile are out); from then on its group writes the frames.
    """

    def __init__(
        self,
        sink: Sink,
        subscription: Subscription,
        authority: Authority,
        queue_size: int,
        direct: Connection | None = None,
    ) -> None:
        self.sink = sink
        self.subscription = subscription
        self.authority = authority
        self.queue_size = queue_size
        self._queue: asyncio.Queue[LiveAlert | str | None] | None = None
        self.direct = direct
        #: Frames go straight to ``direct`` (the queue is empty and stays unused).
        self.live_direct = False
        #: No replay (left) to wait for: a ``direct`` sender may hand over once its queue is out.
        self._caught_up = True
        self._watched: list[asyncio.Task[Any]] = []
        #: Live alerts held back while missed ones are replayed; None once live.
        self.pending: list[LiveAlert] | None = None
        #: Ids replayed near the switch-over, whose live copies must not go out again.
        self.replayed: set[str] = set()
        #: Alerts with ids up to this one are before where the subscriber asked to start (or
        #: were replayed): their late live copies are dropped.
        self.floor: str | None = None
        #: The last alert written to the socket.
        self.cursor: str | None = None
        self.closing: Closing | None = None
        self._sender: asyncio.Task[None] | None = None
        self._started = datetime.now(UTC)

    @property
    def queue(self) -> asyncio.Queue[LiveAlert | str | None]:
        """Alerts, protocol texts, and None: "the replay is over" for a ``direct`` sender.

        Made on first use: a live ``direct`` socket never needs one (3 KiB less per socket).
        """
        if self._queue is None:
            self._queue = asyncio.Queue(self.queue_size)
        return self._queue

    def start_replay(self) -> None:
        self.pending = []
        self._caught_up = False
        since = self.subscription.since
        if since.kind == "cursor":
            self.floor = since.cursor
        elif since.kind == "time":
            assert since.time is not None
            self.floor = lowest_id_at(since.time)

    def _covered(self, alert: LiveAlert) -> bool:
        """Replayed already, or older than where the subscription starts."""
        return alert.id in self.replayed or (self.floor is not None and alert.id <= self.floor)

    def offer(self, alert: LiveAlert, frame: bytes) -> bool:
        """A live alert its group's filter took; True if ``frame`` went straight to the socket."""
        if self.closing is not None or self._covered(alert):
            return False
        if self.live_direct:
            return self._write(frame, alert.id)
        if self.pending is not None:
            if len(self.pending) >= PENDING_LIMIT:
                self.drop_slow()
            else:
                self.pending.append(alert)
            return False
        try:
            self.queue.put_nowait(alert)
        except asyncio.QueueFull:
            self.drop_slow()
        return False

    def _write(self, frame: bytes, alert_id: str | None) -> bool:
        """Write a ready frame into the transport, unless ``queue_size`` such frames wait there.

        The connection's protocol has nothing of its own waiting (``websockets`` flushes it
        after every event), so the frame cannot cut into another; a closing socket gets none.
        """
        direct = self.direct
        assert direct is not None
        if direct.protocol.state is not State.OPEN:
            return False
        transport = direct.transport
        if transport.get_write_buffer_size() > self.queue_size * len(frame):
            self.drop_slow()
            return False
        transport.write(frame)
        if alert_id is not None:
            self.cursor = alert_id
        return True

    def control(self, text: str, frame: bytes | None = None) -> None:
        """A protocol message (ping, pong, error); skipped when the queue is full.

        ``frame``: ``text`` framed already (one ping frame serves every socket).
        """
        if self.closing is not None:
            return
        if self.live_direct:
            self._write(frame or server_frame(text), None)
        elif not self.queue.full():
            self.queue.put_nowait(text)

    async def replay(
        self, alerts: Sequence[LiveAlert], *, unpublished: set[str], start: str | None = None
    ) -> None:
        """Queue alerts from the archive, waiting for room (they are not live yet).

        ``start``: the oldest alert of a ``last`` N window; live copies of older ones are late.
        """
        if start is not None:
            self.floor = start
        floor = lowest_id_at(self._started - SWITCH_GRACE)
        for alert in alerts:
            if alert.id >= floor or alert.id in unpublished:
                self.replayed.add(alert.id)
            await self.queue.put(alert)

    async def go_live(self) -> None:
        """Queue the live alerts held back during the replay, minus those already replayed."""
        while self.pending:
            held, self.pending = self.pending, []
            for alert in held:
                if not self._covered(alert):
                    await self.queue.put(alert)
        self.pending = None
        self._caught_up = True
        if self.direct is not None:
            await self.queue.put(None)

    def drop_slow(self) -> None:
        if self.closing is None:
            metrics.DROPPED.inc()
            self.stop(
                CloseCode.SLOW_CONSUMER,
                f"too slow: queue full; resume with since={json.dumps(self.resume_point())}",
            )

    def resume_point(self) -> str | dict[str, Any]:
        """Where to resume to miss nothing: after the last alert sent, else where we began."""
        if self.cursor is not None:
            return {"cursor": self.cursor}
        since = self.subscription.since
        return (
            since.to_json() if since.kind != "now" else Since("time", time=self._started).to_json()
        )

    def stop(self, code: CloseCode, reason: str) -> None:
        """Stop sending (at once, even mid-wait on a full socket); the endpoint closes."""
        if self.closing is None:
            self.closing = Closing(code, reason)
            self.live_direct = False
            for task in (self._sender, *self._watched):
                if task is not None:
                    task.cancel()

    def watch(self, task: asyncio.Task[Any]) -> None:
        """Cancel ``task`` (the socket's reader) on :meth:`stop`: the sender may be gone."""
        self._watched.append(task)

    def start_sending(self) -> asyncio.Task[None]:
        self._sender = asyncio.create_task(self._send_loop())
        return self._sender

    def _queue_holds(self) -> bool:
        return self._queue is not None and not self._queue.empty()

    async def _send_loop(self) -> None:
        fmt = self.subscription.format
        while True:
            if self.direct is not None and self._caught_up and not self._queue_holds():
                self.live_direct = True  # from here the group writes; this task ends
                return
            item = await self.queue.get()
            if item is None:  # the replay is over: look again whether to hand over
                continue
            if isinstance(item, str):
                await self.sink.send_text(item)
                continue
            await self.sink.send_text(item.text(fmt))
            self.cursor = item.id
            metrics.delivered(item.topic).inc()
            if item.timestamp is not None:
                metrics.LATENCY.observe(max(0.0, time.time() - item.timestamp))


def group_key(subscription: Subscription) -> Hashable:
    """Subscriptions with equal keys get the same alerts in the same text."""
    rule = json.dumps(subscription.filter.to_json(), sort_keys=True, separators=(",", ":"))
    return (subscription.topics, rule, subscription.format, subscription.test)


class Group:
    """Sockets with one subscription: each alert is filtered once, its text built once."""

    def __init__(self, key: Hashable, subscription: Subscription) -> None:
        self.key = key
        self.subscription = subscription
        self.members: set[Subscriber] = set()

    def deliver(self, alert: LiveAlert) -> None:
        """Filter once, then one pass: each live socket gets the frame as it comes up."""
        if not self.subscription.wants(alert.document, alert.test):
            return
        frame = alert.frame(self.subscription.format)
        written = sum(member.offer(alert, frame) for member in tuple(self.members))
        if written:
            metrics.delivered(alert.topic).inc(written)
            if alert.timestamp is not None:
                metrics.LATENCY.observe(max(0.0, time.time() - alert.timestamp))


class Hub:
    """Routes live alerts to the subscribers of their topic; pings and re-checks them."""

    def __init__(
        self,
        start_tail: Callable[[Callable[[Batch], None]], Tail],
        *,
        ping_interval: float,
        recheck_interval: float,
    ) -> None:
        self._start_tail = start_tail
        self._ping_interval = ping_interval
        self._recheck_interval = recheck_interval
        self._tail: Tail | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._by_topic: dict[str, set[Group]] = {}
        self._groups: dict[Hashable, Group] = {}
        self._all: set[Subscriber] = set()

    async def ready(self) -> None:
        """Start the Kafka reader on first use (web processes without sockets need none)."""
        async with self._lock:
            if self._tail is not None:
                return
            loop = asyncio.get_running_loop()

            def on_batch(batch: Batch) -> None:
                loop.call_soon_threadsafe(self.dispatch, batch)

            self._tail = await asyncio.to_thread(self._start_tail, on_batch)
            self._tasks = [
                asyncio.create_task(self._ping_forever()),
                asyncio.create_task(self._recheck_forever()),
            ]

    @property
    def groups(self) -> int:
        return len(self._groups)

    @property
    def sockets(self) -> int:
        return len(self._all)

    def add(self, subscriber: Subscriber) -> None:
        self._all.add(subscriber)
        key = group_key(subscriber.subscription)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = Group(key, subscriber.subscription)
            for topic in subscriber.subscription.topics:
                self._by_topic.setdefault(topic, set()).add(group)
        group.members.add(subscriber)
        metrics.SOCKETS.set(len(self._all))

    def remove(self, subscriber: Subscriber) -> None:
        self._all.discard(subscriber)
        group = self._groups.get(group_key(subscriber.subscription))
        if group is not None:
            group.members.discard(subscriber)
            if not group.members:
                del self._groups[group.key]
                for topic in group.subscription.topics:
                    self._by_topic.get(topic, set()).discard(group)
        metrics.SOCKETS.set(len(self._all))

    def dispatch(self, batch: Batch) -> None:
        for alert in batch:
            for group in tuple(self._by_topic.get(alert.topic, ())):
                group.deliver(alert)

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            text = json.dumps({"type": "ping", "time": datetime.now(UTC).isoformat()})
            frame = server_frame(text)
            for subscriber in tuple(self._all):
                subscriber.control(text, frame)

    async def _recheck_forever(self) -> None:
        while True:
            await asyncio.sleep(self._recheck_interval)
            if self._tail is not None and not self._tail.alive:
                self._restart_after_failure()
                return
            # One look-up per credential and topic set, however many sockets share them.
            groups: dict[tuple[Hashable, tuple[str, ...]], list[Subscriber]] = {}
            for subscriber in self._all:
                key = (subscriber.authority.key, subscriber.subscription.topics)
                groups.setdefault(key, []).append(subscriber)
            for members in groups.values():
                await self._recheck(members)

    async def _recheck(self, members: list[Subscriber]) -> None:
        first = members[0]
        try:
            verdict = await asyncio.to_thread(first.authority.recheck, first.subscription.topics)
        except Exception:  # the database may be briefly away: keep serving, try again
            log.exception("live feed: cannot re-check a credential")
            return
        if verdict is not None:
            for member in members:
                member.stop(*verdict)

    def _restart_after_failure(self) -> None:
        """The Kafka reader died: close every socket (clients resume), start anew on demand."""
        self._tail = None
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        for subscriber in tuple(self._all):
            subscriber.stop(CloseCode.INTERNAL_ERROR, "the live feed lost Kafka; reconnect, resume")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for subscriber in tuple(self._all):
            subscriber.stop(CloseCode.GOING_AWAY, "the server is shutting down; reconnect")
        if self._tail is not None:
            await asyncio.to_thread(self._tail.stop)
