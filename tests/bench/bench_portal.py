"""Benchmark: server time of each portal page, beside ``/healthz`` (no work) in the same run.

    python tests/bench/bench_portal.py [--requests 200] [--alerts 300] [--database-url URL]

Starts its own Apache Kafka (LocalKafka), a fresh PostgreSQL database (or the URL given) and the
app under uvicorn in a child process (``skyalert serve``), publishes ``--alerts`` alerts over
HTTP so that the archive pages have rows, then asks each page ``--requests`` times, one at a
time. Server time is the app's own ``Server-Timing: app;dur=…`` (from the request reaching the
app to the response starting); the wall time seen by the client is printed beside it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.bench_ingest import database  # noqa: E402
from skyalert.broker.core import migrate  # noqa: E402
from skyalert.broker.core.db import make_engine  # noqa: E402
from skyalert.broker.core.processes import spawn  # noqa: E402
from skyalert.broker.core.settings import Settings  # noqa: E402
from skyalert.broker.kafka.config import ServiceAccount  # noqa: E402
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port, kafka_classpath  # noqa: E402
from skyalert.schemas.catalog import load_catalog  # noqa: E402
from support.auth import DEFAULT_PASSWORD, get_token, make_credential, make_user  # noqa: E402
from support.bench import wait_until_ready  # noqa: E402
from support.ingest import GUANO_TOPIC, sync_catalog  # noqa: E402
from support.stream import guano  # noqa: E402

BASELINE = "/healthz"
#: Every page with its own code path; the admin ones are asked with an admin's session.
PAGES = [
    "/",
    "/topics",
    f"/topics/{GUANO_TOPIC}",
    "/alerts",
    f"/alerts?topic={GUANO_TOPIC}&ra=212.4&dec=-31.1&radius=5",
    "/alerts/{alert_id}",
    "/live",
    "/quickstart",
    "/status",
    "/docs/kafka",
    "/admin/users",
    "/admin/topics",
    "/admin/audit",
]
_DURATION = re.compile(r"app;dur=([0-9.]+)")


def timed(client: httpx.Client, path: str, count: int) -> tuple[list[float], list[float]]:
    """Server and wall times in ms of ``count`` requests, after a few to warm up."""
    server, wall = [], []
    for i in range(count + 5):
        start = time.perf_counter()
        response = client.get(path)
        took = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        match = _DURATION.search(response.headers.get("server-timing", ""))
        if match is None:
            raise RuntimeError(f"{path} sent no Server-Timing header")
        if i >= 5:
            server.append(float(match.group(1)))
            wall.append(took)
    return server, wall


def p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def log_in(url: str, email: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    page = client.get("/account/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if token is None:
        raise RuntimeError("the login page has no CSRF token")
    form = {"email": email, "password": DEFAULT_PASSWORD, "csrf_token": token.group(1)}
    response = client.post("/account/login", data=form)
    if response.status_code != 303:
        raise RuntimeError(f"login failed: {response.status_code} {response.text[:300]}")
    return client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--alerts", type=int, default=300, help="alerts in the archive")
    parser.add_argument("--database-url", help="default: a fresh PostgreSQL database")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    kafka = LocalKafka(
        home=home / "kafka",
        classpath=kafka_classpath(ROOT / "var", None),
        services=ServiceAccount.of(Settings(var_dir=home / "var")),
    )
    kafka.start(timeout=120)
    app = None
    try:
        with database(args.database_url) as db_url:
            port = free_port()
            settings = Settings(
                var_dir=home / "var",
                database_url=db_url,
                kafka_bootstrap=kafka.bootstrap,
                port=port,
                kafka_acls=False,  # no subscribers' listener: no ACLs to keep
            )
            engine = make_engine(settings)
            migrate.upgrade(engine)
            engine.dispose()
            sync_catalog(settings, load_catalog())
            env = {
                **os.environ,
                "SKYALERT_VAR_DIR": str(settings.var_dir),
                "SKYALERT_DATABASE_URL": db_url,
                "SKYALERT_KAFKA_BOOTSTRAP": kafka.bootstrap,
                "SKYALERT_PORT": str(port),
                "SKYALERT_LOG_LEVEL": "WARNING",
                "SKYALERT_KAFKA_ACLS": "false",
            }
            app = spawn(
                "web",
                [sys.executable, "-m", "skyalert.broker.run.cli", "serve"],
                home / "web.log",
                env,
            )
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(url)
            publisher = make_user(settings, groups=["producers.gcn"])
            token = get_token(url, *make_credential(settings, publisher, ["publish:gcn"]))
            alert_id = ""
            with httpx.Client(base_url=url, timeout=30) as http:
                for i in range(args.alerts):
                    alert = guano(f"bench{i}", ra=212.4 + (i % 10) / 10, dec=-31.1)
                    response = http.post(
                        f"/api/v1/topics/{GUANO_TOPIC}/alerts",
                        json=alert,
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    response.raise_for_status()
                    alert_id = response.json()["id"]
            admin = make_user(
                settings, email=f"admin-{uuid.uuid4().hex[:8]}@example.org", groups=["admins"]
            )
            client = log_in(url, admin.email)
            try:
                floor, floor_wall = timed(client, BASELINE, args.requests)
                base = statistics.median(floor)
                print(f"portal pages, {args.requests} requests each, {args.alerts} alerts archived")
                print(f"{'page':<58} {'server ms':>10} {'p95':>7} {'wall ms':>8} {'x healthz':>10}")
                print(
                    f"{BASELINE:<58} {base:>10.2f} {p95(floor):>7.2f} "
                    f"{statistics.median(floor_wall):>8.2f} {1.0:>10.1f}"
                )
                for page in PAGES:
                    path = page.format(alert_id=alert_id)
                    server, wall = timed(client, path, args.requests)
                    median = statistics.median(server)
                    print(
                        f"{page:<58} {median:>10.2f} {p95(server):>7.2f} "
                        f"{statistics.median(wall):>8.2f} {median / base:>10.1f}"
                    )
            finally:
                client.close()
    finally:
        if app is not None:
            app.stop()
        kafka.stop()


if __name__ == "__main__":
    main()
