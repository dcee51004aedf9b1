"""``skyalert circulars import``: GCN's JSON archive form, numbers kept, idempotent, reported."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from skyalert.broker.circulars import export, search, submission
from skyalert.broker.circulars.forms import gcn_json
from skyalert.broker.circulars.importer import import_archive
from skyalert.broker.circulars.models import Circular, CircularVersion
from skyalert.broker.circulars.submission import Draft
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings
from skyalert.broker.run.cli import main

# A real circular's metadata in GCN's JSON form (as GCN's Kafka topic carried it; the body is
# shortened): GCN Circular 37354.
REAL = {
    "subject": "LIGO/Virgo/KAGRA S240830gn: Identification of a GW compact binary merger candidate",
    "eventId": "LIGO/Virgo/KAGRA S240830gn",
    "submittedHow": "web",
    "createdOn": 1725054211876,
    "circularId": 37354,
    "submitter": "Person at Institution <email@domain>",
    "format": "text/plain",
    "body": "The LIGO Scientific Collaboration, the Virgo Collaboration, and the KAGRA "
    "Collaboration report: we identified the compact binary merger candidate S240830gn.",
}


def generated(number: int) -> dict[str, object]:
    return {
        "circularId": number,
        "subject": f"GRB {240000 + number % 10000:06d}A: Swift-XRT afterglow detection",
        "body": f"Circular {number}: the XRT found an uncatalogued, fading X-ray source.",
        "submitter": f"Observer {number % 37} at Observatory {number % 11} <o{number}@example.org>",
        "createdOn": 1700000000000 + number * 60_000,
    }


def archive(path: Path, documents: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, content in documents:
            info = tarfile.TarInfo(f"archive.json/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path


def as_file(document: dict[str, object]) -> tuple[str, bytes]:
    return f"{document['circularId']}.json", json.dumps(document).encode()


BROKEN = [
    ("broken.json", b"{not json"),
    ("list.json", b"[1, 2]"),
    ("nosubject.json", json.dumps({**generated(9), "subject": ""}).encode()),
    ("badid.json", json.dumps({**generated(9), "circularId": "nine"}).encode()),
    ("README.txt", b"not a circular, not counted"),
]


def test_import_keeps_numbers_is_idempotent_and_moves_the_counter(
    empty_database: Settings, tmp_path: Path
) -> None:
    documents = [as_file(generated(n)) for n in range(100, 400)] + [as_file(REAL)]
    path = archive(tmp_path / "archive.json.tar.gz", documents)
    engine = make_engine(empty_database)
    try:
        check_import(make_sessionmaker(engine), path)
    finally:
        engine.dispose()


def check_import(sessions: sessionmaker[Session], path: Path) -> None:
    first = import_archive(sessions, path)
    assert (first.added, first.skipped, first.refused) == (301, 0, [])
    again = import_archive(sessions, path)
    assert (again.added, again.skipped) == (0, 301)
    with sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Circular)) == 301
        assert session.scalar(select(func.count()).select_from(CircularVersion)) == 301
        real = submission.get(session, 37354)
        assert real.event_id == "LIGO/Virgo/KAGRA S240830gn"
        assert real.created_at.timestamp() == 1725054211.876
        assert real.submitted_how == "web"
        assert submission.get(session, 250).event_id == "GRB 240250A"
        new, _ = submission.accept(
            session, Draft("GRB 251207A: note", "Body"), "Me <me@example.org>", None, "api"
        )
        assert new.number == 37355
    with sessions() as session:
        hits = search.run(session, search.Search('submitter:"Observer 5" body:uncatalogued'))
    assert {c.number for c in hits.circulars} <= set(range(100, 400))
    assert hits.circulars


def test_cli_reports_refusals_and_reads_folders(
    empty_database: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder = tmp_path / "circulars"
    folder.mkdir()
    for name, content in [as_file(generated(5)), as_file(generated(6)), *BROKEN]:
        (folder / name).write_bytes(content)
    monkeypatch.setenv("SKYALERT_DATABASE_URL", empty_database.sqlalchemy_url)
    monkeypatch.setenv("SKYALERT_VAR_DIR", str(empty_database.var_dir))
    assert main(["circulars", "import", str(folder)]) == 1
    out, err = capsys.readouterr()
    assert "imported 2 circular(s), skipped 0 already here, refused 4" in out
    assert "broken.json: Expecting property name" in out
    assert "nosubject.json: subject missing or empty" in out
    assert "badid.json: circularId is not a positive integer" in out
    assert "[##############################] 6/6" in err
    assert main(["circulars", "import", str(folder)]) == 1
    assert "imported 0 circular(s), skipped 2" in capsys.readouterr().out


def test_cli_refuses_what_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SKYALERT_VAR_DIR", str(tmp_path))
    assert main(["circulars", "import", str(tmp_path / "missing.tar.gz")]) == 2
    assert "does not exist" in capsys.readouterr().err
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b not really gzip")
    assert main(["circulars", "import", str(junk)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_bulk_archive_round_trips_and_is_rebuilt_on_change(
    empty_database: Settings, tmp_path: Path
) -> None:
    engine = make_engine(empty_database)
    mirror_engine = make_engine(Settings(var_dir=tmp_path / "mirror"))
    migrate.upgrade(mirror_engine)
    try:
        sessions, mirror = make_sessionmaker(engine), make_sessionmaker(mirror_engine)
        source = archive(tmp_path / "in.tar.gz", [as_file(generated(n)) for n in range(1, 51)])
        import_archive(sessions, source)
        built = export.archive_path(sessions, tmp_path / "cache", "json")
        assert export.archive_path(sessions, tmp_path / "cache", "json") == built  # cached
        copied = import_archive(mirror, built)
        assert (copied.added, copied.refused) == (50, [])
        with sessions() as a, mirror() as b:
            assert [gcn_json(c) for c in a.scalars(select(Circular).order_by(Circular.number))] == [
                gcn_json(c) for c in b.scalars(select(Circular).order_by(Circular.number))
            ]
        with sessions.begin() as session:
            submission.correct(session, 7, Draft("GRB 240007A: corrected", "New text"), "Mod")
        rebuilt = export.archive_path(sessions, tmp_path / "cache", "json")
        assert rebuilt != built
        assert not built.exists()  # the stale one is gone
        text = export.archive_path(sessions, tmp_path / "cache", "txt")
        with tarfile.open(text) as tar:
            member = tar.extractfile("archive.txt/7.txt")
            assert member is not None
            assert "SUBJECT: GRB 240007A: corrected" in member.read().decode()
    finally:
        engine.dispose()
        mirror_engine.dispose()
