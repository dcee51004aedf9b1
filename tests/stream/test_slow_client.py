"""A client that stops reading is dropped without holding up the others, and can resume."""

from __future__ import annotations

import socket
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import serving
from skyalert.broker.core.settings import Settings
from support.feed_servers import feed_servers
from support.stream import (
    Publisher,
    alerts,
    guano,
    mine,
    open_feed,
    own_loop,
    subscribe,
    until_closed,
)

TOPIC = "gcn.notices.swift.bat.guano"
#: Big, incompressible alerts fill the buffers of a client that stopped reading in a few
#: messages.
PADDING = 256 * 1024


def kernel_send_buffer() -> int:
    """The most a socket's kernel send buffer grows to (Linux), which the stall must exceed."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


#: Enough alerts to overflow the kernel buffers plus the server's queue of 4, with margin.
COUNT = (kernel_send_buffer() + 2 * 1024 * 1024) // PADDING + 8


@pytest.fixture(scope="module", params=["web app", "two feed processes"])
def small_queue_app(
    request: pytest.FixtureRequest, settings: Settings, stream_topics: None
) -> Iterator[str]:
    """A feed holding at most 4 alerts per socket (queued, or in a direct socket's buffer)."""
    small = settings.model_copy(update={"stream_queue_size": 4})
    if request.param == "web app":
        with serving(small) as url:
            yield url
        return
    with feed_servers(small, 2) as (url, _servers):
        yield url


def tiny_socket(app_url: str) -> socket.socket:
    """A client socket with a small receive buffer, so that a stalled reader stalls soon."""
    address = urlsplit(app_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((address.hostname, address.port))
    return sock


@own_loop
async def test_slow_client_is_dropped_and_the_fast_one_keeps_pace(
    small_queue_app: str, reader_token: str, publisher: Publisher
) -> None:
    tag = f"slow{uuid.uuid4().hex[:10]}"
    request = {"topics": [TOPIC], "filter": mine(tag)}
    published: list[str] = []
    latency: dict[str, list[float]] = {"alone": [], "beside a stalled client": []}
    async with open_feed(small_queue_app, reader_token, max_size=None) as fast:
        await subscribe(fast, **request)
        for _ in range(5):
            started = time.perf_counter()
            published.append(await publisher.json(guano(tag, padding=PADDING)))
            assert [m["id"] for m in await alerts(fast, 1)] == published[-1:]
            latency["alone"].append(time.perf_counter() - started)
        async with open_feed(
            small_queue_app, reader_token, sock=tiny_socket(small_queue_app), max_queue=1
        ) as slow:
            await subscribe(slow, **request)
            # The slow client reads nothing from here on; the fast one gets every alert before
            # the next is published, so it is never waiting on the slow one.
            for _ in range(COUNT):
                started = time.perf_counter()
                published.append(await publisher.json(guano(tag, padding=PADDING)))
                assert [m["id"] for m in await alerts(fast, 1)] == published[-1:]
                latency["beside a stalled client"].append(time.perf_counter() - started)
            messages, close = await until_closed(slow)
    received = [m["id"] for m in messages if m["type"] == "alert"]
    print({k: f"median {statistics.median(v) * 1000:.1f} ms" for k, v in latency.items()})
    assert close.code == 4408
    assert "resume with since=" in close.reason
    later = published[5:]
    assert 0 < len(received) < COUNT
    assert received == later[: len(received)]
    # It resumes from its last cursor and misses nothing.
    async with open_feed(small_queue_app, reader_token) as again:
        await subscribe(again, **request, since={"cursor": received[-1]})
        rest = [m["id"] for m in await alerts(again, COUNT - len(received))]
    assert rest == later[len(received) :]
