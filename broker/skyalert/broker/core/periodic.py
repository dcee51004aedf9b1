"""A daemon thread that runs one action every few seconds until stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable


class Periodic:
    """Runs ``action`` every ``interval`` seconds once started; the action handles its own
    errors (a raised one ends the thread)."""

    def __init__(self, name: str, interval: float, action: Callable[[], None]) -> None:
        self.interval = interval
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop and wait for a round in progress (at most 5 s)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._action()
