"""`skyalert up --brokers 3 --web 2 --email 2`: all processes shown; alerts flow, a broker down."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect, sync_playwright

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import port_is_free
from skyalert.client import Consumer
from support.auth import DEFAULT_PASSWORD, get_token, make_credential, make_user
from support.browser import CHROMIUM, CHROMIUM_ARGS, log_in
from support.client import within
from support.ingest import GUANO_TOPIC, find_messages, has_header
from support.stack import Up, var_with_jars
from support.stream import guano, post_json

pytestmark = pytest.mark.slow


def _two_free_ports() -> int:
    for port in range(24000, 24400, 2):
        if port_is_free(port) and port_is_free(port + 1):
            return port
    raise AssertionError("no two consecutive free ports between 24000 and 24400")


def _live_page_shows(portal: str, email: str, publish: Callable[[], str]) -> bool:
    """A logged-in browser on the live page sees an alert published after it subscribed."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(base_url=portal).new_page()
            log_in(page, email, DEFAULT_PASSWORD)
            page.goto("/live")
            expect(page.locator("#live-status")).to_have_attribute("data-state", "subscribed")
            alert_id = publish()
            item = page.locator(f'#live-feed li[data-alert="{alert_id}"]')
            expect(item).to_be_visible(timeout=30_000)
            return True
        finally:
            browser.close()


def test_scaled_stack_keeps_delivering_with_one_broker_killed(
    tmp_path: Path, kafka_classpath_str: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh stack on a portal URL an earlier run used: the client's cached discovery (with that
    # run's Kafka ports) must not stand in.
    monkeypatch.setenv("SKYALERT_CLIENT_CACHE_DIR", str(tmp_path / "client-cache"))
    var = var_with_jars(tmp_path, kafka_classpath_str)
    port = _two_free_ports()
    up = Up(var, port, "--brokers", "3", "--web", "2", "--email", "2")
    try:
        info = up.started()
        text = "\n".join(up.output)
        for name in ("web-1", "web-2", "email-1", "email-2", "ingest", "heartbeat"):
            assert up.pid_of(name) > 0
        brokers = re.search(r"broker\s+pid ([\d, ]+), Apache Kafka .*3 nodes", text)
        assert brokers is not None, text
        pids = [int(pid) for pid in brokers.group(1).split(", ")]
        assert len(pids) == 3
        replica = f"http://127.0.0.1:{port + 1}"
        assert httpx.get(f"{replica}/readyz", timeout=10).status_code == 200

        settings = Settings(var_dir=var, port=port, kafka_bootstrap=info["bootstrap"])
        reader_id, reader_secret = make_credential(settings, make_user(settings))
        producer = make_credential(settings, make_user(settings, groups=["producers.gcn"]))
        os.kill(pids[2], signal.SIGKILL)
        consumer = Consumer(
            client_id=reader_id,
            client_secret=reader_secret,
            server=info["portal"].rstrip("/"),
            group_id=f"{reader_id}.cluster",
            config={"auto.offset.reset": "earliest"},
        )
        try:
            alerts = consumer.alerts(GUANO_TOPIC, stall_timeout=None)
            bearer = get_token(replica, *producer)

            def publish() -> str:
                with httpx.Client(base_url=replica, timeout=30) as http:
                    http.headers["Authorization"] = f"Bearer {bearer}"
                    return post_json(http, guano(uuid.uuid4().hex))

            alert_id = publish()
            # On the topic (the services' listener) first: tells a lost write from a stuck reader.
            find_messages(
                settings,
                GUANO_TOPIC,
                has_header("alert-id", alert_id.encode()),
                timeout=90,
            )
            with within(90):
                for alert in alerts:
                    if alert.id == alert_id:
                        break
        finally:
            consumer.close()
        viewer = make_user(settings)
        with ThreadPoolExecutor(1) as thread:  # Playwright's sync API wants a loop of its own
            shown = thread.submit(
                _live_page_shows, info["portal"].rstrip("/"), viewer.email, publish
            ).result(timeout=120)
        assert shown
        assert "the local Kafka broker exited" not in "\n".join(up.output)
    finally:
        assert up.interrupt(timeout=60) == 0
