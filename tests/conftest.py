"""Shared fixtures: real Apache Kafka, PostgreSQL, SMTP and a running app, started on demand."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from skyalert.auth.kafka_listener import oauth_listener
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import ServiceAccount
from skyalert.broker.kafka.kafka_node import LocalKafka, free_port, kafka_classpath
from skyalert.broker.run.workers import NAMES
from skyalert.web.app import create_app
from support import gcn_examples  # noqa: F401  (points every Settings at the schema cache)
from support.kafka_acls import OPEN, grant_anonymous
from support.smtp import SMTPServer
from support.stack import UpStack, up_stack, var_with_jars

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(autouse=True)
def client_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own client cache, config and state folders (never the user's), and
    no client credential in the environment."""
    monkeypatch.setenv("SKYALERT_CLIENT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SKYALERT_CLIENT_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SKYALERT_CLIENT_STATE_DIR", str(tmp_path / "state"))
    for name in ("SKYALERT_CLIENT_ID", "SKYALERT_CLIENT_SECRET", "SKYALERT_CLIENT_SERVER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def kafka_classpath_str() -> str:
    home = os.environ.get("SKYALERT_KAFKA_HOME")
    return kafka_classpath(ROOT / "var", Path(home) if home else None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, kafka_classpath_str: str) -> Iterator[UpStack]:
    """One ``skyalert up`` with its defaults, shared by the tests that try the whole stack as a
    user would (a VTP keep-alive every 0.5 s, so pygcn's show within the test)."""
    var = var_with_jars(tmp_path_factory.mktemp("up"), kafka_classpath_str)
    with up_stack(var, SKYALERT_VTP_IAMALIVE_INTERVAL="0.5") as running:
        yield running


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's var folder (Kafka reads the JWKS the app writes there)."""
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def app_socket() -> Iterator[socket.socket]:
    """The listening socket ``app_url`` serves on, held from the start of the run so that no
    Kafka listener or other server takes its port in the meantime."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


@pytest.fixture(scope="session")
def app_port(app_socket: socket.socket) -> int:
    """Where ``app_url`` serves the app, and so the issuer its tokens name."""
    port: int = app_socket.getsockname()[1]
    return port


@pytest.fixture(scope="session")
def kafka(
    tmp_path_factory: pytest.TempPathFactory,
    kafka_classpath_str: str,
    var_dir: Path,
    app_port: int,
) -> Iterator[LocalKafka]:
    """One real single-node Apache Kafka for the whole run.

    ``kafka.bootstrap`` is our services' listener: SASL/PLAIN as the one service account (its
    password generated into the session's var folder), the only super user; ``kafka_settings``
    reach it through the one client config helper. The ``SASL`` listener
    (``kafka.listener_address("SASL")``) is what subscribers use: OAUTHBEARER tokens from our
    token endpoint, checked against ACLs. The ``OPEN`` listener stands in for a cluster
    without authentication, for the client's PLAINTEXT mode (support/kafka_acls.py).
    """
    sasl = oauth_listener(
        Settings(var_dir=var_dir, port=app_port, public_url=f"http://127.0.0.1:{app_port}")
    )
    broker = LocalKafka(
        home=tmp_path_factory.mktemp("kafka"),
        classpath=kafka_classpath_str,
        services=ServiceAccount.of(Settings(var_dir=var_dir)),
        extra_listeners={**sasl.listeners, OPEN: "PLAINTEXT"},
        extra_properties=sasl.properties,
        jvm_options=sasl.jvm_options,
    )
    broker.start(timeout=90)
    grant_anonymous(Settings(var_dir=var_dir, kafka_bootstrap=broker.bootstrap))
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def kafka_settings(var_dir: Path, kafka: LocalKafka) -> Settings:
    """Just enough settings for a raw Kafka client of our services (no database)."""
    return Settings(var_dir=var_dir, kafka_bootstrap=kafka.bootstrap)


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = os.environ.get("SKYALERT_TEST_POSTGRES_URL")
    if url:
        return url
    # Never skip for want of a server: start one.
    result = subprocess.run(
        ["bash", str(ROOT / "ops" / "local" / "ensure-postgres.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh database for this run, dropped at the end."""
    name = f"skyalert_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def settings(var_dir: Path, postgres_url: str, kafka: LocalKafka, app_port: int) -> Settings:
    """Settings of the running test stack: PostgreSQL and the real Kafka; ``app_url`` serves
    the app where ``public_url`` says, so discovery documents point back at it."""
    settings = Settings(
        var_dir=var_dir,
        port=app_port,
        public_url=f"http://127.0.0.1:{app_port}",
        database_url=postgres_url,
        kafka_bootstrap=kafka.bootstrap,
        heartbeat_interval=0.05,
        # Every test signs up from 127.0.0.1: per-address limits would trip across tests.
        # tests/auth/test_accounts.py checks the limits with its own settings and database.
        rate_limit_signup="1000/minute",
        rate_limit_password_reset="1000/minute",
        rate_limit_login="1000/minute",
        rate_limit_publish="100000/minute",
    )
    engine = make_engine(settings)
    migrate.upgrade(engine)
    engine.dispose()
    return settings


@contextmanager
def serving(
    settings: Settings, port: int | None = None, sock: socket.socket | None = None
) -> Iterator[str]:
    """The web app served by a real uvicorn on a free loopback port (or ``port``, e.g. the one
    in ``settings.public_url``, or the bound ``sock``); yields its base URL."""
    port = sock.getsockname()[1] if sock is not None else port or free_port()
    config = uvicorn.Config(
        create_app(settings, workers=NAMES), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    sockets = {"sockets": [sock]} if sock is not None else {}
    thread = threading.Thread(target=server.run, kwargs=sockets, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the web app did not start")
        thread.join(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def app_url(settings: Settings, app_socket: socket.socket) -> Iterator[str]:
    with serving(settings, sock=app_socket) as url:
        yield url


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A topic/group name no other test uses: ``test.<test name>.<random>``."""
    base = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()).strip("_")[:40]
    return f"test.{base}.{uuid.uuid4().hex[:8]}"
