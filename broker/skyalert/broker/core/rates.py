"""Rates as the settings write them (``"10/minute"``: rate limits of logins, tokens, publishing
and email), and fixed-window counts kept in memory."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
FORMAT = re.compile(r"^(\d+)/(second|minute|hour|day)$")


@dataclass(frozen=True)
class Rate:
    count: int
    #: Seconds.
    period: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/minute"`` → 10 per 60 s."""
        found = FORMAT.match(text.strip())
        if found is None:
            raise ValueError(f"{text!r} is not a rate: write N/second, N/minute, N/hour or N/day")
        return cls(int(found.group(1)), PERIODS[found.group(2)], found.group(0))

    @classmethod
    def setting(cls, value: Any) -> Rate:
        """A settings value: parsed once, when the settings are read."""
        return value if isinstance(value, Rate) else cls.parse(str(value))

    def __str__(self) -> str:
        return self.text


@dataclass
class _Window:
    start: int
    period: int
    #: Every process's count as last heard from the shared store, plus what this one sent since.
    shared: int = 0
    #: This process's hits not yet sent to the shared store.
    unsent: int = 0


@dataclass(frozen=True)
class Delta:
    """Hits of one bucket's window to add to the shared store."""

    bucket: str
    window: int
    period: int
    hits: int


class LocalCounts:
    """Fixed-window counts kept in this process's memory, merged with a shared store by whoever
    calls :meth:`drain` and :meth:`heard` (no I/O here: a hit costs a dictionary look-up)."""

    def __init__(self) -> None:
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, rate: Rate, now: float) -> tuple[int, int]:
        """Count one hit; returns the window's count over every process as far as known, and
        the seconds until the window ends."""
        start = int(now // rate.period * rate.period)
        with self._lock:
            window = self._windows.get(bucket)
            if window is None or window.start != start:
                window = self._windows[bucket] = _Window(start, rate.period)
            window.unsent += 1
            count = window.shared + window.unsent
        return count, max(1, int(start + rate.period - now))

    def knows(self, bucket: str, rate: Rate, now: float) -> bool:
        """Whether this process holds ``bucket``'s current window (else: ask the store once)."""
        window = self._windows.get(bucket)
        return window is not None and window.start == int(now // rate.period * rate.period)

    def seed(self, bucket: str, rate: Rate, now: float, total: int) -> None:
        """Start ``bucket``'s current window from the shared store's count of it."""
        start = int(now // rate.period * rate.period)
        with self._lock:
            window = self._windows.get(bucket)
            if window is None or window.start != start:
                window = self._windows[bucket] = _Window(start, rate.period)
            window.shared = max(window.shared, total)

    def drain(self, now: float) -> list[Delta]:
        """Take the unsent hits (counted as shared from now on); forget finished windows."""
        with self._lock:
            deltas = [
                Delta(bucket, w.start, w.period, w.unsent)
                for bucket, w in self._windows.items()
                if w.unsent
            ]
            for window in self._windows.values():
                window.shared += window.unsent
                window.unsent = 0
            self._windows = {b: w for b, w in self._windows.items() if w.start + w.period > now}
        return deltas

    def windows(self) -> list[tuple[str, int]]:
        """The (bucket, window start) pairs this process holds."""
        with self._lock:
            return [(bucket, w.start) for bucket, w in self._windows.items()]

    def heard(self, bucket: str, window: int, total: int) -> None:
        """The shared store's count of a window after this process's hits were added."""
        with self._lock:
            found = self._windows.get(bucket)
            if found is not None and found.start == window:
                found.shared = max(found.shared, total)
