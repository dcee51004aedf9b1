"""Run generated code as a user would, and wait for a line it prints."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


class Running:
    """A child process whose output lines are collected by a thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        start = time.monotonic()
        for line in self.process.stdout:
            self.lines.put(f"[{time.monotonic() - start:6.2f}s] {line}")

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line containing ``text``; fails with everything printed so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        output = "".join(self.seen[-40:])
        raise AssertionError(f"{text!r} was not printed; exit {self.process.poll()}:\n{output}")


@contextmanager
def running(args: list[str], env: Mapping[str, str]) -> Iterator[Running]:
    process = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env),
        start_new_session=True,
    )
    try:
        yield Running(process)
    finally:
        # Ctrl-C, as a user stops it, to the whole process group (a shell script's children
        # too): the program leaves its consumer group cleanly.
        with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
