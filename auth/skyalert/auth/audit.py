"""The audit log: credential and group changes, with who did them."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from skyalert.auth.models import AuditEntry

#: Actor names for changes nobody made in person.
CLI = "cli"
SYSTEM = "system"


def record(
    session: Session, actor: str, action: str, user_email: str, target: str = "", **detail: Any
) -> None:
    """Add an entry in the caller's transaction, so it exists exactly when the change does."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            user_email=user_email,
            target=target,
            detail=json.dumps(detail, sort_keys=True, default=str) if detail else "",
        )
    )
