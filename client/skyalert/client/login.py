"""The stored login of ``skyalert-client login``: server and credential, readable by you only."""

from __future__ import annotations

__all__ = ["Login", "load_login", "login_file", "save_login"]

import json
import logging
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from skyalert.client.errors import ConfigurationError
from skyalert.client.paths import config_dir, write_private

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Login:
    server: str
    client_id: str
    client_secret: str


def login_file() -> Path:
    return config_dir() / "login.json"


def save_login(login: Login) -> Path:
    path = login_file()
    write_private(path, json.dumps(asdict(login), indent=2).encode() + b"\n", mode=0o600)
    return path


def load_login() -> Login | None:
    """The stored login, or None if there is none."""
    path = login_file()
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None
    if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by others; run: chmod 600 %s", path, path)
    try:
        saved = json.loads(text)
        return Login(str(saved["server"]), str(saved["client_id"]), str(saved["client_secret"]))
    except (ValueError, KeyError, TypeError):
        raise ConfigurationError(f"{path} is damaged; run `skyalert-client login` again") from None
