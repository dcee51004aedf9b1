"""Where the client keeps its files: config (login), cache (discovery) and state (places)."""

from __future__ import annotations

__all__ = ["cache_dir", "config_dir", "state_dir", "write_private"]

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

APP = "skyalert-client"


def _home_dir(variable: str, *fallback: str) -> Path:
    value = os.environ.get(variable)
    return Path(value) if value else Path.home().joinpath(*fallback)


def _user_dir(kind: str, places: Mapping[str, Callable[[], Path]]) -> Path:
    """``$SKYALERT_CLIENT_<KIND>_DIR``, else the platform's folder for that kind of file
    (``places`` by ``sys.platform``; ``"*"`` for the XDG rules of Linux and the BSDs)."""
    override = os.environ.get(f"SKYALERT_CLIENT_{kind}_DIR")
    if override:
        return Path(override)
    return places.get(sys.platform, places["*"])()


def config_dir() -> Path:
    """``$SKYALERT_CLIENT_CONFIG_DIR``, else the platform's per-user config folder."""
    return _user_dir(
        "CONFIG",
        {
            "win32": lambda: _home_dir("APPDATA", "AppData", "Roaming") / APP,
            "darwin": lambda: Path.home() / "Library" / "Application Support" / APP,
            "*": lambda: _home_dir("XDG_CONFIG_HOME", ".config") / APP,
        },
    )


def cache_dir() -> Path:
    """``$SKYALERT_CLIENT_CACHE_DIR``, else the platform's per-user cache folder."""
    return _user_dir(
        "CACHE",
        {
            "win32": lambda: _home_dir("LOCALAPPDATA", "AppData", "Local") / APP / "Cache",
            "darwin": lambda: Path.home() / "Library" / "Caches" / APP,
            "*": lambda: _home_dir("XDG_CACHE_HOME", ".cache") / APP,
        },
    )


def state_dir() -> Path:
    """``$SKYALERT_CLIENT_STATE_DIR``, else the platform's per-user state folder (where
    ``listen --websocket`` keeps its place)."""
    return _user_dir(
        "STATE",
        {
            "win32": lambda: _home_dir("LOCALAPPDATA", "AppData", "Local") / APP / "State",
            "darwin": lambda: Path.home() / "Library" / "Application Support" / APP / "state",
            "*": lambda: _home_dir("XDG_STATE_HOME", ".local", "state") / APP,
        },
    )


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a file atomically, readable by its owner only (for secrets) unless told otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            if hasattr(os, "fchmod"):  # a stale partial file may have had wider permissions
                os.fchmod(out.fileno(), mode)
            out.write(data)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
