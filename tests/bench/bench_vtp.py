"""VTP fan-out benchmark: ``skyalert worker vtp`` against a bare asyncio TCP broadcast.

Run: ``.venv/bin/python tests/bench/bench_vtp.py [--subscribers 500] [--alerts 20] [--json]``.

Both servers run in their own process and serve the same number of subscribers, held by this
process (asyncio; each answers iamalive and acks every VOEvent, as pygcn does). skyalert: real
Apache Kafka and the real worker; each VOEvent (the Swift BAT packet with a fresh IVORN) is
produced to Kafka with the headers ingest sets, and latency runs from just before the produce to
the moment a subscriber has the frame. Baseline: a server that writes the same frame to every
connection when told on its stdin; latency runs from just before telling it. ``--json`` prints
one JSON object last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from confluent_kafka import Producer  # noqa: E402

from skyalert.broker.archive.alert_ids import new_alert_id  # noqa: E402
from skyalert.broker.kafka.config import base_config  # noqa: E402
from skyalert.broker.kafka.kafka_node import free_port  # noqa: E402
from support.bench import served_app  # noqa: E402
from support.ingest import BAT_TOPIC, packet, with_ivorn  # noqa: E402
from support.vtp import answer, framed, root_of  # noqa: E402

LENGTH = struct.Struct("!I")
SENT = re.compile(rb"BAT_GRB_Pos_bench_(\d+\.\d+)_")
SPACING = 0.05
#: As the VTP worker's: 500 subscribers connect at once.
BACKLOG = 1024


def event(sent: float) -> bytes:
    ivorn = f"ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_bench_{sent:.6f}_{uuid.uuid4().hex}"
    return with_ivorn(packet("swift_bat"), ivorn)


class Client:
    """One subscriber: the arrival latency of every VOEvent, answers as pygcn sends them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.latencies: list[float] = []
        self.first = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4 * 2**20)
        try:
            while True:
                (size,) = LENGTH.unpack(await reader.readexactly(LENGTH.size))
                payload = await reader.readexactly(size)
                now = time.time()
                self.first.set()
                found = SENT.search(payload)
                if found is None:  # iamalive (or the baseline's hello)
                    writer.write(answer("iamalive", "ivo://skyalert/vtp"))
                    continue
                self.latencies.append(now - float(found.group(1)))
                writer.write(answer("ack", root_of(payload).get("ivorn") or ""))
                if len(self.latencies) >= self.expected:
                    self.done.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()


async def measure(port: int, subscribers: int, alerts: int, send: Any) -> dict[str, float]:
    clients = [Client(alerts) for _ in range(subscribers)]
    tasks = [asyncio.create_task(c.run(port)) for c in clients]
    await asyncio.wait_for(asyncio.gather(*(c.first.wait() for c in clients)), 120)
    started = time.monotonic()
    for _ in range(alerts):
        await asyncio.to_thread(send, event(time.time()))
        await asyncio.sleep(SPACING)
    await asyncio.wait_for(asyncio.gather(*(c.done.wait() for c in clients)), 120)
    elapsed = time.monotonic() - started - alerts * SPACING
    for task in tasks:
        task.cancel()
    latencies = sorted(x for c in clients for x in c.latencies)
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "drain_s": max(0.0, elapsed),
        "frames": len(latencies),
    }


def run_skyalert(subscribers: int, alerts: int, work: Path) -> dict[str, float]:
    port = free_port()
    with served_app(work, SKYALERT_VTP_IAMALIVE_INTERVAL="1") as app:
        env = {
            **app.env,
            "SKYALERT_VTP_PORT": str(port),
            "SKYALERT_VTP_AUTHOR_PORT": str(free_port()),
        }
        skyalert = Path(sys.executable).with_name("skyalert")
        worker = subprocess.Popen([str(skyalert), "worker", "vtp"], env=env)
        producer = Producer(base_config(app.settings, linger_ms=0))

        def send(raw: bytes) -> None:
            headers: list[tuple[str, str | bytes | None]] = [
                ("alert-id", new_alert_id().encode()),
                ("test", b"0"),
            ]
            producer.produce(BAT_TOPIC, raw, headers=headers)
            producer.poll(0)

        try:
            _wait_for_port(port, worker)
            return asyncio.run(measure(port, subscribers, alerts, send))
        finally:
            producer.flush(10)
            worker.terminate()
            worker.wait(30)


def _wait_for_port(port: int, process: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the VTP worker exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the VTP worker did not open its port")


async def baseline_main(port: int) -> None:
    """A bare broadcast: a hello frame on connect, then each stdin line (hex) to everyone."""
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        writer.write(framed(b"<hello/>"))
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        finally:
            writers.discard(writer)

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=BACKLOG)
    loop = asyncio.get_running_loop()
    async with server:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            frame = framed(bytes.fromhex(line.strip()))
            for writer in tuple(writers):
                writer.write(frame)


def run_baseline(subscribers: int, alerts: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--baseline", str(port)], stdin=subprocess.PIPE, text=True
    )
    assert server.stdin is not None

    def send(raw: bytes) -> None:
        assert server.stdin is not None
        server.stdin.write(raw.hex() + "\n")
        server.stdin.flush()

    try:
        _wait_for_port(port, server)
        return asyncio.run(measure(port, subscribers, alerts, send))
    finally:
        server.stdin.close()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        asyncio.run(baseline_main(args.baseline))
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(
        f"VTP fan-out: {args.subscribers} subscribers, a burst of {args.alerts} Swift BAT "
        f"VOEvents {SPACING * 1000:.0f} ms apart, {os.cpu_count()} cores",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix=f"bench-vtp-{uuid.uuid4().hex[:6]}-") as work:
        ours = run_skyalert(args.subscribers, args.alerts, Path(work))
    base = run_baseline(args.subscribers, args.alerts)
    result = {
        "subscribers": args.subscribers,
        "alerts": args.alerts,
        "skyalert": ours,
        "baseline": base,
        "ratio_p50": ours["p50_ms"] / base["p50_ms"],
        "ratio_p99": ours["p99_ms"] / base["p99_ms"],
    }
    print("           p50 ms    p99 ms   frames")
    for name, row in (("skyalert", ours), ("baseline", base)):
        print(f"{name:<9} {row['p50_ms']:8.1f}  {row['p99_ms']:8.1f}  {row['frames']:7.0f}")
    print(f"ratio     {result['ratio_p50']:8.1f}  {result['ratio_p99']:8.1f}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
