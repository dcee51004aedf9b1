"""Issue 8's acceptance, literally: a venv holding only the client, installed from a running
``skyalert up``'s own package index (issue 20), receives alerts published over HTTP with the
README's examples and the CLI (the Kafka listener for subscribers speaks SASL/OAUTHBEARER)."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import uuid
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.auth import get_token, make_credential, make_user
from support.client import within
from support.ingest import GUANO_TOPIC
from support.stack import UpStack
from support.stream import Publisher, guano, post_json

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "client" / "README.md").read_text("utf-8")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory, stack: UpStack) -> Path:
    """A fresh venv with the client only, installed as the portal says: from the running
    server's own package index (its dependencies, confluent-kafka and websockets, from PyPI)."""
    page = httpx.get(f"{stack.url}/docs/websocket").text
    found = re.search(r"pip install (--extra-index-url (\S+) skyalert-client)", page)
    assert found is not None, "the portal shows no install line"
    assert found.group(2) == f"{stack.url}/simple"
    env_dir = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    pip = [str(env_dir / "bin" / "python"), "-m", "pip"]
    subprocess.run(
        [*pip, "install", "-q", "--disable-pip-version-check", *found.group(1).split()],
        check=True,
    )
    shown = subprocess.run(
        [
            *pip,
            "download",
            "--no-deps",
            "-d",
            str(env_dir / "got"),
            "--index-url",
            f"{stack.url}/simple",
            "skyalert-client",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "skyalert_client-" in shown.stdout
    return env_dir / "bin"


def test_the_portal_index_follows_pep_503(stack: UpStack) -> None:
    assert "SASL_PLAINTEXT, OAUTHBEARER" in "\n".join(stack.up.output)  # the clients' listener
    assert 'href="skyalert-client/"' in httpx.get(f"{stack.url}/simple/").text
    moved = httpx.get(f"{stack.url}/simple/skyalert-client")
    assert moved.status_code == 301
    assert moved.headers["location"] == "/simple/skyalert-client/"
    page = httpx.get(f"{stack.url}/simple/skyalert-client/").text
    (href,) = re.findall(r'href="([^"]+)"', page)
    name, _, fragment = href.partition("#sha256=")
    wheel = httpx.get(f"{stack.url}/simple/skyalert-client/{name}")
    assert wheel.status_code == 200
    assert hashlib.sha256(wheel.content).hexdigest() == fragment
    assert httpx.get(f"{stack.url}/simple/other-project/").status_code == 404
    assert httpx.get(f"{stack.url}/simple/skyalert-client/secret.key").status_code == 404


@pytest.fixture(scope="module")
def reader(stack: UpStack) -> tuple[str, str]:
    """A subscriber's credential, made as the portal makes it (Kafka ACLs included)."""
    return make_credential(stack.settings, make_user(stack.settings), "all")


@pytest.fixture(scope="module")
def publish(stack: UpStack) -> Iterator[Callable[[str], str]]:
    """Publish a GUANO alert over HTTP, as a mission would; returns its id."""
    user = make_user(stack.settings, groups=["producers.gcn"])
    token = get_token(stack.url, *make_credential(stack.settings, user))
    publisher = Publisher(stack.url, token)
    yield lambda tag: post_json(publisher.client, guano(tag))
    publisher.close()


def readme_example(heading: str, marker: str) -> str:
    """The README's Python block under ``heading`` that contains ``marker``."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks: list[str] = re.findall(r"```python\n(.*?)```", section, re.S)
    (block,) = [block for block in blocks if marker in block]
    return block


def with_credential(code: str, server: str, client_id: str, secret: str) -> str:
    for placeholder, value in (
        ("https://skyalert.example.org", server),
        ("your client id", client_id),
        ("your client secret", secret),
    ):
        assert placeholder in code
        code = code.replace(placeholder, value)
    return code


def first_line_with(command: list[str], text: str, cwd: Path) -> str:
    """Run ``command`` until it prints a line containing ``text``; that line."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=cwd) as process:
        assert process.stdout is not None
        try:
            with within(90):
                for line in process.stdout:
                    if text in line:
                        return line
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C, as a person stops it
            process.wait(30)
    raise AssertionError(f"{command[0]} ended without printing {text}")


def test_the_client_venv_cannot_import_server_code(bin_dir: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util, skyalert.client\n"
        "server = [m for m in ('skyalert.broker', 'skyalert.auth', 'skyalert.web',"
        " 'skyalert.schemas') if importlib.util.find_spec(m) is not None]\n"
        "print('server:', server)\n"
    )
    result = subprocess.run(
        [str(bin_dir / "python"), "-I", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout.strip() == "server: []"
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "skyalert-client==" in installed
    assert "\nskyalert==" not in "\n" + installed
    assert sys.executable != str(bin_dir / "python")


@pytest.mark.parametrize(
    ("heading", "marker"),
    [("Ten lines", "consumer = Consumer("), ("Ten lines", "async with stream(")],
    ids=["kafka", "websocket"],
)
def test_the_readme_examples_receive_an_alert_published_over_http(
    bin_dir: Path,
    stack: UpStack,
    reader: tuple[str, str],
    publish: Callable[[str], str],
    tmp_path: Path,
    heading: str,
    marker: str,
) -> None:
    alert_id = publish(uuid.uuid4().hex)
    script = tmp_path / "example.py"
    script.write_text(with_credential(readme_example(heading, marker), stack.url, *reader))
    line = first_line_with([str(bin_dir / "python"), "-I", "-u", str(script)], alert_id, tmp_path)
    assert line.split()[:2] == [GUANO_TOPIC, alert_id]


def test_the_cli_prints_json_and_resumes_after_a_restart(
    bin_dir: Path,
    stack: UpStack,
    reader: tuple[str, str],
    publish: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKYALERT_CLIENT_ID", reader[0])
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", reader[1])
    tags = [uuid.uuid4().hex for _ in range(3)]
    only = json.dumps({"field": "id.0", "op": "in", "value": tags})
    cli = [
        str(bin_dir / "skyalert-client"),
        "listen",
        "--server",
        stack.url,
        GUANO_TOPIC,
        "--filter",
        only,
        "--count",
        "1",
    ]

    def listen(*extra: str) -> dict[str, Any]:
        done = subprocess.run(
            [*cli, *extra], capture_output=True, text=True, timeout=90, check=True, cwd=tmp_path
        )
        printed: dict[str, Any] = json.loads(done.stdout)
        return printed

    ids = [publish(tag) for tag in tags]
    # Over Kafka (SASL/OAUTHBEARER), in the credential's own group: each run continues after
    # the alert the last one printed, with no repeats and no gaps.
    over_kafka = [listen() for _ in tags]
    assert [line["id"] for line in over_kafka] == ids
    assert over_kafka[0]["topic"] == GUANO_TOPIC
    assert over_kafka[0]["alert"]["id"] == [tags[0]]
    # Over the WebSocket: the listener keeps its place in its state folder.
    assert [listen("--websocket", "--since", "10m")["id"]] == ids[:1]
    assert [listen("--websocket")["id"] for _ in tags[1:]] == ids[1:]
