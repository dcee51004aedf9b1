"""The client distribution installs and imports alone, without any server code."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_client_venv_cannot_import_server(tmp_path: Path) -> None:
    env_dir = tmp_path / "client-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(ROOT / "client")],
        check=True,
    )  # fmt: skip
    probe = (
        "import importlib.util, skyalert.client\n"
        "server = [m for m in ('skyalert.broker', 'skyalert.auth', 'skyalert.web',"
        " 'skyalert.schemas') if importlib.util.find_spec(m) is not None]\n"
        "print('server:', server)\n"
    )
    result = subprocess.run(
        [str(python), "-I", "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert result.stdout.strip() == "server: []"
    installed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "skyalert-client==" in installed
    assert "\nskyalert==" not in "\n" + installed
    assert sys.executable != str(python)
