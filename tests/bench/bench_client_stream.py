"""skyalert-client's ``stream()`` against a bare ``websockets`` client on the same live feed.

Run: ``.venv/bin/python tests/bench/bench_client_stream.py [--alerts 5000]``.

One real server (`skyalert serve`, real Apache Kafka, a real token) and two client processes
subscribed to the same topic at once: ``stream()`` (token, subscribe, decoded ``Alert`` objects,
cursor kept) and the baseline, a bare ``websockets`` loop that only ``json.loads`` each message.
The alerts are produced to Kafka with the headers ingest sets. Each client reports its CPU time
(user + system) for receiving every alert and its peak RSS; the ratios are the veneer's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

TOPIC = "gcn.notices.swift.bat.guano"


def report(started: float, count: int) -> None:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
    status = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(json.dumps({"cpu": cpu_now() - started, "count": count, "rss_kib": peak}), flush=True)


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def stream_client(server: str, client_id: str, secret: str, count: int) -> None:
    from skyalert.client import stream

    class Ready(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("subscribed to "):
                print("ready", flush=True)

    logger = logging.getLogger("skyalert.client.stream")
    logger.setLevel(logging.INFO)
    logger.addHandler(Ready())
    started, received = 0.0, 0
    async with stream(server, client_id, secret, [TOPIC]) as alerts:
        async for alert in alerts:
            if received == 0:
                started = cpu_now()
            received += 1
            assert alert.cursor
            if received == count:
                break
    report(started, received)


async def raw_client(server: str, client_id: str, secret: str, count: int) -> None:
    import httpx
    from websockets.asyncio.client import connect

    token = httpx.post(
        f"{server}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    ).json()["access_token"]
    url = server.replace("http", "ws", 1) + "/api/v1/stream"
    started, received = 0.0, 0
    async with connect(
        url,
        additional_headers={"Authorization": f"Bearer {token}"},
        compression=None,
        max_size=2**25,
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": [TOPIC]}))
        async for text in ws:
            message = json.loads(text)
            if message["type"] == "subscribed":
                print("ready", flush=True)
            elif message["type"] == "alert":
                if received == 0:
                    started = cpu_now()
                received += 1
                if received == count:
                    break
    report(started, received)


def run(alerts: int) -> None:
    from confluent_kafka import Producer

    from skyalert.broker.kafka.config import base_config
    from support.auth import make_credential, make_user
    from support.bench import alert_headers, served_app
    from support.gcn_examples import guano

    work = Path(tempfile.mkdtemp(prefix="bench-client-stream-"))
    body = guano()
    # Every alert must reach both clients: no slow-client drops in a burst.
    with served_app(work, SKYALERT_STREAM_QUEUE_SIZE=str(alerts + 100)) as app:
        client_id, secret = make_credential(app.settings, make_user(app.settings))
        client_env = {**app.env, "SKYALERT_CLIENT_CACHE_DIR": str(work / "cache")}
        command = [
            sys.executable,
            __file__,
            "--client",
            "KIND",
            app.url,
            client_id,
            secret,
            str(alerts),
        ]
        clients = {
            kind: subprocess.Popen(
                [kind if arg == "KIND" else arg for arg in command],
                stdout=subprocess.PIPE,
                text=True,
                env=client_env,
            )
            for kind in ("stream", "raw")
        }
        try:
            for process in clients.values():
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
            producer = Producer(base_config(app.settings, linger_ms=5))
            for _ in range(alerts):
                alert_id, headers = alert_headers()
                producer.produce(TOPIC, body, key=alert_id.encode(), headers=headers)
                producer.poll(0)
            producer.flush(30)
            del producer  # its connections end before the broker does
            results: dict[str, dict[str, Any]] = {}
            for kind, process in clients.items():
                out, _err = process.communicate(timeout=600)
                results[kind] = json.loads(out.strip().splitlines()[-1])
                assert results[kind]["count"] == alerts, results[kind]
        finally:
            for process in clients.values():
                process.kill()
    mine, base = results["stream"], results["raw"]
    print(f"\n{alerts} alerts of {len(body)} bytes, {os.cpu_count()} CPUs\n")
    print(f"{'':<28}{'stream()':>12}{'websockets':>12}{'ratio':>8}")
    per_mine, per_base = mine["cpu"] / alerts * 1e6, base["cpu"] / alerts * 1e6
    print(
        f"{'client CPU per alert [µs]':<28}{per_mine:>12.1f}{per_base:>12.1f}"
        f"{per_mine / per_base:>8.2f}"
    )
    print(
        f"{'client peak RSS [MiB]':<28}{mine['rss_kib'] / 1024:>12.1f}"
        f"{base['rss_kib'] / 1024:>12.1f}{mine['rss_kib'] / base['rss_kib']:>8.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=5000)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        kind, server, client_id, secret, count = args.client
        chosen = stream_client if kind == "stream" else raw_client
        asyncio.run(chosen(server, client_id, secret, int(count)))
        return
    run(args.alerts)


if __name__ == "__main__":
    main()
