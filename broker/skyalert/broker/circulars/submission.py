"""Accepting a circular: the subject and body rules, the next number, versions on correction.

Subject rules follow GCN's (nasa-gcn/gcn.nasa.gov, circulars.lib.ts ``subjectIsValid``: a
mission or event keyword, no auto-reply or "RE:"/"Fwd:" subjects); the lists are ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from skyalert.broker.circulars.errors import (
    CircularConflict,
    CircularNotFound,
    CircularRefused,
    CircularTooLarge,
    CircularWithdrawn,
)
from skyalert.broker.circulars.events import event_rules
from skyalert.broker.circulars.models import FORMATS, Circular, CircularCounter, CircularVersion
from skyalert.broker.core.db import utcnow

SubmittedHow = Literal["web", "email", "api", "email-legacy"]

MAX_SUBJECT = 200
#: Replies, forwards and auto-replies are mail noise, not circulars (checked case-blind).
NOISE = re.compile(
    r"^\s*(re|fwd?|aw|sv|tr)\s*:|auto(matic)?[ -]?reply|out of (the )?office|vacation|"
    r"delivery (status )?notification|undeliverable|returned mail",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Draft:
    """A circular as its author wrote it, before it has a number."""

    subject: str
    body: str
    format: str = "text/plain"


def check_draft(draft: Draft, max_bytes: int) -> Draft:
    """The draft with tidied subject and body, or CircularRefused/CircularTooLarge saying why."""
    subject = " ".join(draft.subject.split())
    body = draft.body.replace("\r\n", "\n").strip("\n")
    size = len(subject.encode()) + len(body.encode())
    if size > max_bytes:
        raise CircularTooLarge(
            f"the circular has {size} bytes; the limit is {max_bytes}. Shorten the body and "
            "link to longer material (tables, images) instead."
        )
    if not subject:
        raise CircularRefused("the subject is empty; name the event first, e.g. 'GRB 251203A: …'")
    if len(subject) > MAX_SUBJECT:
        raise CircularRefused(
            f"the subject has {len(subject)} characters; keep it to {MAX_SUBJECT}"
        )
    if NOISE.search(subject):
        raise CircularRefused(
            "the subject looks like a reply, a forward or an automatic answer; write a new "
            "circular whose subject names the event (no 'RE:' or 'Fwd:')"
        )
    rules = event_rules()
    if rules.event_of(subject) is None and not rules.names_a_mission(subject):
        raise CircularRefused(
            "the subject names no event or mission; start it with the event, e.g. "
            "'GRB 251203A: Swift-XRT afterglow detection'"
        )
    if not body.strip():
        raise CircularRefused("the body is empty")
    if draft.format not in FORMATS:
        raise CircularRefused(f"the format must be one of {', '.join(FORMATS)}")
    return Draft(subject, body, draft.format)


def take_number(session: Session) -> int:
    """The next circular number; the counter row stays locked until the transaction ends."""
    number = session.execute(
        update(CircularCounter)
        .where(CircularCounter.id == 1)
        .values(next_number=CircularCounter.next_number + 1)
        .returning(CircularCounter.next_number)
    ).scalar_one()
    return number - 1


def keep_numbers_above(session: Session, number: int) -> None:
    """After an import kept ``number``: new circulars get higher numbers."""
    session.execute(
        update(CircularCounter)
        .where(CircularCounter.id == 1, CircularCounter.next_number <= number)
        .values(next_number=number + 1)
    )


def accept(
    session: Session,
    draft: Draft,
    submitter: str,
    sub: str | None,
    how: SubmittedHow,
    *,
    created_at: datetime | None = None,
    number: int | None = None,
) -> tuple[Circular, CircularVersion]:
    """Store a checked draft as version 1 of a new circular (the next number, unless given)."""
    event = event_rules().event_of(draft.subject)
    circular = Circular(
        number=take_number(session) if number is None else number,
        version=1,
        subject=draft.subject,
        event_id=event.id if event else None,
        body=draft.body,
        format=draft.format,
        submitter=submitter,
        sub=sub,
        submitted_how=how,
        created_at=created_at or utcnow(),
        edited_at=None,
        edited_by=None,
    )
    session.add(circular)
    session.flush()
    version = version_of(circular)
    session.add(version)
    return circular, version


def correct(
    session: Session, number: int, draft: Draft, editor: str, expected: int | None = None
) -> tuple[Circular, CircularVersion]:
    """A moderator's correction: a new version; every earlier one stays readable
    (``expected``: CircularConflict unless the circular is still at that version)."""
    circular = get(session, number, lock=True)
    if expected is not None and circular.version != expected:
        raise CircularConflict(
            f"circular {number} changed since this request was made (version {expected} is "
            f"now {circular.version}); reject it and ask for a request against the new text"
        )
    event = event_rules().event_of(draft.subject)
    circular.version += 1
    circular.subject, circular.body, circular.format = draft.subject, draft.body, draft.format
    circular.event_id = event.id if event else None
    circular.edited_at, circular.edited_by = utcnow(), editor
    session.flush()
    version = version_of(circular)
    session.add(version)
    return circular, version


def version_of(circular: Circular) -> CircularVersion:
    return CircularVersion(
        number=circular.number,
        version=circular.version,
        subject=circular.subject,
        event_id=circular.event_id,
        body=circular.body,
        format=circular.format,
        submitter=circular.submitter,
        created_at=circular.created_at,
        edited_at=circular.edited_at,
        edited_by=circular.edited_by,
    )


def get(session: Session, number: int, lock: bool = False) -> Circular:
    """A circular that may be shown (``lock``: row-locked until the transaction ends);
    CircularNotFound or CircularWithdrawn otherwise."""
    circular = session.get(Circular, number, with_for_update=lock)
    if circular is None:
        raise CircularNotFound(f"there is no circular {number}; see /circulars for the archive")
    if circular.withdrawn_at is not None:
        raise CircularWithdrawn(f"circular {number} was withdrawn by the moderators")
    return circular


def withdraw(session: Session, number: int) -> None:
    """Hide a circular (spam) from every list, search, feed and archive; keep its number."""
    circular = get(session, number, lock=True)
    circular.withdrawn_at = utcnow()


def versions(session: Session, number: int) -> list[CircularVersion]:
    return list(
        session.scalars(
            select(CircularVersion)
            .where(CircularVersion.number == number)
            .order_by(CircularVersion.version)
        )
    )


def get_version(session: Session, number: int, version: int) -> CircularVersion:
    found = session.get(CircularVersion, (number, version))
    if found is None:
        raise CircularNotFound(f"circular {number} has no version {version}")
    return found


def highest_number(session: Session) -> int:
    return session.scalar(select(func.max(Circular.number))) or 0
