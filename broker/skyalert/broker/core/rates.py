"""Rates as the settings write them: ``"10/minute"`` (rate limits of logins, tokens, publishing
and email)."""

from __future__ import annotations

from dataclasses import dataclass

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Rate:
    count: int
    #: Seconds.
    period: int
    text: str

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"10/minute"`` → 10 per 60 s (the settings check the format)."""
        count, _, unit = text.partition("/")
        return cls(int(count), PERIODS[unit], text)
