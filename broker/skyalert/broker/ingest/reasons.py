"""Why ingest refused a message: one error type that every edge (HTTP, dead letter) can render."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from skyalert.broker.core.errors import SkyalertError
from skyalert.schemas.errors import LineError
from skyalert.schemas.validation import Violation


class Reason(StrEnum):
    """Machine-readable refusal reasons: problem+json ``reason``, the dead-letter envelope and
    header, the rejections list. A contract with publishers: add, never rename."""

    TOO_LARGE = "too_large"
    UNKNOWN_TOPIC = "unknown_topic"
    NOT_PUBLISHABLE = "not_publishable"
    FORBIDDEN_TOPIC = "forbidden_topic"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    BAD_IDEMPOTENCY_KEY = "bad_idempotency_key"
    AMBIGUOUS_HEADERS = "ambiguous_headers"
    MALFORMED_JSON = "malformed_json"
    MALFORMED_VOEVENT = "malformed_voevent"
    MALFORMED_TEXT = "malformed_text"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_VOEVENT = "invalid_voevent"
    INVALID_TEXT = "invalid_text"
    INVALID_PACKET = "invalid_packet"
    UNKNOWN_PACKET_TYPE = "unknown_packet_type"
    WRONG_PACKET_TYPE = "wrong_packet_type"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    UNPROCESSABLE = "unprocessable"
    UNAUTHORIZED = "unauthorized"


#: HTTP status for each reason.
STATUS = {
    Reason.TOO_LARGE: 413,
    Reason.UNKNOWN_TOPIC: 404,
    Reason.NOT_PUBLISHABLE: 403,
    Reason.FORBIDDEN_TOPIC: 403,
    Reason.UNSUPPORTED_CONTENT_TYPE: 415,
    Reason.BAD_IDEMPOTENCY_KEY: 400,
    Reason.AMBIGUOUS_HEADERS: 400,
    Reason.MALFORMED_JSON: 400,
    Reason.MALFORMED_VOEVENT: 400,
    Reason.MALFORMED_TEXT: 400,
    Reason.SCHEMA_VIOLATION: 422,
    Reason.INVALID_VOEVENT: 422,
    Reason.INVALID_TEXT: 422,
    Reason.INVALID_PACKET: 422,
    Reason.UNKNOWN_PACKET_TYPE: 422,
    Reason.WRONG_PACKET_TYPE: 422,
    Reason.IDEMPOTENCY_CONFLICT: 409,
    Reason.UNPROCESSABLE: 500,
    Reason.UNAUTHORIZED: 401,
}


class Rejected(SkyalertError):
    """A message broke its topic's data contract (or could not be routed); nothing was stored.

    ``violations`` locate schema problems by JSON pointer; ``errors`` locate syntax problems by
    line (and column).
    """

    def __init__(
        self,
        reason: Reason | str,
        detail: str,
        violations: Sequence[Violation] = (),
        errors: Sequence[LineError] = (),
    ) -> None:
        super().__init__(detail)
        self.reason = Reason(reason)  # an unknown one is a ValueError: a bug, not a refusal
        self.http_status = STATUS[self.reason]
        self.detail = detail
        self.violations = list(violations)
        self.errors = list(errors)

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
