"""Stopping cleanly: ``listen`` on Ctrl-C or SIGTERM without losing or repeating an alert, and
clients that tidy up at exit (a consumer leaves its group, a producer delivers what it holds)."""

from __future__ import annotations

__all__ = ["GracefulStop", "at_exit"]

import atexit
import logging
import signal
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


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


def at_exit(owner: object, action: Callable[[Any], None]) -> Callable[[], None]:
    """Run ``action(owner)`` when the interpreter exits, if ``owner`` is still alive then.

    Holds ``owner`` weakly. Returns the hook: pass it to ``atexit.unregister`` once the work is
    done by hand (a closed consumer must not be closed again).
    """
    ref = weakref.ref(owner)

    def hook() -> None:
        alive = ref()
        if alive is not None:
            try:
                action(alive)
            except Exception as exc:  # the program is ending; say why, do not mask its exit
                log.warning("could not finish cleanly at exit: %s", exc)

    atexit.register(hook)
    return hook
