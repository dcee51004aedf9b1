"""Rate limits of the email worker: per recipient address and for the whole deployment.

Counted from the send log in the database, over a sliding window, so every worker counts
together. Nothing is dropped: within a window a recipient gets at most ``limit`` mails, the
last of which folds every alert still waiting into one digest.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    """For one recipient: which waiting deliveries go alone, which wait for a digest."""

    singles: list[int]
    held: list[int]


def plan(waiting: list[int], left: int) -> Plan:
    """Split ``waiting`` (oldest first) given ``left`` mails in the recipient's window.

    Everything goes singly while it fits; otherwise all but the last free mail go singly and
    the rest is held for that last mail, a digest.
    """
    if left <= 0:
        return Plan([], [])
    if len(waiting) < left:
        return Plan(list(waiting), [])
    return Plan(list(waiting[: left - 1]), list(waiting[left - 1 :]))
