"""Why ingest refused a message: one error type that every edge (HTTP, dead letter) can render."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skyalert.broker.core.errors import SkyalertError
from skyalert.schemas.errors import LineError
from skyalert.schemas.validation import Violation

#: HTTP status for each reason; the dead-letter envelope and the rejections list carry the reason.
STATUS = {
    "too_large": 413,
    "unknown_topic": 404,
    "not_publishable": 403,
    "forbidden_topic": 403,
    "unsupported_content_type": 415,
    "bad_idempotency_key": 400,
    "malformed_json": 400,
    "malformed_voevent": 400,
    "malformed_text": 400,
    "schema_violation": 422,
    "invalid_voevent": 422,
    "invalid_text": 422,
    "invalid_packet": 422,
    "unknown_packet_type": 422,
    "wrong_packet_type": 422,
    "idempotency_conflict": 409,
    "unprocessable": 500,
}


class Rejected(SkyalertError):
    """A message broke its topic's data contract (or could not be routed); nothing was stored.

    ``violations`` locate schema problems by JSON pointer; ``errors`` locate syntax problems by
    line (and column).
    """

    def __init__(
        self,
        reason: str,
        detail: str,
        violations: Sequence[Violation] = (),
        errors: Sequence[LineError] = (),
    ) -> None:
        if reason not in STATUS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.violations = list(violations)
        self.errors = list(errors)

    @property
    def status(self) -> int:
        return STATUS[self.reason]

    def violations_json(self) -> list[dict[str, str]]:
        return [{"path": v.path, "message": v.message} for v in self.violations]

    def errors_json(self) -> list[dict[str, Any]]:
        out = []
        for error in self.errors:
            item: dict[str, Any] = {"line": error.line, "message": error.message}
            if error.column is not None:
                item["column"] = error.column
            out.append(item)
        return out
