"""``skyalert worker stream`` processes for tests: the live feed's own server, one or several."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import free_port
from support.processes import Running, running


def feed_env(settings: Settings, port: int) -> dict[str, str]:
    """The web app's settings as a worker reads them: same database, Kafka, issuer, secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    env.update(
        SKYALERT_DATABASE_URL=str(settings.database_url),
        SKYALERT_KAFKA_BOOTSTRAP=str(settings.kafka_bootstrap),
        SKYALERT_VAR_DIR=str(settings.var_dir),
        SKYALERT_PUBLIC_URL=str(settings.public_url),
        SKYALERT_STREAM_PORT=str(port),
        SKYALERT_STREAM_QUEUE_SIZE=str(settings.stream_queue_size),
        SKYALERT_STREAM_PING_INTERVAL=str(settings.stream_ping_interval),
        SKYALERT_STREAM_RECHECK_INTERVAL=str(settings.stream_recheck_interval),
        SKYALERT_LOG_LEVEL="INFO",
    )
    return env


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
