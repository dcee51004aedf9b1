"""``skyalert circulars …``: operator commands for the circulars archive (import)."""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path
from typing import Any

from skyalert.broker.circulars.errors import CircularError
from skyalert.broker.circulars.importer import ImportReport, import_archive
from skyalert.broker.core.db import check_database, make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings

BAR = 30


def _count(source: Path) -> int | None:
    """How many ``.json`` files the source holds, for the progress bar (None if unreadable)."""
    if source.is_dir():
        return sum(1 for _ in source.rglob("*.json"))
    try:
        with tarfile.open(source, "r:*") as archive:
            return sum(1 for m in archive if m.isfile() and m.name.endswith(".json"))
    except (tarfile.TarError, OSError):
        return None


def _bar(total: int | None) -> Any:
    def show(report: ImportReport) -> None:
        if total:
            done = min(report.seen, total)
            filled = BAR * done // total
            line = f"[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}"
        else:
            line = f"{report.seen} read"
        print(f"\r{line}", end="", file=sys.stderr, flush=True)

    return show


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    source = Path(args.source)
    if not source.exists():
        raise CircularError(f"{source} does not exist; give a folder or a .tar.gz of circulars")
    engine = make_engine(settings)
    check_database(engine)
    try:
        report = import_archive(make_sessionmaker(engine), source, _bar(_count(source)))
    finally:
        engine.dispose()
    print(file=sys.stderr)
    for name, reason in report.refused[: args.show]:
        print(f"refused {name}: {reason}")
    print(
        f"imported {report.added} circular(s), skipped {report.skipped} already here, "
        f"refused {len(report.refused)}"
    )
    return 1 if report.refused else 0


def register(sub: Any) -> None:
    """Add ``circulars`` to the ``skyalert`` command's subcommands."""
    circulars = sub.add_parser("circulars", help="GCN Circulars archive").add_subparsers(
        dest="circulars_command", required=True, metavar="ACTION"
    )
    load = circulars.add_parser(
        "import", help="load GCN's JSON archive (a folder or .tar.gz), keeping the numbers"
    )
    load.add_argument("source", metavar="FILE.tar.gz|DIR")
    load.add_argument("--show", type=int, default=20, help="refusals to list (default 20)")
    load.set_defaults(func=cmd_import)
