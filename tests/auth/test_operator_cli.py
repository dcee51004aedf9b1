"""The operator CLI as scripts use it: users, groups, credentials, key rotation, ACL sync."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from sqlalchemy import select

from skyalert.auth import keys
from skyalert.auth.models import AuditEntry
from skyalert.broker.core.db import make_engine
from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import KafkaConfig
from skyalert.broker.kafka.kafka_node import LocalKafka
from skyalert.broker.run.cli import main
from support.auth import claims_of, get_token

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def environment(settings: Settings) -> dict[str, str]:
    return {
        "SKYALERT_VAR_DIR": str(settings.var_dir),
        "SKYALERT_DATABASE_URL": str(settings.database_url),
        "SKYALERT_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
    }


@pytest.fixture
def skyalert(
    environment: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """``skyalert …`` through its real entry point, in this process (fast); one test below
    runs a real subprocess too."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        if check:
            assert code == 0, err
        assert "Traceback" not in err
        return subprocess.CompletedProcess(list(args), code, out, err)

    return run


def test_a_real_subprocess(environment: dict[str, str]) -> None:
    email = f"process-{uuid.uuid4().hex[:8]}@example.org"
    result = subprocess.run(
        [sys.executable, "-m", "skyalert.broker.run.cli", "users", "create", email, "--verified"],
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"created {email}" in result.stdout


def test_users_and_credentials_from_the_command_line(
    skyalert: Run, app_url: str, settings: Settings
) -> None:
    email = f"mission-{uuid.uuid4().hex[:8]}@example.org"
    created = skyalert("users", "create", email, "--verified")
    assert f"created {email}" in created.stdout
    assert "password:" in created.stdout  # generated, shown once
    assert "is now in producers.gcn" in skyalert("users", "grant", email, "producers.gcn").stdout
    assert "was already" in skyalert("users", "grant", email, "producers.gcn").stdout
    made = skyalert(
        "credentials",
        "create",
        "--user",
        email,
        "--name",
        "gcn publisher",
        "--scope",
        "publish:gcn",
        "--json",
    )
    credential = json.loads(made.stdout)
    assert credential["scopes"] == ["publish:gcn"]
    token = get_token(app_url, credential["client_id"], credential["client_secret"])
    listed = httpx.get(
        f"{app_url}/api/v1/credentials", headers={"Authorization": f"Bearer {token}"}
    )
    assert listed.json()["credentials"][0]["name"] == "gcn publisher"
    left = skyalert("users", "revoke", email, "producers.gcn")
    assert "left producers.gcn" in left.stdout
    gone = skyalert("credentials", "delete", credential["client_id"])
    assert "deleted" in gone.stdout
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            audit = connection.execute(
                select(AuditEntry.actor, AuditEntry.action, AuditEntry.target)
                .where(AuditEntry.user_email == email)
                .order_by(AuditEntry.id)
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in audit] == [
        ("cli", "group.grant", "producers.gcn"),
        ("cli", "credential.create", credential["client_id"]),
        ("cli", "group.revoke", "producers.gcn"),
        ("cli", "credential.delete", credential["client_id"]),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["users", "grant", "nobody@example.org", "producers.gcn"], "no account"),
        (["users", "create", "admin-like@example.org", "--password", "short"], "too short"),
        (["credentials", "create", "--user", "nobody@example.org", "--name", "x"], "no account"),
    ],
    ids=["grant-unknown-user", "weak-password", "credential-unknown-user"],
)
def test_cli_mistakes_are_clear_errors(skyalert: Run, args: list[str], message: str) -> None:
    result = skyalert(*args, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("skyalert: error: ")
    assert message in result.stderr


def test_unknown_group_names_the_known_ones(skyalert: Run) -> None:
    email = f"typo-{uuid.uuid4().hex[:8]}@example.org"
    skyalert("users", "create", email, "--password", "long enough passphrase")
    result = skyalert("users", "grant", email, "producer.gcn", check=False)
    assert result.returncode == 2
    assert "unknown group 'producer.gcn'" in result.stderr
    assert "producers.gcn" in result.stderr


def test_key_rotation_keeps_old_tokens_and_kafka_follows(
    skyalert: Run,
    app_url: str,
    settings: Settings,
    kafka: LocalKafka,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The app runs in this process: let a new key sign sooner (test_signing_keys.py checks
    # that it waits).
    monkeypatch.setattr(keys, "PUBLISH_AHEAD", timedelta(seconds=1))
    email = f"rotate-{uuid.uuid4().hex[:8]}@example.org"
    skyalert("users", "create", email, "--verified")
    credential = json.loads(
        skyalert("credentials", "create", "--user", email, "--name", "r", "--json").stdout
    )
    ids = (credential["client_id"], credential["client_secret"])
    old = get_token(app_url, *ids)
    rotated = skyalert("keys", "rotate")
    assert "new signing key" in rotated.stdout
    new_kid = rotated.stdout.split()[3].rstrip(";")
    # The app re-reads its keys every few seconds: the new key is published first, and signs
    # only once every replica (and Kafka) has had time to learn it.
    deadline = time.monotonic() + 30
    while True:
        new = get_token(app_url, *ids)
        published = {k["kid"] for k in httpx.get(f"{app_url}/.well-known/jwks.json").json()["keys"]}
        assert _kid(new) in published
        if _kid(new) == new_kid:
            break
        assert time.monotonic() < deadline, "the app kept signing with the old key"
        time.sleep(0.5)
    assert _kid(old) in published
    for token in (old, new):
        answer = httpx.get(
            f"{app_url}/api/v1/credentials", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200
    # Kafka re-reads the JWKS file the CLI rewrote: the new key's tokens work there too.
    config: KafkaConfig = {
        "bootstrap.servers": kafka.listener_address("SASL"),
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "OAUTHBEARER",
        "oauth_cb": lambda _c: (new, time.time() + 300, credential["client_id"]),
        "log_level": 0,
    }
    admin = AdminClient(config)
    admin.poll(0.5)
    assert admin.list_topics(timeout=15).brokers


def test_acls_sync_reports_and_is_idempotent(skyalert: Run) -> None:
    skyalert("acls", "sync")
    again = skyalert("acls", "sync")
    assert "nothing changed" in again.stdout


def _kid(token: str) -> str:
    header, _claims = claims_of(token)
    return str(header["kid"])


def test_credential_created_without_kafka_says_acls_were_not_updated(
    skyalert: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = f"nokafka-{uuid.uuid4().hex[:8]}@example.org"
    skyalert("users", "create", email, "--verified")
    monkeypatch.delenv("SKYALERT_KAFKA_BOOTSTRAP")
    created = skyalert("credentials", "create", "--user", email, "--name", "offline", "--json")
    assert json.loads(created.stdout)["client_id"]
    assert "Kafka ACLs were not updated (SKYALERT_KAFKA_BOOTSTRAP is not set)" in created.stderr
    assert "skyalert acls sync" in created.stderr


def test_outside_the_checkout_commands_say_which_var_folder_and_create_nothing(
    tmp_path: Path,
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SKYALERT_")}
    command = [str(Path(sys.executable).with_name("skyalert")), "users", "create", "a@b.org"]

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=elsewhere, env=environment, capture_output=True, text=True, check=False
        )

    missing = run()
    assert missing.returncode == 2
    (line,) = missing.stderr.splitlines()
    assert f"no database in the var folder {elsewhere / 'var'}" in line
    assert "not migrated" in line
    assert "skyalert up" in line
    assert not (elsewhere / "var").exists()  # no empty SQLite file, no new secret key
    (elsewhere / "var").mkdir()
    (elsewhere / "var" / "skyalert.db").touch()
    empty = run()
    assert empty.returncode == 2
    (line,) = empty.stderr.splitlines()
    assert f"the database in the var folder {elsewhere / 'var'} " in line
    assert "is empty (not migrated)" in line
    assert "skyalert db upgrade" in line
    assert not (elsewhere / "var" / "secret.key").exists()
