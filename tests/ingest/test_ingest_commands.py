"""The mission-facing commands: ``skyalert publish`` and ``skyalert worker ingest``; topic sync."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from skyalert.broker.core.secrets import kafka_services_password
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import admin_config, base_config
from skyalert.broker.kafka.inboxes import inbox_topics, namespace_of_inbox, topics_to_sync
from skyalert.broker.run import cli, workers
from skyalert.schemas.catalog import load_catalog
from support.auth import make_credential, make_user
from support.gcn_examples import guano_document
from support.ingest import BAT_TOPIC, GUANO_TOPIC, find_messages, unique_bat

pytestmark = pytest.mark.usefixtures("catalog_topics")


def test_inboxes_are_derived_from_the_catalog(settings: Settings) -> None:
    catalog = load_catalog()
    assert [t.name for t in inbox_topics(catalog, 3)] == ["gcn.inbox", "igwn.inbox"]
    assert {t.partitions for t in inbox_topics(catalog, 3)} == {3}
    assert namespace_of_inbox("gcn.inbox") == "gcn"
    assert namespace_of_inbox("gcn.notices.inbox") is None
    assert namespace_of_inbox(BAT_TOPIC) is None
    names = {t.name for t in topics_to_sync(catalog, 1)}
    assert names == {t.name for t in catalog.topics} | {"gcn.inbox", "igwn.inbox"}
    existing = AdminClient(admin_config(settings)).list_topics(timeout=10)
    assert {"gcn.inbox", "igwn.inbox"} <= set(existing.topics)
    assert "ingest" in workers.NAMES


@pytest.fixture
def credential(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    client_id, secret = make_credential(
        settings, make_user(settings, groups=["producers.gcn"]), ["publish:gcn"]
    )
    monkeypatch.setenv("SKYALERT_CLIENT_ID", client_id)
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", secret)
    return client_id, secret


def test_publish_command(
    app_url: str, credential: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alert = tmp_path / "bat.xml"
    alert.write_bytes(unique_bat())
    assert cli.main(["publish", "--topic", BAT_TOPIC, "--server", app_url, str(alert)]) == 0
    first = capsys.readouterr().out.strip()
    alert_id = first.split()[0]
    assert first == f"{alert_id} {BAT_TOPIC}: published"
    assert cli.main(["publish", "--topic", BAT_TOPIC, "--server", app_url, str(alert)]) == 0
    assert (
        capsys.readouterr().out.strip() == f"{alert_id} {BAT_TOPIC}: already published (a repeat)"
    )


def test_publish_command_shows_every_violation(
    app_url: str, credential: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = guano_document(dec="south", alert_type="final")
    alert = tmp_path / "guano.json"
    alert.write_text(json.dumps(document))
    assert cli.main(["publish", "--topic", GUANO_TOPIC, "--server", app_url, str(alert)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(
        f"skyalert: error: the server refused the alert for {GUANO_TOPIC} (HTTP 422):"
    )
    assert "  /alert_type: 'final' is not one of ['initial', 'subsequent'," in error
    assert "  /dec: 'south' is not of type 'number'" in error


def test_publish_command_errors(
    app_url: str,
    credential: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "missing.xml"
    assert cli.main(["publish", "--topic", BAT_TOPIC, "--server", app_url, str(missing)]) == 2
    assert "cannot read" in capsys.readouterr().err
    alert = tmp_path / "bat.xml"
    alert.write_bytes(unique_bat())
    # The credential holds publish:gcn only.
    assert cli.main(["publish", "--topic", "igwn.gwalert", "--server", app_url, str(alert)]) == 2
    assert "needs the scope 'publish:igwn'" in capsys.readouterr().err
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", "wrong")
    assert cli.main(["publish", "--topic", BAT_TOPIC, "--server", app_url, str(alert)]) == 2
    assert f"the server refused client id {credential[0]!r}" in capsys.readouterr().err
    monkeypatch.delenv("SKYALERT_CLIENT_ID")
    assert cli.main(["publish", "--topic", BAT_TOPIC, "--server", app_url, str(alert)]) == 2
    assert "needs a producer credential" in capsys.readouterr().err


def test_ingest_worker_command(settings: Settings, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SKYALERT_DATABASE_URL": str(settings.database_url),
        "SKYALERT_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "SKYALERT_VAR_DIR": str(tmp_path),
        # Another var folder: the test Kafka's service password comes as a setting instead.
        "SKYALERT_KAFKA_PASSWORD": kafka_services_password(settings),
        "SKYALERT_INBOX_PARTITIONS": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "skyalert.broker.run.cli", "worker", "ingest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        raw = unique_bat()
        producer = Producer(base_config(settings))
        producer.produce(
            "gcn.inbox", raw, headers=[("topic", BAT_TOPIC), ("idempotency-key", uuid.uuid4().hex)]
        )
        assert producer.flush(10) == 0
        find_messages(settings, BAT_TOPIC, lambda m: m.value() == raw, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    # Other suites write to gcn.inbox too: count at least ours.
    stopped = re.search(r"ingest stopped: (\d+) accepted, \d+ repeats, \d+ refused", output)
    assert stopped is not None, output
    assert int(stopped.group(1)) >= 1
