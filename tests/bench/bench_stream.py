"""Live-feed fan-out benchmark: skyalert's /api/v1/stream against a bare websockets broadcast.

Run: ``.venv/bin/python tests/bench/bench_stream.py [--sizes 1000,5000,10000]``.

Both servers run in their own process and serve the same number of sockets, held open by
client processes (several, so the clients are not the bottleneck); both send the same alert
text. skyalert: the real app (`skyalert serve`, real Apache Kafka, real tokens), alerts produced
to Kafka with the headers ingest sets; latency runs from just before the produce to the moment
a client has the message. Baseline: a `websockets` server calling ``broadcast()``; latency runs
from just before that call. Memory per socket is the server's RSS growth over its idle RSS,
divided by the sockets connected. Sizes grow within one server (1,000 then 4,000 more ...).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

ALERTS_PER_SIZE = 10
CLIENT_PROCESSES = 3
TOPIC = "gcn.notices.swift.bat.guano"


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def alert_document(sent: float) -> dict[str, Any]:
    from support.gcn_examples import guano_document

    document = guano_document()
    document["additional_info"] = f"bench {sent:.6f} "
    return document


def sent_time(text: str) -> float:
    start = text.index("bench ") + 6
    return float(text[start : text.index(" ", start)])


# --- client processes --------------------------------------------------------------------


async def client_main(url: str, token: str | None) -> None:
    """Hold sockets; commands on stdin (connect N / collect / quit), answers on stdout."""
    from websockets.asyncio.client import connect

    raise_fd_limit()
    latencies: list[float] = []
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    headers = {"Authorization": f"Bearer {token}"} if token else None
    subscribe = json.dumps({"type": "subscribe", "topics": [TOPIC]})

    async def open_one() -> None:
        ws = await connect(
            url,
            additional_headers=headers,
            compression=None,
            open_timeout=120,
            ping_interval=None,
            max_size=None,
        )
        await ws.send(subscribe)
        while json.loads(await ws.recv())["type"] != "subscribed":
            pass
        sockets.append(ws)
        readers.append(asyncio.create_task(read(ws)))

    async def read(ws: Any) -> None:
        async for text in ws:
            if '"type":"alert"' in text:
                latencies.append(time.time() - sent_time(text))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gate = asyncio.Semaphore(50)

    async def gated() -> None:
        async with gate:
            await open_one()

    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "connect":
            await asyncio.gather(*(gated() for _ in range(command["count"])))
            answer: dict[str, Any] = {"connected": len(sockets)}
        elif command["cmd"] == "collect":
            answer = {"latencies": latencies[:]}
            latencies.clear()
        else:
            break
        print(json.dumps(answer), flush=True)
    for task in readers:
        task.cancel()


class Clients:
    def __init__(self, url: str, token: str | None) -> None:
        arguments = [sys.executable, __file__, "--client", url, "--token", token or ""]
        self.procs = [
            subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(CLIENT_PROCESSES)
        ]

    def ask(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for proc, command in zip(self.procs, commands, strict=True):
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(command) + "\n")
            proc.stdin.flush()
        answers = []
        for proc in self.procs:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("a client process died (see its output above)")
            answers.append(json.loads(line))
        return answers

    def connect(self, more: int) -> int:
        shares = [more // len(self.procs)] * len(self.procs)
        shares[0] += more - sum(shares)
        answers = self.ask([{"cmd": "connect", "count": share} for share in shares])
        return sum(answer["connected"] for answer in answers)

    def collect(self) -> list[float]:
        answers = self.ask([{"cmd": "collect"}] * len(self.procs))
        return [value for answer in answers for value in answer["latencies"]]

    def close(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for proc in self.procs:
            proc.wait(30)


# --- the bare websockets baseline ---------------------------------------------------------


async def baseline_main(port: int) -> None:
    """A bare websockets server: answers subscribe, broadcasts on each stdin line."""
    from websockets.asyncio.server import broadcast, serve

    from skyalert.broker.livefeed.live_alert import LiveAlert

    raise_fd_limit()
    connections: set[Any] = set()
    subscribed = json.dumps({"type": "subscribed", "topics": [TOPIC]})

    async def handler(ws: Any) -> None:
        await ws.recv()
        await ws.send(subscribed)
        connections.add(ws)
        try:
            await ws.wait_closed()
        finally:
            connections.discard(ws)

    async with serve(
        handler,
        "127.0.0.1",
        port,
        compression=None,
        backlog=4096,
        ping_interval=None,
        max_size=None,
    ):
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while await reader.readline():
            sent = time.time()
            # The same text skyalert sends: an alert message rendered the same way.
            text = LiveAlert(TOPIC, "0" * 26, False, alert_document(sent), None).text("json")
            broadcast(connections, text)
            print("sent", flush=True)


# --- the runs -----------------------------------------------------------------------------


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def measure(
    name: str, pid: int, clients: Clients, sizes: list[int], publish: Any, spacing: float
) -> dict[int, dict[str, float]]:
    idle = rss_bytes(pid)
    results: dict[int, dict[str, float]] = {}
    connected = 0
    for size in sizes:
        started = time.monotonic()
        connected = clients.connect(size - connected)
        took = time.monotonic() - started
        time.sleep(1.0)
        memory = (rss_bytes(pid) - idle) / connected
        clients.collect()
        for _ in range(ALERTS_PER_SIZE):
            publish()
            time.sleep(spacing * max(1.0, size / 2000))
        time.sleep(2.0)
        values = clients.collect()
        p50, p99 = percentiles(values) if values else (float("nan"), float("nan"))
        results[size] = {
            "p50_ms": p50 * 1000,
            "p99_ms": p99 * 1000,
            "kib_per_socket": memory / 1024,
            "received": len(values),
            "expected": size * ALERTS_PER_SIZE,
            "connect_s": took,
        }
        print(
            f"  {name:9} {size:>6} sockets: p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms"
            f"  {memory / 1024:6.1f} KiB/socket  {len(values)}/{size * ALERTS_PER_SIZE} "
            f"delivered  (connected in {took:.1f} s)",
            flush=True,
        )
    return results


def run_skyalert(sizes: list[int], work: Path) -> dict[int, dict[str, float]]:
    from confluent_kafka import Producer

    from support.auth import get_token, make_credential, make_user
    from support.bench import alert_headers, served_app

    with served_app(work) as app:
        settings = app.settings
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 0})
        token = get_token(app.url, *make_credential(settings, make_user(settings)))
        clients = Clients(app.url.replace("http", "ws") + "/api/v1/stream", token)

        def publish() -> None:
            alert_id, headers = alert_headers()
            sent = time.time()
            producer.produce(
                TOPIC,
                json.dumps(alert_document(sent)).encode(),
                key=alert_id.encode(),
                headers=headers,
            )
            producer.flush(10)

        try:
            return measure("skyalert", app.pid, clients, sizes, publish, spacing=1.0)
        finally:
            clients.close()


def run_baseline(sizes: list[int]) -> dict[int, dict[str, float]]:
    from skyalert.broker.kafka.kafka_node import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--baseline", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    assert server.stdout.readline().strip() == "ready"
    clients = Clients(f"ws://127.0.0.1:{port}", None)

    def publish() -> None:
        assert server.stdin is not None
        assert server.stdout is not None
        server.stdin.write("broadcast\n")
        server.stdin.flush()
        server.stdout.readline()

    try:
        return measure("websockets", server.pid, clients, sizes, publish, spacing=1.0)
    finally:
        clients.close()
        server.stdin.close()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        asyncio.run(client_main(args.client, args.token or None))
        return
    if args.baseline:
        asyncio.run(baseline_main(args.baseline))
        return
    raise_fd_limit()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(
        f"fan-out of one ~1 KiB alert, {ALERTS_PER_SIZE} alerts per size, "
        f"{CLIENT_PROCESSES} client processes, {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix=f"bench-stream-{uuid.uuid4().hex[:6]}-") as work:
        ours = run_skyalert(sizes, Path(work))
    base = run_baseline(sizes)
    print("\nsockets  skyalert p50/p99 ms   websockets p50/p99 ms   ratio p50/p99   KiB/socket")
    for size in sizes:
        a, b = ours[size], base[size]
        print(
            f"{size:>7}  {a['p50_ms']:8.1f} /{a['p99_ms']:8.1f}   {b['p50_ms']:8.1f} /"
            f"{b['p99_ms']:8.1f}      {a['p50_ms'] / b['p50_ms']:5.1f} / "
            f"{a['p99_ms'] / b['p99_ms']:5.1f}   {a['kib_per_socket']:6.1f} vs "
            f"{b['kib_per_socket']:5.1f}"
        )


if __name__ == "__main__":
    main()
