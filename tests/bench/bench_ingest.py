"""Benchmark: HTTP publish -> Kafka consumer latency and ingest throughput, beside a bare
confluent-kafka produce -> consume of the very same bytes, on the same broker, in the same run.

    python tests/bench/bench_ingest.py [--alerts 300] [--clients 8] [--web-workers 1]
        [--ingest-workers 1] [--database-url URL] [--only http|inbox] [--json]

Starts its own Apache Kafka (LocalKafka), a fresh PostgreSQL database (or the URL given) and the
app under uvicorn in a child process (`skyalert serve`). The payload is the Swift BAT GRB
position VOEvent with a fresh IVORN per alert.

- latency: one alert at a time; from the start of the HTTP POST (or of ``produce``) until a plain
  consumer holds the message. The HTTP side includes the token check, the hardened VOEvent
  parse and XML Schema validation, normalisation, de-duplication, the archive write and the
  acknowledged produce (``acks=all``, idempotent).
- HTTP throughput: ``--clients`` concurrent publishers against ``skyalert serve``, and the same
  load against a bare FastAPI endpoint that only produces the body to Kafka
  (``bare_produce_app.py``), served by the same uvicorn with the same options and workers.
- inbox throughput: a burst into the ``gcn`` inbox through ``--ingest-workers`` processes of
  ``skyalert worker ingest`` sharing its partitions, against
  one bare producer sending asynchronously, until the consumer has every message.

``--json`` prints, as the last line, ``{"http_throughput_ratio", "inbox_throughput_ratio",
"latency_p50_added_ms", "latency_p99_added_ms"}`` (ratios: skyalert / bare); ``--only`` runs
one part (``http``: the latencies and HTTP throughput; ``inbox``: the inbox throughput beside
the bare producer's) and prints only its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from confluent_kafka import Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from skyalert.broker.core.processes import spawn  # noqa: E402
from skyalert.broker.core.settings import Settings  # noqa: E402
from skyalert.broker.kafka.config import (  # noqa: E402
    ServiceAccount,
    admin_config,
    consumer_config,
    producer_config,
)
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port, kafka_classpath  # noqa: E402
from skyalert.schemas.catalog import load_catalog  # noqa: E402
from support.auth import get_token  # noqa: E402
from support.bench import wait_until_ready  # noqa: E402
from support.ingest import BAT_TOPIC, header, sync_catalog, unique_bat  # noqa: E402

BASELINE_TOPIC = "bench.baseline.voevent"
INBOX = "gcn.inbox"


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    admin_url = subprocess.run(
        ["bash", str(ROOT / "ops/local/ensure-postgres.sh")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    name = f"skyalert_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


class Arrivals:
    """A plain consumer from the end of a topic, noting when each key first arrives."""

    def __init__(
        self, settings: Settings, topic: str, key: Callable[[Message], str | None]
    ) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Condition()
        self.stop = threading.Event()
        self.consumer = Consumer(consumer_config(settings, uuid.uuid4().hex, fetch_wait_max_ms=5))
        tps = []
        for p in self._partitions(topic):
            _low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            tps.append(TopicPartition(topic, p, high))
        self.consumer.assign(tps)
        self.key = key
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _partitions(self, topic: str, timeout: float = 30) -> list[int]:
        """The topic's partitions, once each has a leader (a topic just created may not yet)."""
        deadline = time.monotonic() + timeout
        while True:
            partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
            if partitions and all(p.leader >= 0 for p in partitions.values()):
                return list(partitions)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} has no leader for every partition")
            time.sleep(0.2)

    def _run(self) -> None:
        while not self.stop.is_set():
            message = self.consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            now = time.perf_counter()
            key = self.key(message)
            if key is not None:
                with self.lock:
                    self.seen.setdefault(key, now)
                    self.lock.notify_all()

    def wait_count(self, count: int, timeout: float = 300) -> float:
        """When the ``count``-th message (of any key) arrived."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.seen) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{count - len(self.seen)} messages never arrived")
                self.lock.wait(left)
            return sorted(self.seen.values())[count - 1]

    def wait(self, keys: set[str], timeout: float = 120) -> float:
        """When the last of ``keys`` arrived."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not keys <= self.seen.keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(keys - self.seen.keys())} messages never arrived")
                self.lock.wait(left)
            return max(self.seen[k] for k in keys)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.consumer.close()


def alert_id_header(message: Message) -> str | None:
    value = header(message, "alert-id")
    return None if value is None else value.decode()


def message_key(message: Message) -> str | None:
    key = message.key()
    return None if key is None else key.decode()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def http_latency(url: str, token: str, arrivals: Arrivals, count: int) -> list[float]:
    latencies = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-voevent+xml"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for _ in range(count):
            payload = unique_bat()
            started = time.perf_counter()
            response = http.post(f"/api/v1/topics/{BAT_TOPIC}/alerts", content=payload)
            assert response.status_code == 201, response.text
            arrived = arrivals.wait({response.json()["id"]})
            latencies.append(arrived - started)
    return latencies


def bare_latency(producer: Producer, arrivals: Arrivals, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        key, payload = uuid.uuid4().hex, unique_bat()
        started = time.perf_counter()
        producer.produce(BASELINE_TOPIC, payload, key=key.encode())
        producer.flush(30)
        latencies.append(arrivals.wait({key}) - started)
    return latencies


def http_throughput(
    url: str, token: str, arrivals: Arrivals, count: int, clients: int, bare: bool = False
) -> float:
    """Alerts per second from ``clients`` concurrent publishers to ``skyalert serve`` (or to the
    bare endpoint), until the consumer has every one."""
    payloads = [unique_bat() for _ in range(count)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-voevent+xml"}
    path = f"/produce/{BASELINE_TOPIC}" if bare else f"/api/v1/topics/{BAT_TOPIC}/alerts"
    local = threading.local()

    def publish(payload: bytes) -> str:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=url, headers=headers, timeout=60)
        response = local.http.post(path, content=payload)
        assert response.status_code == 201, response.text
        return response.text if bare else str(response.json()["id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ids = set(pool.map(publish, payloads))
    return count / (arrivals.wait(ids) - started)


def bare_throughput(producer: Producer, arrivals: Arrivals, count: int) -> float:
    messages = [(uuid.uuid4().hex, unique_bat()) for _ in range(count)]
    started = time.perf_counter()
    for key, payload in messages:
        producer.produce(BASELINE_TOPIC, payload, key=key.encode())
        producer.poll(0)
    producer.flush(60)
    return count / (arrivals.wait({k for k, _ in messages}) - started)


def cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far (Linux: ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def inbox_throughput(
    kafka: Settings, env: dict[str, str], home: Path, count: int, workers: int
) -> tuple[float, float]:
    """Alerts per second through ``workers`` processes of ``skyalert worker ingest``: a burst
    into the ``gcn`` inbox, until the consumer has every alert on its topic; and the workers'
    CPU milliseconds per alert meanwhile (a figure other work on the machine hardly moves)."""
    arrivals = Arrivals(kafka, BAT_TOPIC, alert_id_header)
    producer = Producer(producer_config(kafka, linger_ms=5))
    messages = [(unique_bat(), uuid.uuid4().hex) for _ in range(count)]
    command = [sys.executable, "-m", "skyalert.broker.run.cli", "worker", "ingest"]
    running = [spawn("ingest", command, home / f"ingest-{n}.log", env) for n in range(workers)]
    try:
        # The workers' group starts at the inbox's end: they must hold its partitions first.
        _wait_for_members(kafka, env["SKYALERT_INGEST_GROUP"], workers)
        cpu = sum(cpu_seconds(worker.pid) for worker in running)
        started = time.perf_counter()
        for payload, key in messages:
            headers: list[tuple[str, str | bytes | None]] = [
                ("topic", BAT_TOPIC.encode()),
                ("content-type", b"application/x-voevent+xml"),
                ("idempotency-key", key.encode()),
            ]
            producer.produce(INBOX, payload, headers=headers)
            producer.poll(0)
        producer.flush(60)
        rate = count / (arrivals.wait_count(count) - started)
        used = sum(cpu_seconds(worker.pid) for worker in running) - cpu
        return rate, used / count * 1e3
    finally:
        for worker in running:
            worker.stop()
        arrivals.close()


def _wait_for_members(kafka: Settings, group: str, members: int, timeout: float = 60) -> None:
    admin = AdminClient(admin_config(kafka))
    deadline = time.monotonic() + timeout
    holding: list[int] = []
    while time.monotonic() < deadline:
        (found,) = admin.describe_consumer_groups([group]).values()
        joined = found.result(10).members
        holding = [len(m.assignment.topic_partitions) for m in joined]
        if len(holding) == members and all(holding):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{members} ingest workers never held {group}'s partitions: {holding}")


@contextmanager
def bare_app(env: dict[str, str], home: Path, workers: int) -> Iterator[str]:
    """The bare FastAPI produce endpoint, under uvicorn with ``skyalert serve``'s options."""
    port = free_port()
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "bare_produce_app:create"),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
        *("--log-level", "warning", "--no-access-log", "--proxy-headers"),
        *("--ws-per-message-deflate", "false"),
    ]
    bench = str(Path(__file__).parent)
    app = spawn("bare", command, home / "bare.log", {**env, "PYTHONPATH": bench})
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", probe="/docs")
        yield f"http://127.0.0.1:{port}"
    finally:
        app.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=300, help="alerts per measurement")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP publishers")
    parser.add_argument("--web-workers", type=int, default=1, help="uvicorn workers, both apps")
    parser.add_argument(
        "--ingest-workers", type=int, default=1, help="ingest worker processes sharing the inbox"
    )
    parser.add_argument("--database-url", help="default: a fresh PostgreSQL database")
    parser.add_argument("--only", choices=("http", "inbox"), help="run only this part")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of ratios")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    kafka = LocalKafka(
        home=home / "kafka",
        classpath=kafka_classpath(ROOT / "var", None),
        services=ServiceAccount.of(Settings(var_dir=home / "var")),
    )
    kafka.start(timeout=120)
    try:
        with database(args.database_url) as db_url:
            rows = measure(kafka.bootstrap, db_url, home, args)
    finally:
        kafka.stop()
    print(
        f"\n{args.alerts} alerts of {len(unique_bat())} bytes (Swift BAT VOEvent), "
        f"{args.clients} HTTP clients, {args.web_workers} web workers, "
        f"{args.ingest_workers} ingest workers, {os.cpu_count()} CPUs\n"
    )
    print(f"{'':<28}{'skyalert':>12}{'bare':>12}{'ratio':>10}")
    for name, mine, base in rows.values():
        print(f"{name:<28}{mine:>12.1f}{base:>12.1f}{mine / base:>10.3g}")
    if args.json:
        print(json.dumps(summary(rows)))


def summary(rows: dict[str, tuple[str, float, float]]) -> dict[str, float]:
    """The issue's figures (those measured): throughput ratios and the latency skyalert adds."""

    def ratio(key: str) -> float:
        return round(rows[key][1] / rows[key][2], 3)

    def added(key: str) -> float:
        return round(rows[key][1] - rows[key][2], 2)

    figures = {
        "http_throughput_ratio": ("http", ratio),
        "inbox_throughput_ratio": ("inbox", ratio),
        "latency_p50_added_ms": ("p50", added),
        "latency_p99_added_ms": ("p99", added),
    }
    return {name: figure(row) for name, (row, figure) in figures.items() if row in rows}


def operator(env: dict[str, str], *args: str) -> str:
    """Run an operator command of the server CLI (accounts and credentials)."""
    command = [sys.executable, "-m", "skyalert.broker.run.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def measure(
    bootstrap: str, db_url: str, home: Path, args: argparse.Namespace
) -> dict[str, tuple[str, float, float]]:
    port = free_port()
    env = {
        **os.environ,
        "SKYALERT_VAR_DIR": str(home / "var"),
        "SKYALERT_DATABASE_URL": db_url,
        "SKYALERT_KAFKA_BOOTSTRAP": bootstrap,
        "SKYALERT_PORT": str(port),
        "SKYALERT_LOG_LEVEL": "WARNING",
        "SKYALERT_KAFKA_ACLS": "false",  # no subscribers' listener: no ACLs to keep
        "SKYALERT_RATE_LIMIT_PUBLISH": "1000000/minute",  # measure ingest, not the limit
        "SKYALERT_WEB_WORKERS": str(args.web_workers),
        "SKYALERT_INGEST_GROUP": f"bench-ingest-{uuid.uuid4().hex[:8]}",
    }
    operator(env, "db", "upgrade")
    kafka = Settings(var_dir=home / "var", kafka_bootstrap=bootstrap)
    sync_catalog(kafka, load_catalog(), kafka.inbox_partitions)
    admin = AdminClient(admin_config(kafka))
    admin.create_topics([NewTopic(BASELINE_TOPIC, 1, 1)])[BASELINE_TOPIC].result()
    # The bare baseline produces as our services do (same login, acks, idempotence).
    producer = Producer(producer_config(kafka, linger_ms=0))
    bare = Arrivals(kafka, BASELINE_TOPIC, message_key)
    try:
        rows = {} if args.only == "inbox" else measure_http(env, home, producer, bare, args)
    finally:
        bare.close()
    if args.only != "http":
        bare = Arrivals(kafka, BASELINE_TOPIC, message_key)
        try:
            bare_latency(producer, bare, 20)  # warm up
            floor_rate = bare_throughput(producer, bare, args.alerts)
        finally:
            bare.close()
        inbox_rate, inbox_cpu = inbox_throughput(kafka, env, home, args.alerts, args.ingest_workers)
        rows["inbox"] = ("inbox ingest [alerts/s]", inbox_rate, floor_rate)
        print(f"inbox worker CPU during the burst: {inbox_cpu:.2f} ms/alert")
    return rows


def measure_http(
    env: dict[str, str], home: Path, producer: Producer, bare: Arrivals, args: argparse.Namespace
) -> dict[str, tuple[str, float, float]]:
    """Latency and HTTP throughput through ``skyalert serve``, beside the bare paths."""
    alerts, clients = args.alerts, args.clients
    kafka = Settings(var_dir=home / "var", kafka_bootstrap=env["SKYALERT_KAFKA_BOOTSTRAP"])
    email = f"bench-{uuid.uuid4().hex[:8]}@example.org"
    operator(env, "users", "create", email, "--password", uuid.uuid4().hex, "--verified")
    operator(env, "users", "grant", email, "producers.gcn")
    credential = json.loads(
        operator(
            env,
            "credentials",
            "create",
            "--user",
            email,
            "--name",
            "bench",
            "--scope",
            "publish:gcn",
            "--json",
        )
    )
    app = spawn(
        "web", [sys.executable, "-m", "skyalert.broker.run.cli", "serve"], home / "web.log", env
    )
    try:
        url = f"http://127.0.0.1:{env['SKYALERT_PORT']}"
        wait_until_ready(url)
        token = get_token(url, credential["client_id"], credential["client_secret"])
        ingest = Arrivals(kafka, BAT_TOPIC, alert_id_header)
        http_latency(url, token, ingest, 20)  # warm up both paths
        bare_latency(producer, bare, 20)
        ours = http_latency(url, token, ingest, alerts)
        floor = bare_latency(producer, bare, alerts)
        ours_rate = http_throughput(url, token, ingest, alerts, clients)
        ingest.close()
    finally:
        app.stop()
    with bare_app(env, home, args.web_workers) as bare_url:
        http_throughput(bare_url, token, bare, 20, clients, bare=True)  # warm up
        bare_http_rate = http_throughput(bare_url, token, bare, alerts, clients, bare=True)
    return {
        "p50": ("latency p50 [ms]", percentile(ours, 0.5) * 1e3, percentile(floor, 0.5) * 1e3),
        "p99": ("latency p99 [ms]", percentile(ours, 0.99) * 1e3, percentile(floor, 0.99) * 1e3),
        "mean": ("latency mean [ms]", statistics.fmean(ours) * 1e3, statistics.fmean(floor) * 1e3),
        "http": ("HTTP publish [alerts/s]", ours_rate, bare_http_rate),
    }


if __name__ == "__main__":
    main()
