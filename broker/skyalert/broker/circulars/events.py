"""Event ids derived from a circular's subject, by the name patterns in ``event_patterns.json``.

The idea (and the normalised forms such as ``GRB 251203A`` or ``IceCube-250101A``) follows GCN's
own circulars app, which derives ``eventId`` from the subject (nasa-gcn/gcn.nasa.gov,
app/routes/circulars/circulars.lib.ts, ``parseEventFromSubject``); the patterns here are our own
data. The event named first in the subject wins.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

CaseRule = Literal["upper", "lower", "keep"]


@dataclass(frozen=True)
class EventPattern:
    kind: str
    pattern: re.Pattern[str]
    name: str
    case: CaseRule
    notice_field: str | None = None

    def event(self, match: re.Match[str]) -> Event:
        found = match.groupdict()
        key = found["id"]
        key = key.upper() if self.case == "upper" else key
        key = key.lower() if self.case == "lower" else key
        name = self.name.format(id=key, observatory=found.get("observatory") or "")
        return Event(name, self.kind, (self.notice_field, key) if self.notice_field else None)


@dataclass(frozen=True)
class Event:
    """An event named in a subject: its normalised id and its kind (``grb``, ``gw``, …)."""

    id: str
    kind: str
    #: ``(field, value)`` of JSON notices about the same event, when notices carry its id.
    notice_key: tuple[str, str] | None = None


@dataclass(frozen=True)
class EventRules:
    patterns: tuple[EventPattern, ...]
    keywords: tuple[str, ...]

    def event_of(self, subject: str) -> Event | None:
        """The event the subject names first, or None."""
        best: tuple[int, int, Event] | None = None
        for order, rule in enumerate(self.patterns):
            match = rule.pattern.search(subject)
            if match is not None and (best is None or match.start() < best[0]):
                best = (match.start(), order, rule.event(match))
        return best[2] if best else None

    def names_a_mission(self, subject: str) -> bool:
        """True when a mission or event-class keyword stands in the subject as a word."""
        return any(
            re.search(rf"(?<![A-Za-z]){re.escape(k)}(?![A-Za-z])", subject, re.IGNORECASE)
            for k in self.keywords
        )

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(p.kind for p in self.patterns)


@cache
def event_rules() -> EventRules:
    """The packaged patterns, compiled once."""
    text = resources.files(__package__).joinpath("event_patterns.json").read_text("utf-8")
    data = json.loads(text)
    patterns = tuple(
        EventPattern(
            p["kind"],
            re.compile(p["pattern"], re.IGNORECASE),
            p["name"],
            p["case"],
            p.get("notice_field"),
        )
        for p in data["patterns"]
    )
    return EventRules(patterns, tuple(data["keywords"]))


def event_of(subject: str) -> Event | None:
    return event_rules().event_of(subject)
