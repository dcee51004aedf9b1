"""The bulk archive: every circular as GCN's JSON or text form in a ``.tar.gz``, rebuilt on change.

The JSON archive has the layout :mod:`.importer` reads (``archive.json/<n>.json``), so one
skyalert can mirror another. Built files are cached under the var folder, named by a stamp of
the table (count, highest number, latest edit): a new circular or a correction makes a new one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.circulars.forms import gcn_json, gcn_text, to_ms
from skyalert.broker.circulars.models import Circular

Kind = Literal["json", "txt"]
BATCH = 500


def stamp(session: Session) -> str:
    """Changes whenever a circular is added, corrected or withdrawn."""
    count, top, edited, versions, withdrawn = session.execute(
        select(
            func.count(Circular.number),
            func.max(Circular.number),
            func.max(Circular.edited_at),
            func.sum(Circular.version),
            func.count(Circular.withdrawn_at),
        )
    ).one()
    seen = f"{count}:{top}:{to_ms(edited) if edited else 0}:{versions}:{withdrawn}"
    return hashlib.sha256(seen.encode()).hexdigest()[:16]


def archive_path(sessions: sessionmaker[Session], folder: Path, kind: Kind) -> Path:
    """The current archive of this kind, built first if the circulars changed since."""
    with sessions() as session:
        current = stamp(session)
    path = folder / f"archive.{kind}.{current}.tar.gz"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        _build(sessions, path, kind)
        for old in folder.glob(f"archive.{kind}.*.tar.gz"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


def _build(sessions: sessionmaker[Session], path: Path, kind: Kind) -> None:
    handle, staging = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(handle)
    try:
        with tarfile.open(staging, "w:gz") as tar, sessions() as session:
            query = (
                select(Circular)
                .where(Circular.withdrawn_at.is_(None))
                .order_by(Circular.number)
                .execution_options(yield_per=BATCH)
            )
            for circular in session.scalars(query):
                if kind == "json":
                    document = gcn_json(circular, circular.submitted_how)
                    content = json.dumps(document, indent=2, ensure_ascii=False).encode()
                else:
                    content = gcn_text(circular).encode()
                info = tarfile.TarInfo(f"archive.{kind}/{circular.number}.{kind}")
                info.size = len(content)
                info.mtime = int((circular.edited_at or circular.created_at).timestamp())
                tar.addfile(info, io.BytesIO(content))
        Path(staging).replace(path)
    finally:
        Path(staging).unlink(missing_ok=True)
