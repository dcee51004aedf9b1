"""The ``skyalert-client`` command against the real app and Kafka."""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from skyalert.broker.core.settings import Settings
from skyalert.client import Consumer
from skyalert.client.cli import _since_option, main
from skyalert.client.version import __version__
from support.auth import make_credential, make_user
from support.client import within
from support.gcn_examples import example
from support.ingest import BAT_RA, BAT_TOPIC, ivorn_of, unique_bat

TOPIC = "gcn.notices.dsa110.frb"
CLI = Path(sys.executable).with_name("skyalert-client")


@pytest.fixture(scope="session")
def producer(settings: Settings, server_url: str) -> tuple[str, str]:
    """A credential of a GCN publisher (publish:gcn) on the test server."""
    return make_credential(settings, make_user(settings, groups=["producers.gcn"]), "all")


@pytest.fixture
def as_producer(producer: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("SKYALERT_CLIENT_ID", producer[0])
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", producer[1])
    return producer


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with within(60):
        code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def frb(tag: str) -> dict[str, Any]:
    """A valid DSA-110 FRB notice, unique by ``tag`` (the server de-duplicates by content)."""
    alert: dict[str, Any] = example("gcn/notices/dsa110/frb.detection.example.json").document
    return alert | {"id": tag}


def publish_frb(tmp_path: Path, capsys: pytest.CaptureFixture[str], server: str, tag: str) -> str:
    path = tmp_path / f"{tag}.json"
    path.write_text(json.dumps(frb(tag)))
    code, out, err = run(capsys, "publish", "--server", server, TOPIC, str(path))
    assert code == 0, err
    assert out.startswith("Published ")
    return out.split()[1]


def mine(*tags: str) -> str:
    return json.dumps({"field": "id", "op": "in", "value": list(tags)})


# --- basics -------------------------------------------------------------------------------


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"skyalert-client {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("login", "topics", "listen", "publish"):
        assert command in text
    assert "SKYALERT_CLIENT_SECRET" in text


def test_console_script_runs() -> None:
    result = subprocess.run(
        [str(CLI), "listen", "--help"], capture_output=True, text=True, check=True
    )
    assert "--filter JSON" in result.stdout
    assert "--stall-timeout SECONDS" in result.stdout


def test_no_server_anywhere_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "topics")
    assert code == 1
    assert err.startswith("skyalert-client: error: which server? Run `skyalert-client login`")


# --- login --------------------------------------------------------------------------------


def test_login_stores_a_checked_credential_for_the_owner_only(
    capsys: pytest.CaptureFixture[str],
    server_url: str,
    producer: tuple[str, str],
    client_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, secret = producer
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{secret}\n"))  # not a terminal
    code, out, err = run(capsys, "login", "--server", server_url, "--client-id", client_id)
    assert code == 0, err
    assert f"Logged in to {server_url} as {client_id}" in out
    assert "publish:gcn" in out
    stored = client_dirs / "config" / "login.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text()) == {
        "server": server_url,
        "client_id": client_id,
        "client_secret": secret,
    }
    code, out, err = run(capsys, "topics")  # the stored login is used
    assert code == 0, err
    assert TOPIC in out


def test_login_with_a_wrong_secret_is_refused(
    capsys: pytest.CaptureFixture[str],
    server_url: str,
    producer: tuple[str, str],
    client_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", "not-the-secret")
    code, _out, err = run(capsys, "login", "--server", server_url, "--client-id", producer[0])
    assert code == 1
    assert f"the server refused client id {producer[0]!r}" in err
    assert not (client_dirs / "config" / "login.json").exists()


# --- topics -------------------------------------------------------------------------------


def test_topics_table_and_json(capsys: pytest.CaptureFixture[str], server_url: str) -> None:
    code, out, _err = run(capsys, "topics", "--server", server_url)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["TOPIC", "FORMAT", "ACCESS"]
    early = next(line for line in lines if line.startswith("igwn.early_warning.gwalert "))
    assert "read:restricted.lvk_early" in early
    assert any(line.startswith(f"{BAT_TOPIC} ") and " voevent " in line for line in lines)
    code, out, _err = run(capsys, "topics", "--server", server_url, "--json")
    names = [topic["name"] for topic in json.loads(out)]
    assert TOPIC in names


# --- publish and listen -------------------------------------------------------------------


def test_publish_then_listen_as_json_lines(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    tag = uuid.uuid4().hex
    alert_id = publish_frb(tmp_path, capsys, server_url, tag)
    code, out, err = run(
        capsys,
        "listen",
        "--server",
        server_url,
        TOPIC,
        "--filter",
        mine(tag),
        "--count",
        "1",
        "--group-id",
        f"g-{tag}",
    )
    assert code == 0, err
    line = json.loads(out)
    assert line["id"] == alert_id
    assert line["topic"] == TOPIC
    assert line["test"] is False
    assert line["alert"] == frb(tag)


def test_publishing_twice_creates_nothing(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(frb(uuid.uuid4().hex)))
    argv = ("publish", "--server", server_url, TOPIC, str(path), "--idempotency-key", "k1")
    first = run(capsys, *argv)
    again = run(capsys, *argv)
    assert first[0] == again[0] == 0
    assert again[1].startswith("Already published (nothing new created): " + first[1].split()[1])


def test_a_refused_alert_lists_every_violation(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    bad = frb(uuid.uuid4().hex) | {"ra": "east", "dec": "north"}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    code, _out, err = run(capsys, "publish", "--server", server_url, TOPIC, str(path))
    assert code == 1
    assert f"the server refused the alert for {TOPIC} (HTTP 422)" in err
    assert "\n  /ra: " in err
    assert "\n  /dec: " in err


def test_publish_needs_a_credential(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text("{}")
    code, _out, err = run(
        capsys, "publish", "--server", server_url, TOPIC, str(tmp_path / "a.json")
    )
    assert code == 1
    assert "this needs a credential" in err
    code, _out, err = run(
        capsys, "publish", "--server", server_url, TOPIC, str(tmp_path / "missing.json")
    )
    assert code == 1


def test_listen_pretty_and_to_files(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    tag = uuid.uuid4().hex
    alert_id = publish_frb(tmp_path, capsys, server_url, tag)
    common = ("listen", "--server", server_url, TOPIC, "--filter", mine(tag), "--count", "1")
    code, out, _err = run(capsys, *common, "--pretty", "--group-id", f"p-{tag}")
    assert code == 0
    assert out.startswith(f"── {TOPIC}  {alert_id}  ")
    assert json.loads(out.split("\n", 1)[1]) == frb(tag)
    folder = tmp_path / "alerts"
    code, out, _err = run(capsys, *common, "--out-dir", str(folder), "--group-id", f"f-{tag}")
    assert code == 0
    written = folder / TOPIC / f"{alert_id}.json"
    assert out.strip() == str(written)
    assert json.loads(written.read_text()) == frb(tag)


def test_listen_refuses_bad_input_before_connecting(
    capsys: pytest.CaptureFixture[str], server_url: str
) -> None:
    code, _out, err = run(capsys, "listen", "--server", server_url, TOPIC, "--filter", "{bad")
    assert code == 1
    assert "invalid filter at the top: not valid JSON" in err
    code, _out, err = run(capsys, "listen", "--server", server_url, "gcn.notices.dsa110.frd")
    assert code == 1
    assert "did you mean gcn.notices.dsa110.frb?" in err
    code, _out, err = run(capsys, "listen", "--server", server_url, TOPIC, "-X", "nonsense")
    assert code == 1
    assert "-X takes KEY=VALUE" in err


@pytest.mark.parametrize(
    ("option", "reason"),
    [
        ("auto.offset.rest=earliest", 'No such configuration property: "auto.offset.rest"'),
        ("fetch.wait.max.ms=soon", "Invalid value"),
    ],
    ids=["misspelt-name", "bad-value"],
)
def test_options_librdkafka_refuses_end_as_one_error_line(
    server_url: str, as_producer: Any, option: str, reason: str
) -> None:
    listen = subprocess.run(
        [str(CLI), "listen", "--server", server_url, TOPIC, "-X", option],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listen.returncode == 1
    (line,) = listen.stderr.splitlines()
    assert line.startswith("skyalert-client: error: librdkafka refused the Kafka options")
    assert reason in line


def test_stopping_and_restarting_the_listener_resumes(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    tags = [uuid.uuid4().hex for _ in range(3)]
    ids = [publish_frb(tmp_path, capsys, server_url, tag) for tag in tags]
    listen = [
        str(CLI),
        "listen",
        "--server",
        server_url,
        TOPIC,
        "--filter",
        mine(*tags),
        "--group-id",
        f"resume-{tags[0]}",
    ]
    env = {**os.environ, "SKYALERT_CLIENT_ID": "", "SKYALERT_CLIENT_SECRET": ""}
    with subprocess.Popen(listen, stdout=subprocess.PIPE, text=True, env=env) as first:
        assert first.stdout is not None
        with within(60):
            lines = [first.stdout.readline(), first.stdout.readline()]
        first.send_signal(signal.SIGTERM)  # stopped as a service manager would
        assert first.wait(30) == 128 + signal.SIGTERM
    second = subprocess.run(
        [*listen, "--count", "1"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    seen = [json.loads(line)["id"] for line in [*lines, second.stdout]]
    assert seen == ids  # no repeats, no gaps


# --- listen --websocket -------------------------------------------------------------------


def test_listen_over_the_websocket_resumes_where_it_stopped(
    capsys: pytest.CaptureFixture[str],
    server_url: str,
    tmp_path: Path,
    as_producer: Any,
    client_dirs: Path,
) -> None:
    tags = [uuid.uuid4().hex for _ in range(3)]
    first = publish_frb(tmp_path, capsys, server_url, tags[0])
    listen = [
        str(CLI),
        "listen",
        "--websocket",
        "--server",
        server_url,
        TOPIC,
        "--filter",
        mine(*tags),
    ]
    with subprocess.Popen([*listen, "--since", "10m"], stdout=subprocess.PIPE, text=True) as run1:
        assert run1.stdout is not None
        with within(60):
            line = json.loads(run1.stdout.readline())
        run1.send_signal(signal.SIGTERM)
        assert run1.wait(30) == 128 + signal.SIGTERM
    assert line["id"] == first
    assert line["alert"] == frb(tags[0])
    assert line["topic"] == TOPIC
    assert line["test"] is False
    (place,) = (client_dirs / "state" / "places").iterdir()
    assert json.loads(place.read_text())["cursor"] == first
    assert stat.S_IMODE(place.stat().st_mode) == 0o600
    later = [publish_frb(tmp_path, capsys, server_url, tag) for tag in tags[1:]]
    # No --since: it continues after the last alert it wrote, with no repeats and no gaps.
    run2 = subprocess.run(
        [*listen, "--count", "2"], capture_output=True, text=True, timeout=60, check=True
    )
    assert [json.loads(line)["id"] for line in run2.stdout.splitlines()] == later


def test_listen_over_the_websocket_stops_on_ctrl_c(server_url: str, as_producer: Any) -> None:
    command = [str(CLI), "-v", "listen", "--websocket", "--server", server_url, TOPIC]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as listener:
        assert listener.stderr is not None
        with within(60):
            said = listener.stderr.readline()
        assert said.startswith(f"skyalert-client: subscribed to {TOPIC}")
        listener.send_signal(signal.SIGINT)
        assert listener.wait(30) == 130


def test_listen_websocket_options_are_checked(
    capsys: pytest.CaptureFixture[str], server_url: str, as_producer: Any
) -> None:
    common = ("listen", "--server", server_url, TOPIC)
    code, _out, err = run(capsys, *common, "--websocket", "--group-id", "g", "-X", "a=b")
    assert code == 1
    assert "--group-id, -X are for Kafka, not --websocket" in err
    code, _out, err = run(capsys, *common, "--since", "now")
    assert code == 1
    assert "--since is for --websocket" in err
    code, _out, err = run(capsys, *common, "--websocket", "--since", "yesterday")
    assert code == 1
    assert "--since 'yesterday': give now, last:N, a duration" in err
    code, _out, err = run(capsys, *common, "--websocket", "--since", "last:many")
    assert code == 1
    assert "last:N needs a whole number" in err


def test_listen_websocket_needs_a_credential(
    capsys: pytest.CaptureFixture[str], server_url: str
) -> None:
    code, _out, err = run(capsys, "listen", "--websocket", "--server", server_url, TOPIC)
    assert code == 1
    assert "this needs a credential" in err


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("now", "now"),
        ("last:25", {"last": 25}),
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1.5h", timedelta(hours=1.5)),
        ("2d", timedelta(days=2)),
        ("2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("01jdb7y3k9q8z5t4w2v1x0n6m3", "01JDB7Y3K9Q8Z5T4W2V1X0N6M3"),
    ],
)
def test_since_option_forms(text: str, since: Any) -> None:
    assert _since_option(text) == since


# --- VOEvent topics -----------------------------------------------------------------------


def test_voevent_alerts_as_xml_or_as_their_json_form(
    capsys: pytest.CaptureFixture[str], server_url: str, tmp_path: Path, as_producer: Any
) -> None:
    packet = unique_bat()
    ivorn = ivorn_of(packet)
    (tmp_path / "bat.xml").write_bytes(packet)
    code, out, err = run(
        capsys, "publish", "--server", server_url, BAT_TOPIC, str(tmp_path / "bat.xml")
    )
    assert code == 0, err
    alert_id = out.split()[1]
    only = json.dumps({"field": "ivorn", "op": "eq", "value": ivorn})
    common = ("listen", "--server", server_url, BAT_TOPIC, "--filter", only, "--count", "1")
    code, out, err = run(capsys, *common, "--group-id", f"j-{alert_id}")
    assert code == 0, err
    as_json = json.loads(out)
    assert as_json["id"] == alert_id
    assert as_json["content_type"] == "application/x-voevent+xml"
    assert as_json["alert"]["ra"] == BAT_RA
    code, out, err = run(capsys, *common, "--format", "voevent", "--group-id", f"x-{alert_id}")
    assert code == 0, err
    as_xml = json.loads(out)
    assert as_xml["xml"].encode() == packet
    assert "alert" not in as_xml

    # The library without a filter: format="voevent" needs nothing but Kafka.
    reader = Consumer(server=server_url, group_id=f"v-{alert_id}")
    try:
        with within(60):
            alerts = reader.alerts(BAT_TOPIC, format="voevent", stall_timeout=None)
            alert = next(a for a in alerts if a.id == alert_id)
    finally:
        reader.close()
    assert alert.is_voevent
    assert alert.xml is not None
    assert ivorn in alert.xml
    assert alert.payload == {}


def test_the_cli_and_a_library_program_on_one_credential_each_get_every_alert(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    settings: Settings,
    server_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, secret = make_credential(
        settings, make_user(settings, groups=["producers.gcn"]), "all"
    )
    monkeypatch.setenv("SKYALERT_CLIENT_ID", client_id)
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", secret)
    tag = uuid.uuid4().hex
    alert_id = publish_frb(tmp_path, capsys, server_url, tag)
    # A program with the library's defaults (as the README's) reads the alert, commits it and
    # stays in its group.
    program = Consumer(client_id, secret, server_url)
    with within(60):
        alert = next(iter(program.alerts(TOPIC, filter=json.loads(mine(tag)))))
    program.commit_alert(alert)
    try:
        assert alert.id == alert_id
        code, out, err = run(
            capsys, "listen", "--server", server_url, TOPIC, "--filter", mine(tag), "--count", "1"
        )
        assert code == 0, err
        assert json.loads(out)["id"] == alert_id
        assert "other member" not in err
        # Joining the program's own group is allowed, with a warning that alerts get split.
        with subprocess.Popen(
            [str(CLI), "listen", "--server", server_url, TOPIC, "--group-id", client_id],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        ) as shared:
            try:
                assert shared.stderr is not None
                with within(60):
                    line = shared.stderr.readline()
                assert f"consumer group {client_id} already has 1 other member" in line
                assert "splits the alerts" in line
            finally:
                shared.send_signal(signal.SIGINT)
                shared.wait(30)
    finally:
        program.close()
