"""Benchmark: circulars search at scale, beside a hand-written SQL full-text query (same run).

    python tests/bench/bench_circulars.py [--circulars 5000] [--repeat 50] [--database-url URL]
                                          [--sqlite] [--json]

Generates ``--circulars`` circulars in GCN's JSON archive form (a .tar.gz), imports them with
``import_archive`` twice (the second run must add nothing), then times each query of QUERIES
through ``search.run`` (parse, SQL, relevance order, one page of 20) ``--repeat`` times. The
baseline is one bare ``search_vector @@ plainto_tsquery(…) ORDER BY ts_rank`` on the same table
(PostgreSQL), or a bare ``LIKE`` (SQLite). ``--json`` prints one JSON object last.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from bench.bench_ingest import database  # noqa: E402
from skyalert.broker.circulars import search  # noqa: E402
from skyalert.broker.circulars.importer import import_archive  # noqa: E402
from skyalert.broker.core import migrate  # noqa: E402
from skyalert.broker.core.db import make_engine, make_sessionmaker  # noqa: E402
from skyalert.broker.core.settings import Settings  # noqa: E402

QUERIES = [
    "",
    "afterglow",
    "subject:GRB",
    'body:"optical afterglow"',
    "submitter:Lovelace",
    "subject:IceCube OR subject:EP",
    "afterglow AND NOT fading",
    "subject:GRB body:redshift -submitter:Smith",
]
WORDS = [
    *("afterglow", "fading", "optical", "X-ray", "redshift", "spectroscopy", "photometry"),
    *("upper", "limit", "candidate", "counterpart", "detection", "source", "telescope"),
    *("observed", "magnitude", "flux"),
]
NAMES = ["Ada Lovelace", "Bob Smith", "Carla Ruiz", "Dan Okafor", "Eve Tanaka", "Femi Adeyemi"]


def generated(number: int, rng: random.Random) -> dict[str, object]:
    kind = rng.choice(["GRB {d}A", "IceCube-{d}A", "EP{d}a", "LIGO/Virgo/KAGRA S{d}ab"])
    event = kind.format(d=f"{200101 + number % 9000:06d}")
    body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 400)))
    return {
        "circularId": 10_000 + number,
        "subject": f"{event}: {rng.choice(WORDS)} {rng.choice(WORDS)} report",
        "body": body,
        "submitter": f"{rng.choice(NAMES)} at Observatory {number % 40} <o{number}@example.org>",
        "createdOn": 1_600_000_000_000 + number * 3_600_000,
        "format": "text/plain",
    }


def write_archive(path: Path, count: int) -> None:
    rng = random.Random(15)
    with tarfile.open(path, "w:gz") as tar:
        for number in range(count):
            content = json.dumps(generated(number, rng)).encode()
            info = tarfile.TarInfo(f"archive.json/{10_000 + number}.json")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def timed(run: Callable[[], object], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--circulars", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a new one)")
    parser.add_argument("--sqlite", action="store_true", help="measure the SQLite fallback")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        if args.sqlite:
            measure(args, Settings(var_dir=work), work)
        else:
            with database(args.database_url) as url:
                measure(args, Settings(var_dir=work, database_url=url), work)


def measure(args: argparse.Namespace, settings: Settings, work: Path) -> None:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    sessions = make_sessionmaker(engine)
    source = work / "archive.json.tar.gz"
    write_archive(source, args.circulars)
    start = time.perf_counter()
    first = import_archive(sessions, source)
    import_s = time.perf_counter() - start
    start = time.perf_counter()
    second = import_archive(sessions, source)
    reimport_s = time.perf_counter() - start
    assert first.added == args.circulars, first
    assert second.added == 0, second
    postgres = engine.dialect.name == "postgresql"
    raw_sql = (
        "SELECT number FROM circulars WHERE search_vector @@ plainto_tsquery('english', :q) "
        "ORDER BY ts_rank(search_vector, plainto_tsquery('english', :q)) DESC LIMIT 21"
        if postgres
        else "SELECT number FROM circulars WHERE lower(body) LIKE :q ORDER BY number DESC LIMIT 21"
    )
    raw_q = "afterglow" if postgres else "%afterglow%"

    def raw() -> object:
        with engine.connect() as connection:
            return connection.execute(text(raw_sql), {"q": raw_q}).all()

    baseline = statistics.median(timed(raw, args.repeat))
    results: dict[str, dict[str, float]] = {}
    print(
        f"{args.circulars} circulars on {engine.dialect.name}: import {import_s:.1f} s, "
        f"again {reimport_s:.1f} s (added {second.added})"
    )
    print(f"{'query':<46} {'median ms':>10} {'p95':>8} {'x raw':>7}")
    print(f"{'(raw SQL: afterglow)':<46} {baseline:>10.2f} {'':>8} {1.0:>7.1f}")
    for query in QUERIES:

        def ours(query: str = query) -> object:
            with sessions() as session:
                return search.run(session, search.Search(query))

        times = sorted(timed(ours, args.repeat))
        median, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        results[query or "(newest first)"] = {"median_ms": median, "p95_ms": p95}
        print(
            f"{query or '(newest first)':<46} {median:>10.2f} {p95:>8.2f} {median / baseline:>7.1f}"
        )
    engine.dispose()
    if args.json:
        print(
            json.dumps(
                {
                    "circulars": args.circulars,
                    "backend": engine.dialect.name,
                    "import_s": import_s,
                    "reimport_s": reimport_s,
                    "raw_median_ms": baseline,
                    "queries": results,
                    "worst_median_ms": max(r["median_ms"] for r in results.values()),
                }
            )
        )


if __name__ == "__main__":
    main()
