"""Rates as the settings write them: ``"10/minute"`` (rate limits of logins, tokens, publishing
and email)."""

from __future__ import annotations

import re
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
