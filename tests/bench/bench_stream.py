"""Live-feed fan-out benchmark: skyalert's /api/v1/stream against a bare websockets broadcast.

Run: ``.venv/bin/python tests/bench/bench_stream.py [--sizes 1000,10000,20000] [--json]``.

Both servers run in their own process and serve the same number of sockets, held open by
client processes (several, so the clients are not the bottleneck); both send the same alert
text. skyalert: ``skyalert worker stream`` (the feed's own server; real Apache Kafka, real
tokens from ``skyalert serve``), alerts produced to Kafka with the headers ingest sets; latency
runs from just before the produce to the moment a client has the message. Baseline: a
`websockets` server calling ``broadcast()``; latency runs from just before that call. Memory
per socket is the servers' RSS growth over their idle RSS, divided by the sockets connected.
Sizes grow within one server (1,000 then 9,000 more ...). Cases: identical subscriptions (the
``sizes`` of the JSON line), 1,000 distinct cone filters (``cones``) and two feed processes on
one port (``two_processes``), both at 10,000 sockets (or the largest size below).
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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

ALERTS_PER_SIZE = 10
CLIENT_PROCESSES = 3
TOPIC = "gcn.notices.swift.bat.guano"
DISTINCT_CONES = 1000
CASE_SIZE = 10_000
CASES = ("identical", "cones", "two_processes")


#: Open files wanted per process: 20,000 sockets in one server, and room to spare.
OPEN_FILES = 65_536
#: Open files a server keeps besides its sockets (Kafka, database, pipes), with margin.
OTHER_FILES = 500


def raise_fd_limit() -> None:
    """As many open files as allowed (root may raise the hard limit too)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(hard, OPEN_FILES),) * 2)
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def per_process() -> int:
    """The most sockets one server process can hold under this machine's open-file limit."""
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] - OTHER_FILES


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


@cache
def alert_position() -> tuple[float, float]:
    document = alert_document(0.0)
    return document["ra"], document["dec"]


def subscribe_text(index: int, cones: bool) -> str:
    """Socket ``index``'s subscribe: all alike, or one of 1,000 distinct cones holding the alert."""
    request: dict[str, Any] = {"type": "subscribe", "topics": [TOPIC]}
    if cones:
        ra, dec = alert_position()
        radius = 1.0 + (index % DISTINCT_CONES) / 1000
        request["filter"] = {"cone": {"ra": ra, "dec": dec, "radius": radius}}
    return json.dumps(request)


async def client_main(url: str, token: str | None) -> None:
    """Hold sockets; commands on stdin (connect N / collect / quit), answers on stdout."""
    from websockets.asyncio.client import connect

    raise_fd_limit()
    latencies: list[tuple[float, float]] = []
    sockets: list[Any] = []
    readers: list[asyncio.Task[None]] = []
    headers = {"Authorization": f"Bearer {token}"} if token else None

    async def open_one(subscribe: str) -> None:
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
                sent = sent_time(text)
                latencies.append((sent, time.time() - sent))

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    gate = asyncio.Semaphore(50)

    async def gated(index: int, cones: bool) -> None:
        async with gate:
            await open_one(subscribe_text(index, cones))

    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "connect":
            first, cones = len(sockets), command.get("cones", False)
            await asyncio.gather(*(gated(first + i, cones) for i in range(command["count"])))
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
    def __init__(self, url: str, token: str | None, cones: bool = False) -> None:
        self.cones = cones
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
        answers = self.ask(
            [{"cmd": "connect", "count": share, "cones": self.cones} for share in shares]
        )
        return sum(answer["connected"] for answer in answers)

    def collect(self) -> list[tuple[float, float]]:
        """(sent, latency) of every alert message received since the last collect."""
        answers = self.ask([{"cmd": "collect"}] * len(self.procs))
        return [(sent, value) for answer in answers for sent, value in answer["latencies"]]

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
        reuse_port=True,
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
    name: str, pids: list[int], clients: Clients, sizes: list[int], publish: Any, spacing: float
) -> dict[int, dict[str, float]]:
    idle = sum(rss_bytes(pid) for pid in pids)
    results: dict[int, dict[str, float]] = {}
    connected = 0
    for size in sizes:
        started = time.monotonic()
        connected = clients.connect(size - connected)
        took = time.monotonic() - started
        time.sleep(1.0)
        memory = (sum(rss_bytes(pid) for pid in pids) - idle) / connected
        clients.collect()
        for _ in range(ALERTS_PER_SIZE):
            publish()
            time.sleep(spacing * max(1.0, size / 2000))
        time.sleep(2.0)
        received = clients.collect()
        values = [latency for _sent, latency in received]
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
            f"  {name:13} {size:>6} sockets: p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms"
            f"  {memory / 1024:6.1f} KiB/socket  {len(values)}/{size * ALERTS_PER_SIZE} "
            f"delivered  (connected in {took:.1f} s)",
            flush=True,
        )
        print(f"    per alert p50/p99 ms: {per_alert(received)}", flush=True)
    return results


def per_alert(received: list[tuple[float, float]]) -> str:
    """Each alert's own p50/p99, in the order sent: one slow alert sets the overall p99."""
    by_alert: dict[float, list[float]] = {}
    for sent, latency in received:
        by_alert.setdefault(sent, []).append(latency)
    return "  ".join(
        "{:.0f}/{:.0f}".format(*(v * 1000 for v in percentiles(by_alert[sent])))
        for sent in sorted(by_alert)
    )


@contextmanager
def feed_processes(env: dict[str, str], count: int) -> Iterator[tuple[str, list[int]]]:
    """``count`` ``skyalert worker stream`` processes on one port; their URL and pids."""
    from skyalert.broker.kafka.kafka_node import free_port
    from support.processes import running

    port = free_port()
    feed_env = {**env, "SKYALERT_STREAM_PORT": str(port), "SKYALERT_LOG_LEVEL": "INFO"}
    args = [sys.executable, "-m", "skyalert.broker.run.cli", "worker", "stream"]
    with ExitStack() as stack:
        servers = [stack.enter_context(running(args, feed_env)) for _ in range(count)]
        for server in servers:
            server.wait_for("live feed serving", timeout=120)
        yield f"ws://127.0.0.1:{port}/api/v1/stream", [s.process.pid for s in servers]


def run_skyalert(
    cases: list[tuple[str, list[int], int, bool]], work: Path
) -> dict[str, dict[int, dict[str, float]]]:
    """Each case: name, sizes, feed processes, cone filters."""
    from confluent_kafka import Producer

    from skyalert.broker.kafka.config import base_config
    from support.auth import get_token, make_credential, make_user
    from support.bench import alert_headers, served_app

    results: dict[str, dict[int, dict[str, float]]] = {}
    with served_app(work) as app:
        settings = app.settings
        producer = Producer(base_config(settings, linger_ms=0))
        token = get_token(app.url, *make_credential(settings, make_user(settings)))

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

        for name, sizes, processes, cones in cases:
            with feed_processes(app.env, processes) as (url, pids):
                clients = Clients(url, token, cones)
                try:
                    results[name] = measure(name, pids, clients, sizes, publish, spacing=1.0)
                finally:
                    clients.close()
    return results


def run_baseline(sizes: list[int], processes: int = 1) -> dict[int, dict[str, float]]:
    """``processes`` bare servers on one port (``SO_REUSEPORT``), each broadcasting to its own."""
    from skyalert.broker.kafka.kafka_node import free_port

    port = free_port()
    servers = [
        subprocess.Popen(
            [sys.executable, __file__, "--baseline", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    for server in servers:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
    clients = Clients(f"ws://127.0.0.1:{port}", None)

    def publish() -> None:
        for server in servers:
            assert server.stdin is not None
            server.stdin.write("broadcast\n")
            server.stdin.flush()
        for server in servers:
            assert server.stdout is not None
            server.stdout.readline()

    name = "websockets" if processes == 1 else f"websockets x{processes}"
    try:
        return measure(name, [s.pid for s in servers], clients, sizes, publish, spacing=1.0)
    finally:
        clients.close()
        for server in servers:
            assert server.stdin is not None
            server.stdin.close()
            server.wait(30)


def ratios(ours: dict[str, float], base: dict[str, float]) -> dict[str, float]:
    return {
        "p50_ratio": round(ours["p50_ms"] / base["p50_ms"], 3),
        "p99_ratio": round(ours["p99_ms"] / base["p99_ms"], 3),
        "kib_per_socket": round(ours["kib_per_socket"], 1),
        "baseline_kib_per_socket": round(base["kib_per_socket"], 1),
        "p50_ms": round(ours["p50_ms"], 1),
        "p99_ms": round(ours["p99_ms"], 1),
        "baseline_p50_ms": round(base["p50_ms"], 1),
        "baseline_p99_ms": round(base["p99_ms"], 1),
        "delivered": ours["received"] / ours["expected"],
        "baseline_delivered": base["received"] / base["expected"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,20000")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--cases", default=",".join(CASES), help="which of identical,cones,two_processes to run"
    )
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
    # Sizes one process cannot hold here (open-file limit) are served by two, on both sides.
    single = [size for size in sizes if size <= per_process()]
    case_size = max([size for size in single if size <= CASE_SIZE] or single[:1])
    paired = sorted({case_size, *(size for size in sizes if size not in single)})
    print(
        f"fan-out of one ~1 KiB alert, {ALERTS_PER_SIZE} alerts per size, "
        f"{CLIENT_PROCESSES} client processes, {os.cpu_count()} cores, "
        f"at most {per_process()} sockets per server process",
        flush=True,
    )
    every = {
        "identical": (single, 1, False),
        "cones": ([case_size], 1, True),
        "two_processes": (paired, 2, False),
    }
    cases = [(name, *every[name]) for name in args.cases.split(",")]
    if args.json and len(cases) != len(every):
        parser.error("--json needs every case (the JSON line reports them all)")
    with tempfile.TemporaryDirectory(prefix=f"bench-stream-{uuid.uuid4().hex[:6]}-") as work:
        ours = run_skyalert(cases, Path(work))
    base = run_baseline(single) if {"identical", "cones"} & ours.keys() else {}
    base_pair = run_baseline(paired, processes=2) if "two_processes" in ours else {}
    print("\ncase           sockets  skyalert p50/p99 ms   websockets p50/p99 ms   ratio p50/p99")
    for case, results in ours.items():
        against = base_pair if case == "two_processes" else base
        for size, a in results.items():
            b = against[size]
            print(
                f"{case:13} {size:>7}  {a['p50_ms']:8.1f} /{a['p99_ms']:8.1f}   "
                f"{b['p50_ms']:8.1f} /{b['p99_ms']:8.1f}      {a['p50_ms'] / b['p50_ms']:5.2f} / "
                f"{a['p99_ms'] / b['p99_ms']:5.2f}   {a['kib_per_socket']:6.1f} vs "
                f"{b['kib_per_socket']:5.1f} KiB/socket"
            )
    if args.json:
        identical = {n: ratios(ours["identical"][n], base[n]) for n in single}
        pair = {n: ratios(ours["two_processes"][n], base_pair[n]) for n in paired}
        for figures in pair.values():
            figures["processes"] = 2
        summary = {
            "sizes": {str(n): identical.get(n) or pair[n] for n in sizes},
            "cones": {str(case_size): ratios(ours["cones"][case_size], base[case_size])},
            "two_processes": {str(n): pair[n] for n in paired},
        }
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
