"""Stopping ``skyalert-client listen`` (Ctrl-C, SIGTERM) without losing or repeating an alert."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class GracefulStop:
    """While installed, SIGINT and SIGTERM stop the program at once, except inside
    :meth:`handling`: an alert being written out is finished (and committed) first."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._busy = False
        self._deferred: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():  # signals: main thread only
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @contextmanager
    def handling(self) -> Iterator[None]:
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
        if self._deferred is not None:
            self._stop(self._deferred)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self._busy:
            self._deferred = signum
        else:
            self._stop(signum)

    @staticmethod
    def _stop(signum: int) -> None:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
