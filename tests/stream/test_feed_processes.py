"""The feed's own server: two processes on one port both serve, each from its own Kafka tail."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from skyalert.broker.core.settings import Settings
from support.feed_servers import feed_servers
from support.processes import Running
from support.stream import Publisher, alerts, guano, mine, open_feed, own_loop, subscribe

TOPIC = "gcn.notices.swift.bat.guano"
SOCKETS = 24


def established(pid: int, port: int) -> int:
    """How many TCP connections to local ``port`` the process ``pid`` holds (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in inodes:
                count += 1
    return count


@pytest.fixture(scope="module")
def pair(settings: Settings, stream_topics: None) -> Iterator[tuple[str, list[Running]]]:
    with feed_servers(settings, 2) as found:
        yield found


@own_loop
async def test_two_processes_share_the_port_and_each_delivers_every_alert(
    pair: tuple[str, list[Running]], reader_token: str, publisher: Publisher
) -> None:
    url, servers = pair
    port = urlsplit(url).port
    assert port is not None
    tag = f"pair{uuid.uuid4().hex[:10]}"
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(open_feed(url, reader_token)) for _ in range(SOCKETS)
        ]
        await asyncio.gather(*(subscribe(ws, topics=[TOPIC], filter=mine(tag)) for ws in sockets))
        pids = [server.process.pid for server in servers]
        held = [established(pid, port) for pid in pids]
        published = [await publisher.json(guano(tag)) for _ in range(3)]
        got = await asyncio.gather(*(alerts(ws, 3) for ws in sockets))
    # The kernel spread the sockets over both processes (SO_REUSEPORT), and both delivered.
    assert sum(held) == SOCKETS
    assert all(count > 0 for count in held), held
    assert all([m["id"] for m in messages] == published for messages in got)
    # Each process rendered the same messages (one text per alert and format, whoever sends it).
    assert all(messages == got[0] for messages in got)


def test_other_paths_are_not_found(pair: tuple[str, list[Running]]) -> None:
    url, _servers = pair
    response = httpx.get(f"{url}/api/v1/topics", timeout=10)
    assert response.status_code == 404
    assert "/api/v1/stream" in response.text
