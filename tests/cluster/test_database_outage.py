"""PostgreSQL stopped for 10 s while alerts are published: 503 with Retry-After, nothing lost."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from conftest import serving
from skyalert.broker.archive.store import Alert
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.ingest import GUANO_TOPIC, find_messages, header
from support.stream import ensure_topics, guano, token

pytestmark = pytest.mark.slow

OUTAGE = 10.0


class PrivatePostgres:
    """A PostgreSQL server of this test's own (stopping the shared one would hit every test)."""

    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.home = Path(tempfile.mkdtemp(prefix="skyalert-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.home, "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_owner, str(self.bin / tool), *args], check=True, capture_output=True
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.home / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.home, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.start()
    yield server
    server.stop()
    server.remove()


def test_publishers_get_503_with_retry_after_and_nothing_accepted_is_lost(
    settings: Settings, private_postgres: PrivatePostgres
) -> None:
    own = settings.model_copy(update={"database_url": private_postgres.url})
    engine = make_engine(own)
    migrate.upgrade(engine)
    ensure_topics(own)
    answers: list[tuple[int, str, str | None]] = []
    done = threading.Event()
    marker = uuid.uuid4().hex[:8]
    with serving(own) as url:
        bearer = token(own, url, groups=["producers.gcn"])

        def publish() -> None:
            headers = {"Authorization": f"Bearer {bearer}"}
            with httpx.Client(base_url=url, timeout=30, headers=headers) as http:
                for n in range(5000):
                    if done.is_set():
                        return
                    response = http.post(
                        f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=guano(f"{marker}-{n}")
                    )
                    json_body = "json" in response.headers.get("content-type", "")
                    body = response.json() if json_body else {}
                    answers.append(
                        (
                            response.status_code,
                            body.get("id", ""),
                            response.headers.get("Retry-After"),
                        )
                    )
                    if response.status_code != 201:
                        done.wait(0.2)  # a publisher backs off; the test does not wait 5 s

        thread = threading.Thread(target=publish)
        thread.start()
        deadline = time.monotonic() + 60
        while len(answers) < 20 and time.monotonic() < deadline:
            thread.join(0.05)
        private_postgres.stop()
        done.wait(OUTAGE)
        private_postgres.start()
        restarted = len(answers)
        while time.monotonic() < deadline + 60 and not any(
            status == 201 for status, _, _ in answers[restarted:]
        ):
            thread.join(0.05)
        done.set()
        thread.join(60)
    statuses = {status for status, _, _ in answers}
    refused = [a for a in answers if a[0] != 201]
    accepted = {alert_id for status, alert_id, _ in answers if status == 201}
    print(f"published {len(answers)}, acknowledged {len(accepted)}, refused {len(refused)}")
    assert refused, "the outage was not seen"
    assert statuses <= {201, 503}, statuses
    assert all(retry is not None for _, _, retry in refused)
    with make_sessionmaker(engine)() as session:
        archived = set(session.scalars(select(Alert.id).where(Alert.id.in_(accepted))))
    engine.dispose()
    assert archived == accepted
    on_kafka = find_messages(
        own,
        GUANO_TOPIC,
        lambda m: (header(m, "alert-id") or b"").decode() in accepted,
        count=len(accepted),
    )
    assert {(header(m, "alert-id") or b"").decode() for m in on_kafka} == accepted
