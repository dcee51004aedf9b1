"""Why the bytes of an alert cannot be read in their format: one line-numbered problem each."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class LineError:
    """One problem with a message, at a line of the document as sent (1-based) when known."""

    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "document"
        if self.line is not None and self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class FormatRejected(ValueError):
    """The bytes are not an acceptable message of their format.

    ``reason`` is machine-readable (``malformed_json``, ``invalid_voevent``, ``invalid_packet``…),
    ``detail`` one sentence for the sender, ``errors`` every problem found.
    """

    def __init__(self, reason: str, errors: Iterable[LineError], detail: str = "") -> None:
        self.reason = reason
        self.errors = list(errors)
        self.detail = detail or "; ".join(str(e) for e in self.errors)
        super().__init__(self.detail)


def summary(errors: list[LineError]) -> str:
    """The first problem, and how many more there are."""
    more = len(errors) - 1
    return str(errors[0]) + (f" (and {more} more)" if more > 0 else "")
