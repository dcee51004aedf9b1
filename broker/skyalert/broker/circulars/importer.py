"""Mirror GCN's circulars archive: load its JSON form (one file per circular) keeping numbers.

GCN's bulk archive (gcn.nasa.gov/circulars, "archive.json.tar.gz") holds one ``<n>.json`` per
circular with ``circularId``, ``subject``, ``body``, ``submitter``, ``createdOn`` (ms since 1970)
and optionally ``eventId``, ``format``, ``submittedHow``, ``version``, ``editedOn``, ``editedBy``
(field names: nasa-gcn/gcn.nasa.gov, app/routes/circulars/circulars.lib.ts, ``Circular``).
Numbers already here are skipped, so a second run adds nothing. Imports are not re-streamed.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.circulars import search, submission
from skyalert.broker.circulars.errors import CircularError
from skyalert.broker.circulars.events import event_of
from skyalert.broker.circulars.forms import from_ms
from skyalert.broker.circulars.models import FORMATS, Circular

BATCH = 500
#: One circular file larger than this is refused unread (GCN's largest are a few hundred kB).
MAX_FILE = 4 * 1024 * 1024
HOW = frozenset({"web", "email", "email-legacy", "api"})


@dataclass
class ImportReport:
    added: int = 0
    skipped: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seen(self) -> int:
        return self.added + self.skipped + len(self.refused)


def files_of(source: Path) -> Iterator[tuple[str, bytes]]:
    """``(name, content)`` of each ``.json`` file in a folder or a ``.tar.gz``; never extracts."""
    if source.is_dir():
        for path in sorted(source.rglob("*.json")):
            if path.stat().st_size > MAX_FILE:
                yield str(path), b""
            else:
                yield str(path), path.read_bytes()
        return
    try:
        with tarfile.open(source, "r:*") as archive:
            for member in archive:
                if not (member.isfile() and member.name.endswith(".json")):
                    continue
                stream = archive.extractfile(member) if member.size <= MAX_FILE else None
                yield member.name, stream.read() if stream is not None else b""
    except (tarfile.TarError, OSError) as exc:
        raise CircularError(
            f"cannot read {source}: {exc}; give a folder of .json files or a .tar.gz of them"
        ) from exc


def parse(content: bytes) -> Circular:
    """One circular from GCN's JSON form; ValueError says what is wrong."""
    if not content:
        raise ValueError(f"empty, or larger than {MAX_FILE} bytes")
    data: Any = json.loads(content)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    number, created = data.get("circularId"), data.get("createdOn")
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise ValueError("circularId is not a positive integer")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise ValueError("createdOn is not milliseconds since 1970")
    texts = {k: data.get(k) for k in ("subject", "body", "submitter")}
    missing = [k for k, v in texts.items() if not isinstance(v, str) or not v.strip()]
    if missing:
        raise ValueError(f"{', '.join(missing)} missing or empty")
    form = data.get("format", "text/plain")
    how = data.get("submittedHow", "email-legacy")
    edited = data.get("editedOn")
    return Circular(
        number=number,
        version=int(data.get("version") or 1),
        subject=str(texts["subject"])[:1000],
        event_id=_event_id(data.get("eventId"), str(texts["subject"])),
        body=str(texts["body"]),
        format=form if form in FORMATS else "text/plain",
        submitter=str(texts["submitter"])[:800],
        sub=None,
        submitted_how=how if how in HOW else "email-legacy",
        created_at=from_ms(int(created)),
        edited_at=from_ms(int(edited)) if isinstance(edited, int | float) else None,
        edited_by=str(data["editedBy"])[:800] if data.get("editedBy") else None,
    )


def _event_id(given: object, subject: str) -> str | None:
    if isinstance(given, str) and given.strip():
        return given.strip()[:100]
    event = event_of(subject)
    return event.id if event else None


def import_archive(
    sessions: sessionmaker[Session],
    source: Path,
    progress: Callable[[ImportReport], None] = lambda report: None,
) -> ImportReport:
    """Load every circular of ``source`` not yet here; report what was added, skipped, refused."""
    report = ImportReport()
    batch: list[tuple[str, Circular]] = []
    for name, content in files_of(source):
        try:
            batch.append((name, parse(content)))
        except ValueError as exc:  # json.JSONDecodeError is one
            report.refused.append((name, str(exc)))
        if len(batch) >= BATCH:
            _store(sessions, batch, report)
            batch = []
            progress(report)
    _store(sessions, batch, report)
    progress(report)
    return report


def _store(
    sessions: sessionmaker[Session], batch: list[tuple[str, Circular]], report: ImportReport
) -> None:
    if not batch:
        return
    numbers = [c.number for _, c in batch]
    with sessions.begin() as session:
        present = set(session.scalars(select(Circular.number).where(Circular.number.in_(numbers))))
        added: list[int] = []
        for _name, circular in batch:
            if circular.number in present:
                report.skipped += 1
                continue
            present.add(circular.number)
            session.add(circular)
            session.add(submission.version_of(circular))
            added.append(circular.number)
        session.flush()
        search.index(session, added)
        if added:
            submission.keep_numbers_above(session, max(added))
        report.added += len(added)
