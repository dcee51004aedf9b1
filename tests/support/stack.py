"""``skyalert up`` run as a user runs it, for tests: a real subprocess read line by line."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.kafka_node import KAFKA_VERSION, free_port


def var_with_jars(var: Path, classpath: str) -> Path:
    """A var folder sharing the Kafka jars fetched once for the run; the rest is its own."""
    (var / "kafka").mkdir(parents=True, exist_ok=True)
    (var / "kafka" / f"jars-{KAFKA_VERSION}").symlink_to(
        Path(classpath.removesuffix("/*")), target_is_directory=True
    )
    return var


class Up:
    """A running `skyalert up`, its output read line by line without blocking the test."""

    def __init__(self, var: Path, port: int, *args: str, **env: str) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "skyalert.broker.run.cli", "up", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **os.environ,
                "SKYALERT_VAR_DIR": str(var),
                "SKYALERT_PORT": str(port),
                "SKYALERT_HEARTBEAT_INTERVAL": "0.2",
                # Not GCN Classic's 8099/8098: stacks of other test runs may hold those.
                "SKYALERT_VTP_PORT": str(free_port()),
                "SKYALERT_VTP_AUTHOR_PORT": str(free_port()),
                **env,
            },
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"skyalert up ended before {pattern!r}:\n" + self._tail())
            self.output.append(line)
            if found := re.search(pattern, line):
                return found
        pytest.fail(f"no {pattern!r} within {timeout} s:\n" + self._tail())

    def _tail(self, lines: int = 60) -> str:
        """The end of the output, where the reason is: CI shows only so much of a failure."""
        return "\n".join(self.output[-lines:])

    def started(self) -> dict[str, str]:
        self.wait_for(r"skyalert is up", timeout=240)
        text = "\n".join(self.output)
        portal = re.search(r"portal\s+(\S+)", text)
        bootstrap = re.search(r"Kafka bootstrap\s+(\S+)", text)
        assert portal is not None
        assert bootstrap is not None
        return {
            "portal": portal.group(1),
            "bootstrap": bootstrap.group(1),
            "pids": " ".join(re.findall(r"pid (\d+)", text)),
        }

    def pid_of(self, name: str) -> int:
        """The pid ``skyalert up`` printed for the process ``name`` (``web-1``, ``mirror``…)."""
        found = re.search(rf"^\s+{re.escape(name)}\s+pid (\d+), log ", "\n".join(self.output), re.M)
        assert found is not None, f"skyalert up printed no pid for {name}"
        return int(found.group(1))

    def interrupt(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.finished(timeout)

    def finished(self, timeout: float = 20.0) -> int:
        """The exit status, once the process ended and all its output was read."""
        code = self.process.wait(timeout)
        self.reader.join(5)
        assert self.process.stdout is not None
        self.process.stdout.close()
        while (line := self.lines.get_nowait() if not self.lines.empty() else None) is not None:
            self.output.append(line)
        return code


@dataclass(frozen=True)
class UpStack:
    """A started ``skyalert up``: its output, portal URL, and settings reaching its database
    and Kafka (the services' login)."""

    up: Up
    url: str
    settings: Settings


@contextmanager
def up_stack(var: Path, *args: str, **env: str) -> Iterator[UpStack]:
    """``skyalert up`` in ``var`` on a free port, until the block ends (Ctrl-C, checked)."""
    port = free_port()
    up = Up(var, port, *args, **env)
    try:
        info = up.started()
        settings = Settings(var_dir=var, port=port, kafka_bootstrap=info["bootstrap"])
        yield UpStack(up, info["portal"].rstrip("/"), settings)
    finally:
        assert up.interrupt(timeout=60) == 0
