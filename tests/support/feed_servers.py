"""``skyalert worker stream`` processes for tests: the live feed's own server, one or several."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.processes import Running, running
from support.services import service_env


def feed_env(settings: Settings, port: int) -> dict[str, str]:
    """The web app's settings as a worker reads them: same database, Kafka, issuer, secret."""
    return service_env(
        settings,
        stream_port=str(port),
        stream_queue_size=str(settings.stream_queue_size),
        stream_ping_interval=str(settings.stream_ping_interval),
        stream_recheck_interval=str(settings.stream_recheck_interval),
    )


@contextmanager
def feed_servers(settings: Settings, count: int) -> Iterator[tuple[str, list[Running]]]:
    """``count`` feed processes sharing one port (``settings.stream_port`` if set, else a free
    one); yields its base URL once every one serves."""
    port = settings.stream_port or free_port()
    args = [sys.executable, "-m", "skyalert.broker.run.cli", "worker", "stream"]
    with ExitStack() as stack:
        env = feed_env(settings, port)
        servers = [stack.enter_context(running(args, env)) for _ in range(count)]
        for server in servers:
            server.wait_for("live feed serving", timeout=90)
        yield f"http://127.0.0.1:{port}", servers
