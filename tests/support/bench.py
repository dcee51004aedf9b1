"""For benchmarks: the app as ``skyalert serve`` in a child process on real Kafka."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import ServiceAccount
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port, kafka_classpath
from skyalert.schemas.catalog import load_catalog
from support import gcn_examples  # noqa: F401  (points every Settings at the schema cache)
from support.ingest import sync_catalog

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServedApp:
    url: str
    settings: Settings
    #: The environment the server runs with (SKYALERT_* settings included).
    env: dict[str, str]
    pid: int


@contextmanager
def served_app(work: Path, **settings: str) -> Iterator[ServedApp]:
    """A fresh Apache Kafka, a SQLite database and ``skyalert serve``; ``settings`` are extra
    ``SKYALERT_*`` variables for the server."""
    kafka = LocalKafka(
        home=work / "kafka",
        classpath=kafka_classpath(ROOT / "var", None),
        services=ServiceAccount.of(Settings(var_dir=work / "var")),
    )
    kafka.start(timeout=120)
    try:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "SKYALERT_VAR_DIR": str(work / "var"),
            "SKYALERT_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
            "SKYALERT_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "SKYALERT_LOG_LEVEL": "WARNING",
            "SKYALERT_PORT": str(port),
            "SKYALERT_PUBLIC_URL": url,
            "SKYALERT_KAFKA_ACLS": "false",
            **settings,
        }
        config = Settings(
            var_dir=work / "var",
            database_url=env["SKYALERT_DATABASE_URL"],
            kafka_bootstrap=kafka.bootstrap,
            port=port,
            kafka_acls=False,
        )
        engine = make_engine(config)
        migrate.upgrade(engine)
        engine.dispose()
        sync_catalog(config, load_catalog())
        skyalert = shutil.which("skyalert", path=str(Path(sys.executable).parent))
        assert skyalert is not None
        # The server inherits this process's limits (benchmarks raise the open-files one).
        server = subprocess.Popen([skyalert, "serve", "--port", str(port)], env=env)
        try:
            wait_until_ready(url, "/healthz")
            yield ServedApp(url, config, env, server.pid)
        finally:
            server.terminate()
            server.wait(30)
    finally:
        kafka.stop()


def wait_until_ready(url: str, probe: str = "/readyz", timeout: float = 60.0) -> None:
    """Until the app at ``url`` answers 200 on ``probe``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{probe}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the app at {url} did not become ready")


def alert_headers() -> tuple[str, list[tuple[str, str | bytes | None]]]:
    """A new alert id and the Kafka headers ingest sets on a JSON alert."""
    alert_id = new_alert_id()
    return alert_id, [
        ("alert-id", alert_id.encode()),
        ("content-type", b"application/json"),
        ("schema", b""),
        ("sender", b"bench"),
        ("test", b"0"),
    ]
