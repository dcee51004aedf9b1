"""A circular's public forms: GCN's JSON form, GCN's plain-text form, the byline, the citation.

Field names and the text layout (TITLE/NUMBER/SUBJECT/DATE/FROM) are GCN's, as its archive serves
them (nasa-gcn/gcn.nasa.gov, app/routes/circulars/circulars.lib.ts: ``formatCircularText``,
``formatAuthor``: "Name at Affiliation <email>").
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

#: GCN's archive notes times in milliseconds since 1970 UTC.
MS = 1000


class CircularText(Protocol):
    """What every form needs; both the current text and any version have it."""

    number: int
    version: int
    subject: str
    event_id: str | None
    body: str
    format: str
    submitter: str
    created_at: datetime
    edited_at: datetime | None
    edited_by: str | None


def byline(name: str, affiliation: str, email: str) -> str:
    """The submitter as GCN shows them: ``Name at Affiliation <email>``."""
    name, affiliation = " ".join(name.split()), " ".join(affiliation.split())
    if not name:
        return email
    if not affiliation:
        return f"{name} <{email}>"
    return f"{name} at {affiliation} <{email}>"


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * MS)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / MS, UTC)


def gcn_json(circular: CircularText, submitted_how: str | None = None) -> dict[str, Any]:
    """GCN's JSON form of one version (what ``gcn.circulars`` carries and ``.json`` serves)."""
    document: dict[str, Any] = {
        "circularId": circular.number,
        "subject": circular.subject,
        "submitter": circular.submitter,
        "createdOn": to_ms(circular.created_at),
        "body": circular.body,
        "format": circular.format,
        "version": circular.version,
    }
    if circular.event_id:
        document["eventId"] = circular.event_id
    if submitted_how:
        document["submittedHow"] = submitted_how
    if circular.edited_at is not None:
        document["editedOn"] = to_ms(circular.edited_at)
    if circular.edited_by:
        document["editedBy"] = circular.edited_by
    return document


def gcn_text(circular: CircularText) -> str:
    """GCN's plain-text form, as circulars have been mailed since 1997."""
    date = circular.created_at.astimezone(UTC).strftime("%y/%m/%d %H:%M:%S GMT")
    return (
        f"TITLE:   GCN CIRCULAR\n"
        f"NUMBER:  {circular.number}\n"
        f"SUBJECT: {circular.subject}\n"
        f"DATE:    {date}\n"
        f"FROM:    {circular.submitter}\n\n"
        f"{circular.body}\n"
    )


def citation(circular: CircularText) -> str:
    """How to cite it, in the form astronomers use (``GCN Circ. 40001``)."""
    author = circular.submitter.split(" <", 1)[0].split(" at ", 1)[0]
    year = circular.created_at.astimezone(UTC).year
    return f"{author}, GCN Circ. {circular.number} ({year}): {circular.subject}"
