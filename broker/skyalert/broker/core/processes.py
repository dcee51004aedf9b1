"""Child processes that die with their parent and stop cleanly as a group."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel send SIGTERM to the child if ``skyalert up`` itself dies."""
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = 5.0) -> None:
        stop_process_group(self.process, timeout)

    def log_tail(self, lines: int = 15) -> str:
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])


def spawn(name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Child:
    """Start ``argv`` in its own session with output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            list(argv),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
        )
    return Child(name, process, log)


def stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a child started with ``start_new_session`` and everything it spawned.

    SIGTERM for a clean shutdown, SIGKILL after ``timeout`` seconds.
    """
    if process.poll() is not None:
        _kill_group(process.pid)
        return
    _signal_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.wait()
    else:
        _kill_group(process.pid)  # the leader is gone; nothing it spawned may linger


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _kill_group(pgid: int) -> None:
    _signal_group(pgid, signal.SIGKILL)
