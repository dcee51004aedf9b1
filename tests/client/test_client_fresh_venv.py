"""Issue 8's acceptance, literally: a venv holding only ``pip install ./client``, against the
running test stack, receives alerts published over HTTP with the README's examples and CLI."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
import venv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from skyalert.broker.settings import Settings
from support.auth import get_token, make_credential, make_user
from support.client import within
from support.stream import GUANO_TOPIC, guano

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "client" / "README.md").read_text("utf-8")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the client distribution only (from PyPI: confluent-kafka, websockets)."""
    env_dir = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(ROOT / "client")],
        check=True,
    )  # fmt: skip
    return env_dir / "bin"


@pytest.fixture(scope="module")
def reader(settings: Settings, server_url: str) -> tuple[str, str]:
    return make_credential(settings, make_user(settings), "all")


@pytest.fixture(scope="module")
def publish(settings: Settings, server_url: str) -> Iterator[Callable[[str], str]]:
    """Publish a GUANO alert over HTTP, as a mission would; returns its id."""
    user = make_user(settings, groups=["producers.gcn"])
    token = get_token(server_url, *make_credential(settings, user))
    with httpx.Client(base_url=server_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as client:  # fmt: skip

        def send(tag: str) -> str:
            response = client.post(f"/api/v1/topics/{GUANO_TOPIC}/alerts", json=guano(tag))
            assert response.status_code == 201, response.text
            alert_id: str = response.json()["id"]
            return alert_id

        yield send


def readme_example(heading: str, marker: str) -> str:
    """The README's Python block under ``heading`` that contains ``marker``."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    (block,) = [block for block in blocks if marker in block]
    return block


def with_credential(code: str, server: str, client_id: str, secret: str) -> str:
    for placeholder, value in (
        ("https://skyalert.example.org", server),
        ("your client id", client_id),
        ("your client secret", secret),
    ):
        assert placeholder in code  # fmt: skip
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
            process.kill()
    raise AssertionError(f"{command[0]} ended without printing {text}")


def test_the_client_venv_cannot_import_server_code(bin_dir: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util, skyalert.client\n"
        "server = [m for m in ('skyalert.broker', 'skyalert.auth', 'skyalert.web',"
        " 'skyalert.schemas') if importlib.util.find_spec(m) is not None]\n"
        "print('server:', server)\n"
    )
    result = subprocess.run([str(bin_dir / "python"), "-I", "-c", probe], capture_output=True,
                            text=True, check=True, cwd=tmp_path)  # fmt: skip
    assert result.stdout.strip() == "server: []"
    installed = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
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
    server_url: str,
    reader: tuple[str, str],
    publish: Callable[[str], str],
    tmp_path: Path,
    heading: str,
    marker: str,
) -> None:
    alert_id = publish(uuid.uuid4().hex)
    script = tmp_path / "example.py"
    script.write_text(with_credential(readme_example(heading, marker), server_url, *reader))
    line = first_line_with([str(bin_dir / "python"), "-I", "-u", str(script)], alert_id, tmp_path)
    assert line.split()[:2] == [GUANO_TOPIC, alert_id]


def test_the_cli_prints_json_and_resumes_after_a_restart(
    bin_dir: Path,
    server_url: str,
    reader: tuple[str, str],
    publish: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SKYALERT_CLIENT_ID", reader[0])
    monkeypatch.setenv("SKYALERT_CLIENT_SECRET", reader[1])
    tags = [uuid.uuid4().hex for _ in range(3)]
    only = json.dumps({"field": "id.0", "op": "in", "value": tags})
    cli = [str(bin_dir / "skyalert-client"), "listen", "--server", server_url, GUANO_TOPIC,
           "--filter", only, "--count", "1"]  # fmt: skip

    def listen(*extra: str) -> dict[str, Any]:
        done = subprocess.run([*cli, *extra], capture_output=True, text=True, timeout=90,
                              check=True, cwd=tmp_path)  # fmt: skip
        printed: dict[str, Any] = json.loads(done.stdout)
        return printed

    first = publish(tags[0])
    over_kafka = listen("--group-id", f"{reader[0]}.fresh")
    assert over_kafka["id"] == first
    assert over_kafka["topic"] == GUANO_TOPIC
    assert over_kafka["alert"]["id"] == [tags[0]]
    assert listen("--websocket", "--since", "10m")["id"] == first
    second = publish(tags[1])
    third = publish(tags[2])
    assert listen("--websocket")["id"] == second  # resumed after the first: no repeat
    assert listen("--websocket")["id"] == third  # and after the second: no gap
