"""Helpers for the skyalert-client tests: alerts straight onto Kafka, a JSON stub server."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from skyalert.broker.archive.alert_ids import new_alert_id
from skyalert.broker.core.settings import Settings
from skyalert.broker.ingest.heartbeat import run_heartbeat
from skyalert.broker.kafka.admin import sync_topics
from skyalert.broker.kafka.config import admin_config, base_config, message_max_bytes
from skyalert.broker.kafka.inboxes import topics_to_sync
from skyalert.schemas.catalog import Topic, load_catalog


def produce_alerts(
    settings: Settings,
    topic: str,
    payloads: list[dict[str, Any]],
    *,
    test: bool = False,
    content_type: str = "application/json",
) -> list[str]:
    """Publish as ingest does (same headers), straight to Kafka; returns the alert ids."""
    producer = Producer(base_config(settings, linger_ms=0))
    ids = []
    for payload in payloads:
        alert_id = new_alert_id()
        body = payload["xml"].encode() if "xml" in payload else json.dumps(payload).encode()
        headers: list[tuple[str, str | bytes | None]] = [
            ("alert-id", alert_id.encode()),
            ("content-type", content_type.encode()),
            ("schema", b"" if "xml" in payload else b"https://example.org/x.json"),
            ("sender", b"test-sender"),
            ("test", b"1" if test else b"0"),
        ]
        producer.produce(topic, body, headers=headers)
        ids.append(alert_id)
    assert producer.flush(10) == 0
    return ids


def ensure_catalog_topics(settings: Settings) -> None:
    """The catalog's topics and the producers' inboxes exist in Kafka (existing ones kept)."""
    admin = AdminClient(admin_config(settings))
    topics = topics_to_sync(load_catalog(), settings.inbox_partitions)
    sync_topics(admin, topics, max_message_bytes=message_max_bytes(settings))


@contextmanager
def heartbeat(settings: Settings, topic: Topic) -> Iterator[None]:
    """The server's heartbeat worker, beating on ``topic`` while the block runs."""
    stop = threading.Event()
    worker = threading.Thread(target=run_heartbeat, args=(settings, topic, stop), daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join(10)


class JsonStub:
    """A real HTTP server answering GETs with the JSON documents in ``routes`` (404 otherwise).

    For what the real app cannot be made to answer: a catalog naming a topic Kafka has never
    seen, a heartbeat topic of one test's own, documents of the wrong shape.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.hits: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.hits.append(self.path)
                if self.path not in stub.routes:
                    self.send_error(404)
                    return
                route = stub.routes[self.path]
                body = route if isinstance(route, bytes) else json.dumps(route).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> JsonStub:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Fail the test, rather than hang it, when the block (say a loop over an endless
    iterator that should have yielded) takes longer than ``seconds``."""

    def expire(_signal: int, _frame: object) -> None:
        raise AssertionError(f"still waiting after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
