"""The hub and subscribers alone, behind the socket seam we own: routing, switch-over, drops."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence

from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.livefeed.hub import Hub, Subscriber
from skyalert.broker.livefeed.live_alert import LiveAlert
from skyalert.broker.livefeed.protocol import NOW, CloseCode, Since, Subscription
from skyalert.client.filters import Filter, compile_filter
from support.stream import own_loop

TOPIC = "igwn.gwalert"


class Sink:
    """Collects what would go to a socket; ``block`` makes it stall like a client not reading."""

    def __init__(self, block: bool = False) -> None:
        self.texts: list[str] = []
        self.block = block

    async def send_text(self, data: str) -> None:
        if self.block:
            await asyncio.Event().wait()
        self.texts.append(data)

    def got(self, alert_id: str) -> bool:
        return any(alert_id in text for text in self.texts)


class Everyone:
    key = "everyone"

    def recheck(self, topics: Sequence[str]) -> tuple[CloseCode, str] | None:
        return None


class Tail:
    alive = True

    def stop(self) -> None:
        self.alive = False


def alert(test: bool = False, ra: float = 10.0) -> LiveAlert:
    return LiveAlert(TOPIC, new_alert_id(), test, {"ra": ra}, None)


def subscription(since: Since = NOW, filter: Filter | None = None) -> Subscription:
    return Subscription(
        topics=(TOPIC,),
        filter=compile_filter(None) if filter is None else filter,
        format="json",
        test=False,
        since=since,
    )


async def settle(predicate: Callable[[], bool]) -> None:
    """Let the event loop run until ``predicate()`` holds (or fail after a few seconds)."""
    deadline = asyncio.get_running_loop().time() + 5
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.001)


async def started_hub(tail: Tail) -> Hub:
    hub = Hub(lambda on_batch: tail, ping_interval=3600, recheck_interval=0.01)
    await hub.ready()
    return hub


@own_loop
async def test_routing_filter_and_test_flag() -> None:
    hub = await started_hub(Tail())
    plain, picky = Sink(), Sink()
    narrow = subscription(filter=compile_filter({"field": "ra", "op": "gt", "value": 50}))
    for sink, wanted in ((plain, subscription()), (picky, narrow)):
        subscriber = Subscriber(sink, wanted, Everyone(), 10)
        hub.add(subscriber)
        subscriber.start_sending()
    drill, west, east = alert(test=True), alert(ra=10), alert(ra=80)
    hub.dispatch([drill, west, east, LiveAlert("igwn.other", new_alert_id(), False, {}, None)])
    await settle(lambda: len(plain.texts) == 2 and len(picky.texts) == 1)
    assert [west.id in plain.texts[0], east.id in plain.texts[1]] == [True, True]
    assert east.id in picky.texts[0]
    await hub.close()


@own_loop
async def test_switch_over_drops_live_copies_of_replayed_alerts() -> None:
    hub = await started_hub(Tail())
    sink = Sink()
    subscriber = Subscriber(sink, subscription(Since("last", last=2)), Everyone(), 10)
    subscriber.start_replay()
    hub.add(subscriber)
    subscriber.start_sending()
    old, both, new = alert(), alert(), alert()
    hub.dispatch([both, new])  # live while the archive is read: held back
    await subscriber.replay([old, both], unpublished=set())
    await subscriber.go_live()
    await settle(lambda: len(sink.texts) == 3)
    # Each alert once, in order (an alert's id appears twice in its message: id and cursor).
    assert [text.count(a.id) for text, a in zip(sink.texts, [old, both, new], strict=True)] == [
        2,
        2,
        2,
    ]
    await hub.close()


@own_loop
async def test_a_stalled_socket_is_dropped_and_others_keep_receiving() -> None:
    hub = await started_hub(Tail())
    fast, slow = Sink(), Sink(block=True)
    quick = Subscriber(fast, subscription(), Everyone(), 2)
    stuck = Subscriber(slow, subscription(), Everyone(), 2)
    for subscriber in (quick, stuck):
        hub.add(subscriber)
        subscriber.start_sending()
    sent = [alert() for _ in range(10)]
    for item in sent:
        hub.dispatch([item])
        await settle(functools.partial(fast.got, item.id))
    assert stuck.closing is not None
    assert stuck.closing.code is CloseCode.SLOW_CONSUMER
    # Nothing got through, so it resumes from when it subscribed and misses nothing.
    assert 'resume with since={"time": "' in stuck.closing.reason
    assert quick.closing is None
    assert len(fast.texts) == 10
    await hub.close()


@own_loop
async def test_a_dead_kafka_reader_closes_sockets_so_clients_resume() -> None:
    tail = Tail()
    hub = await started_hub(tail)
    subscriber = Subscriber(Sink(), subscription(), Everyone(), 2)
    hub.add(subscriber)
    tail.alive = False
    await settle(lambda: subscriber.closing is not None)
    assert subscriber.closing is not None
    assert subscriber.closing.code is CloseCode.INTERNAL_ERROR
    await hub.close()


@own_loop
async def test_late_live_copies_older_than_the_start_are_dropped() -> None:
    hub = await started_hub(Tail())
    sink = Sink()
    subscriber = Subscriber(sink, subscription(Since("last", last=1)), Everyone(), 10)
    subscriber.start_replay()
    hub.add(subscriber)
    subscriber.start_sending()
    before, newest, live = alert(), alert(), alert()
    hub.dispatch([before])  # published before the window, read late from Kafka
    await subscriber.replay([newest], unpublished=set(), start=newest.id)
    await subscriber.go_live()
    hub.dispatch([before, live])
    await settle(lambda: len(sink.texts) == 2)
    assert [newest.id in sink.texts[0], live.id in sink.texts[1]] == [True, True]
    await hub.close()


class CountingFilter:
    """A filter that counts how often it is asked (it lets everything through)."""

    def __init__(self) -> None:
        self.calls = 0

    def matches(self, document: object) -> bool:
        self.calls += 1
        return True

    def to_json(self) -> object:
        return {"field": "ra", "op": "exists"}


@own_loop
async def test_identical_subscriptions_share_one_group_and_one_filter_run() -> None:
    hub = await started_hub(Tail())
    counting = CountingFilter()
    shared = subscription(filter=counting)  # type: ignore[arg-type]
    sinks = [Sink() for _ in range(5)]
    members = [Subscriber(sink, shared, Everyone(), 10) for sink in sinks]
    later = Subscriber(Sink(), subscription(since=Since("last", last=1)), Everyone(), 10)
    other = Subscriber(Sink(), subscription(), Everyone(), 10)
    for subscriber in (*members, other):
        hub.add(subscriber)
        subscriber.start_sending()
    hub.add(later)
    # ``since`` is per socket: it does not split a group; a different filter does.
    assert hub.groups == 2
    sent = alert()
    hub.dispatch([sent])
    await settle(lambda: all(sink.got(sent.id) for sink in sinks))
    assert counting.calls == 1
    assert len({sink.texts[0] for sink in sinks}) == 1
    for subscriber in (*members, other, later):
        hub.remove(subscriber)
    assert hub.groups == 0
    await hub.close()
