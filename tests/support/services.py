"""``skyalert serve`` and ``skyalert worker …`` as real processes on the test stack, for tests
that kill them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.bench import wait_until_ready


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a process sharing the test stack's database, Kafka, server secret and
    token issuer; ``extra`` are more settings by name (``ingest_group="…"``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    env.update(
        SKYALERT_DATABASE_URL=str(settings.database_url),
        SKYALERT_KAFKA_BOOTSTRAP=str(settings.kafka_bootstrap),
        SKYALERT_VAR_DIR=str(settings.var_dir),
        SKYALERT_PUBLIC_URL=settings.base_url,
        SKYALERT_RATE_LIMIT_PUBLISH="100000/minute",
        SKYALERT_LOG_LEVEL="INFO",
    )
    env.update({f"SKYALERT_{k.upper()}": v for k, v in extra.items()})
    return env


@contextmanager
def skyalert(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``skyalert <args>``, its output appended to ``log``; SIGTERM at the end if it lives."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "skyalert.broker.run.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def served(
    env: dict[str, str], log: Path, *args: str, port: int | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``skyalert serve`` on a free port (or ``port``), once it is ready: its URL and process."""
    port = port or free_port()
    with skyalert(["serve", "--port", str(port), *args], env, log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url)
        yield url, process
