"""The running stack's addresses, left in the var folder by ``skyalert up`` for other commands.

A second terminal's ``skyalert credentials create`` (or ``publish``, ``acls sync``, …) in the
same checkout reads them, so it talks to the Kafka and the port that stack uses. ``skyalert up``
holds an exclusive lock on the file for as long as it runs: a file nobody holds (the stack was
killed) is stale and ignored, and a second ``skyalert up`` in the same folder is refused.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from skyalert.broker.core.errors import SkyalertError

FILE = "running.json"


class StackAlreadyRunning(SkyalertError):
    """``skyalert up`` already runs with this var folder."""


class RunningStack:
    """The file a running ``skyalert up`` holds: claimed at start, removed at stop."""

    def __init__(self, var_dir: Path) -> None:
        self.path = var_dir / FILE
        self._file: IO[str] | None = None

    def claim(self) -> None:
        """Take the lock, or say which stack holds it."""
        # It may hold secrets the stack runs with (a database password): owner only.
        handle = os.fdopen(
            os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "a+", encoding="utf-8"
        )
        if not _lock_soon(handle):
            handle.seek(0)
            said = _parse(handle.read())
            handle.close()
            raise StackAlreadyRunning(
                f"skyalert is already running here (pid {said.get('pid', '?')}, "
                f"port {said.get('SKYALERT_PORT', '?')}); "
                "stop it first (Ctrl-C in its terminal), or give this one another "
                "SKYALERT_VAR_DIR"
            ) from None
        self._file = handle

    def publish(self, environment: Mapping[str, str]) -> None:
        """Write the settings other commands should use (``SKYALERT_*`` variables)."""
        assert self._file is not None, "claim() first"
        self._file.seek(0)
        self._file.truncate()
        json.dump({**environment, "pid": str(os.getpid())}, self._file, indent=1)
        self._file.flush()

    def release(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._file.close()
        self._file = None


def _lock_soon(handle: IO[str], tries: int = 20) -> bool:
    """The exclusive lock, waiting out a reader's brief shared one (not a live stack's)."""
    for _ in range(tries):
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            time.sleep(0.05)
        else:
            return True
    return False


def running_environment(var_dir: Path) -> dict[str, str]:
    """The ``SKYALERT_*`` variables a live ``skyalert up`` left here; empty when none runs."""
    try:
        handle = (var_dir / FILE).open(encoding="utf-8")
    except FileNotFoundError:
        return {}
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: the stack is alive
            said = _parse(handle.read())
            said.pop("pid", None)
            return said
        return {}  # nobody holds it: left behind by a stack that was killed


def _parse(text: str) -> dict[str, str]:
    try:
        found = json.loads(text)
    except ValueError:  # being written at this moment
        return {}
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}
