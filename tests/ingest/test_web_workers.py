"""``skyalert serve --workers N``: several processes on one port, one publish rate limit."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from skyalert.broker.core.settings import Settings
from support.auth import token_for
from support.gcn_examples import guano
from support.ingest import GUANO_TOPIC
from support.services import served, service_env

#: Longer than the limiter's merge interval (0.5 s): each process has heard of the others' hits.
MERGED = 1.2


def servers(pid: int) -> list[int]:
    """The server processes ``pid`` started (Linux /proc; not multiprocessing's helpers)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in found if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def wait_for_servers(pid: int, count: int, timeout: float = 60) -> list[int]:
    """The first process answers before uvicorn has spawned the next: wait for all of them."""
    deadline = time.monotonic() + timeout
    while len(found := servers(pid)) < count:
        assert time.monotonic() < deadline, f"{len(found)} of {count} server processes"
        time.sleep(0.1)
    return found


def test_two_processes_serve_one_port_and_share_the_publish_limit(
    settings: Settings, app_url: str, tmp_path: Path, catalog_topics: None
) -> None:
    token = token_for(settings, app_url, groups=["producers.gcn"])
    env = service_env(settings, rate_limit_publish="3/day")
    with served(env, tmp_path / "web.log", "--workers", "2") as (url, server):
        assert len(wait_for_servers(server.pid, 2)) == 2
        # A new connection each time, so the kernel may hand any request to either process.
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}
        answers = []
        for _ in range(6):
            answer = httpx.post(
                f"{url}/api/v1/topics/{GUANO_TOPIC}/alerts",
                content=guano(),
                headers={**headers, "Content-Type": "application/json"},
                timeout=30,
            )
            answers.append(answer.status_code)
            time.sleep(MERGED)
    assert answers == [201, 201, 201, 429, 429, 429]
