"""`skyalert up` as a user runs it: a real subprocess, real Kafka, Ctrl-C, restart."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from skyalert.broker.core.running import FILE as RUNNING_FILE
from skyalert.broker.core.secrets import KAFKA_SERVICES_FILE
from skyalert.broker.core.settings import Settings, load_settings
from skyalert.broker.kafka.config import base_config, consumer_config
from skyalert.broker.kafka.kafka_node import free_port
from skyalert.broker.run.stack import CRASH_WINDOW, MAX_CRASHES, Service
from skyalert.client import Consumer as AlertConsumer
from skyalert.schemas.catalog import load_catalog
from support.client import within
from support.ingest import GUANO_TOPIC
from support.kafka_login import DISCONNECTED, read_attempt
from support.stack import Up, var_with_jars
from support.stream import guano

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def var(tmp_path: Path, kafka_classpath_str: str) -> Path:
    return var_with_jars(tmp_path, kafka_classpath_str)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in (Path(f"/proc/{pid}/stat").read_text().split()[2])
    )


def read_all(settings: Settings, topic: str, count: int, group: str) -> Iterator[bytes]:
    consumer = Consumer(consumer_config(settings, group))
    consumer.subscribe([topic])
    try:
        for _ in range(count):
            message = consumer.poll(15)
            assert message is not None, f"nothing on {topic} within 15 s"
            assert message.error() is None
            value = message.value()
            assert value is not None
            yield value
    finally:
        consumer.close()


def newest_heartbeat_after_restart(settings: Settings, topic: str) -> bytes:
    """A heartbeat sent from now on (the group starts at the end of the topic)."""
    consumer = Consumer(
        consumer_config(settings, f"after-{time.time_ns()}", auto_offset_reset="latest")
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None and message.error() is None and message.value():
                return message.value() or b""
    finally:
        consumer.close()
    raise AssertionError(f"no heartbeat on {topic} within 30 s after the restart")


def _second_terminal(var: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A ``skyalert`` command typed in another terminal of the checkout: no SKYALERT_* set."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    return subprocess.run(
        [sys.executable, "-m", "skyalert.broker.run.cli", *args],
        env={**clean, "SKYALERT_VAR_DIR": str(var), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _credential_from_second_terminal(var: Path, email: str, *groups: str) -> tuple[str, str]:
    assert _second_terminal(var, "users", "create", email, "--verified").returncode == 0
    for group in groups:
        assert _second_terminal(var, "users", "grant", email, group).returncode == 0
    made = _second_terminal(var, "credentials", "create", "--user", email, "--name", "t", "--json")
    assert made.returncode == 0, made.stderr
    assert "Kafka ACLs were not updated" not in made.stderr  # it found the stack's Kafka
    credential = json.loads(made.stdout)
    return credential["client_id"], credential["client_secret"]


def _operator_cli_reaches_the_stack(var: Path, portal: str, tmp_path: Path) -> None:
    """Credentials made and an alert published from a second terminal work at once."""
    suffix = uuid.uuid4().hex[:8]
    reader = _credential_from_second_terminal(var, f"reader-{suffix}@example.org")
    author = _credential_from_second_terminal(var, f"author-{suffix}@example.org", "producers.gcn")
    alert = tmp_path / "guano.json"
    alert.write_text(json.dumps(guano(suffix)))
    sent = _second_terminal(
        var,
        "publish",
        "--topic",
        GUANO_TOPIC,
        str(alert),
        SKYALERT_CLIENT_ID=author[0],
        SKYALERT_CLIENT_SECRET=author[1],
    )
    assert sent.returncode == 0, sent.stderr
    alert_id = sent.stdout.split()[0]
    consumer = AlertConsumer(
        client_id=reader[0],
        client_secret=reader[1],
        server=portal,
        group_id=f"{reader[0]}.second-terminal",
        config={"auto.offset.reset": "earliest"},
    )
    try:
        with within(60):
            assert any(a.id == alert_id for a in consumer.alerts(GUANO_TOPIC, stall_timeout=None))
    finally:
        consumer.close()


@pytest.mark.slow
def test_up_serves_stops_and_keeps_data(var: Path, tmp_path: Path) -> None:
    catalog = load_catalog()
    port = free_port()
    up = Up(var, port)
    try:
        info = up.started()
        assert info["portal"] == f"http://127.0.0.1:{port}/"
        home = httpx.get(info["portal"], timeout=10)
        assert home.status_code == 200
        for topic in catalog.topics:
            assert f'data-topic="{topic.name}"' in home.text
        ready = httpx.get(info["portal"] + "readyz", timeout=10).json()
        assert ready["checks"]["database"]["ok"]
        assert ready["checks"]["kafka"]["ok"]

        # The stack's services' listener: its login (the var folder's secret, the settings a
        # second terminal reads) gets heartbeats; without it a local process gets nothing.
        stack = load_settings(var_dir=var)
        assert stack.kafka_bootstrap == info["bootstrap"]
        beats = list(read_all(stack, catalog.heartbeat.name, 2, "plain-consumer"))
        intruder = read_attempt({"bootstrap.servers": info["bootstrap"]}, catalog.heartbeat.name)
        assert not intruder.messages
        assert intruder.codes & DISCONNECTED, intruder.errors
        assert stat.S_IMODE((var / KAFKA_SERVICES_FILE).stat().st_mode) == 0o600
        assert all("alert_datetime" in json.loads(b) for b in beats)

        # A worker that dies is started again, and its work resumes.
        worker = up.pid_of("heartbeat")
        os.kill(worker, signal.SIGKILL)
        up.wait_for(rf"heartbeat \(pid {worker}\) exited with status -9")
        up.wait_for(r"restarting heartbeat in 1 s")
        restarted = int(up.wait_for(r"heartbeat restarted, pid (\d+)").group(1))
        assert alive(restarted)
        info["pids"] += f" {restarted}"
        assert newest_heartbeat_after_restart(stack, catalog.heartbeat.name)

        _operator_cli_reaches_the_stack(var, info["portal"].rstrip("/"), tmp_path)
        second = Up(var, free_port())
        second.wait_for("skyalert is already running here")
        assert second.finished(30) == 2

        producer = Producer(base_config(stack))
        producer.produce("igwn.gwalert", b'{"kept": "across restarts"}')
        assert producer.flush(10) == 0
    finally:
        code = up.interrupt()
    assert code == 0
    assert "stopped" in up.output
    assert not (var / RUNNING_FILE).exists()
    pids = [int(p) for p in info["pids"].split()]
    assert len(pids) >= 3  # kafka, web, heartbeat
    assert not [p for p in pids if alive(p)], "Ctrl-C left processes behind"

    again = Up(var, port)
    try:
        again.started()
        assert "nothing changed" in "\n".join(again.output)
        kept = list(read_all(load_settings(var_dir=var), "igwn.gwalert", 1, "after-restart"))
        assert kept == [b'{"kept": "across restarts"}']
    finally:
        assert again.interrupt() == 0


def test_up_without_java_can_run_tansu_and_says_so(tmp_path: Path) -> None:
    up = Up(tmp_path, free_port(), SKYALERT_LOCAL_BROKER="tansu")
    try:
        info = up.started()
        assert any(line.startswith("WARNING: running tansu") for line in up.output)
        assert "memory only" in "\n".join(up.output)
        # tansu's group join is slow (session timeout / 2): read by assignment instead.
        tansu = load_settings(var_dir=tmp_path)  # PLAINTEXT: tansu has no authentication
        assert tansu.kafka_security_protocol == "PLAINTEXT"
        consumer = Consumer(consumer_config(tansu, "tansu-probe"))
        consumer.assign([TopicPartition(load_catalog().heartbeat.name, 0, OFFSET_BEGINNING)])
        try:
            message = consumer.poll(15)
        finally:
            consumer.close()
        assert message is not None
        assert message.error() is None
        assert b"alert_datetime" in (message.value() or b"")
    finally:
        assert up.interrupt() == 0
    pids = [int(p) for p in info["pids"].split()]
    assert not [p for p in pids if alive(p)]


@pytest.mark.parametrize("command", [["up"], ["topics", "sync"]])
def test_unreachable_kafka_is_a_clear_error(command: list[str], tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SKYALERT_VAR_DIR": str(tmp_path),
        "SKYALERT_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        "SKYALERT_KAFKA_TIMEOUT": "2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "skyalert.broker.run.cli", *command],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr
    assert "did not answer" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_topics_sync_twice_changes_nothing_the_second_time(
    kafka_bootstrap_env: dict[str, str],
) -> None:
    run = [sys.executable, "-m", "skyalert.broker.run.cli", "topics", "sync"]
    subprocess.run(run, env=kafka_bootstrap_env, check=True, capture_output=True, timeout=60)
    second = subprocess.run(
        run, env=kafka_bootstrap_env, check=True, capture_output=True, text=True, timeout=60
    )
    assert second.stdout.strip().splitlines()[-1].endswith("nothing changed")
    assert "created" not in second.stdout
    assert "updated" not in second.stdout


def test_invalid_setting_stops_the_cli_with_the_variable_name(tmp_path: Path) -> None:
    env = {**os.environ, "SKYALERT_VAR_DIR": str(tmp_path), "SKYALERT_PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "skyalert.broker.run.cli", "up"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 2
    assert "SKYALERT_PORT" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def kafka_bootstrap_env(kafka: object, tmp_path: Path) -> dict[str, str]:
    from skyalert.broker.kafka.kafka_node import LocalKafka

    assert isinstance(kafka, LocalKafka)
    return {
        **os.environ,
        "SKYALERT_VAR_DIR": str(tmp_path),
        "SKYALERT_KAFKA_BOOTSTRAP": kafka.bootstrap,
        # Another var folder: the test Kafka's service password comes as a setting instead.
        "SKYALERT_KAFKA_PASSWORD": kafka.services.password,
    }


def test_a_crashing_process_is_restarted_later_each_time_then_given_up(tmp_path: Path) -> None:
    service = Service("ingest", ["true"], tmp_path / "ingest.log", {})
    delays = [service.crashed(now=100.0 + i) for i in range(MAX_CRASHES)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert service.restart_at == 104.0 + 16.0
    assert service.crashed(now=110.0) is None  # the sixth exit in ten minutes: give up
    # Exits long ago are forgiven: the delays start over.
    assert service.crashed(now=110.0 + CRASH_WINDOW) == 1.0
