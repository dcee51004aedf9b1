"""Benchmark: archive searches (cone 1° and 10°, time range, topic) at 10^6 alerts on PostgreSQL,
beside the same questions asked as bare SQL (bounding box, id range, topic index) in the same run.

    python tests/bench/bench_archive.py [--alerts 1000000] [--postgres-url postgresql+psycopg://…]
                                        [--reuse] [--json]

The alerts are loaded with COPY into their own database (``skyalert_bench_archive``), which
``--reuse`` keeps between runs when it already holds that many. Positions are uniform on the
sphere; errors mostly arcseconds to arcminutes, one in fifty a wide (1-15°) GRB-monitor circle.
Each figure is the median over random centres or windows of ``archive.search`` for one page
(50 alerts, newest first), as the HTTP API asks it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import psycopg
from astropy_healpix import core as healpix
from sqlalchemy import create_engine, make_url, text

from skyalert.broker.archive import store as archive
from skyalert.broker.archive.alert_ids import ALPHABET, highest_id_at, lowest_id_at
from skyalert.broker.archive.cone import CELL_ORDER, Cone
from skyalert.broker.core import migrate
from skyalert.broker.core.db import make_engine, make_sessionmaker
from skyalert.broker.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "skyalert_bench_archive"
TOPICS = [f"gcn.notices.bench.t{i:02d}" for i in range(20)]
#: The archive spans three years up to this instant.
END = datetime(2026, 12, 1, tzinfo=UTC)
SPAN = timedelta(days=3 * 365)
PAGE = 50
COLUMNS = (
    "id",
    "topic",
    "content_type",
    "sender",
    "source",
    "received_at",
    "test",
    "dedupe_key",
    "content_sha256",
    "ra",
    "dec",
    "ra_dec_error",
    "document",
    "original",
    "sky_cell",
    "sky_tier",
)


def admin_url(given: str | None) -> str:
    url = given or os.environ.get("SKYALERT_TEST_POSTGRES_URL")
    if url:
        return url
    script = ROOT / "ops" / "local" / "ensure-postgres.sh"
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def bench_database(admin: str) -> str:
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        known = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DATABASE}
        )
        if not known:
            connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    return make_url(admin).set(database=DATABASE).render_as_string(hide_password=False)


def encode(values: np.ndarray[Any, Any], chars: int) -> list[str]:
    """Crockford base32 of each value, as alert ids spell their parts."""
    digits = []
    for _ in range(chars):
        digits.append(values % 32)
        values = values // 32
    table = np.array(list(ALPHABET))
    return ["".join(row) for row in table[np.stack(digits[::-1], axis=1)]]


def synthetic(count: int, seed: int) -> Iterator[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    start_ms = int((END - SPAN).timestamp() * 1000)
    millis = np.sort(rng.integers(start_ms, int(END.timestamp() * 1000), count))
    ids = [
        t + r
        for t, r in zip(
            encode(millis, 10),
            encode(rng.integers(0, 2**62, count, dtype=np.int64), 16),
            strict=True,
        )
    ]
    ra = rng.uniform(0, 360, count)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, count)))
    error = np.where(
        rng.random(count) < 0.02, rng.uniform(1, 15, count), 10 ** rng.uniform(-4, -0.5, count)
    )
    cells = healpix.lonlat_to_healpix(ra * u.deg, dec * u.deg, 2**CELL_ORDER, order="nested")
    topics = rng.integers(0, len(TOPICS), count)
    for i in range(count):
        yield (
            ids[i],
            TOPICS[topics[i]],
            "application/json",
            "bench",
            "http",
            datetime.fromtimestamp(millis[i] / 1000, UTC),
            False,
            f"key:{ids[i]}",
            "0" * 64,
            float(ra[i]),
            float(dec[i]),
            float(error[i]),
            json.dumps({"ra": float(ra[i]), "dec": float(dec[i])}),
            b"{}",
            int(cells[i]),
            archive.tier_of(int(cells[i]), float(error[i])),
        )


def load(url: str, count: int, reuse: bool) -> float:
    """Fill the bench database with ``count`` alerts; returns the seconds it took (0: reused)."""
    engine = make_engine(Settings(database_url=url))
    migrate.upgrade(engine)
    with engine.connect() as connection:
        held = connection.scalar(text("SELECT count(*) FROM alerts"))
    engine.dispose()
    if reuse and held == count:
        return 0.0
    started = time.perf_counter()
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        connection.execute("TRUNCATE alerts CASCADE")
        with connection.cursor().copy(f"COPY alerts ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in synthetic(count, seed=17):
                copy.write_row(row)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE alerts")
    return time.perf_counter() - started


def timed(runs: int, ask: Callable[[int], int]) -> tuple[float, int]:
    """Median milliseconds of ``ask(i)`` over ``runs`` tries, and the rows it found in all."""
    times, found = [], 0
    for i in range(runs):
        started = time.perf_counter()
        found += ask(i)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), found


def centres(runs: int, seed: int) -> list[tuple[float, float]]:
    rng = np.random.default_rng(seed)
    ras = rng.uniform(0, 360, runs)
    decs = np.degrees(np.arcsin(rng.uniform(-1, 1, runs)))
    return [(float(r), float(d)) for r, d in zip(ras, decs, strict=True)]


def windows(runs: int, seed: int, length: timedelta) -> list[tuple[datetime, datetime]]:
    rng = np.random.default_rng(seed)
    offsets = rng.uniform(0, (SPAN - length).total_seconds(), runs)
    return [
        (END - SPAN + timedelta(seconds=o), END - SPAN + timedelta(seconds=o) + length)
        for o in offsets
    ]


def bare_box(raw: psycopg.Connection[Any], cone: Cone) -> int:
    """The floor for a cone: the bounding box in bare SQL on the declination index."""
    ra, dec, radius = cone.ra, cone.dec, cone.radius
    stretch = radius / max(math.cos(math.radians(min(89.9, abs(dec) + radius))), 1e-3)
    low, high = ra - stretch, ra + stretch
    if stretch >= 180:
        ra_test, params = "TRUE", tuple[float, ...]()
    elif low < 0 or high >= 360:
        ra_test, params = "(ra >= %s OR ra <= %s)", (low % 360, high % 360)
    else:
        ra_test, params = "ra BETWEEN %s AND %s", (low, high)
    rows = raw.execute(
        f"SELECT * FROM alerts WHERE dec BETWEEN %s AND %s AND {ra_test} ORDER BY id DESC LIMIT %s",
        (dec - radius, dec + radius, *params, PAGE),
    ).fetchall()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--postgres-url", help="default: SKYALERT_TEST_POSTGRES_URL, or a local one"
    )
    parser.add_argument("--reuse", action="store_true", help="keep an already loaded database")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    url = bench_database(admin_url(args.postgres_url))
    loading = load(url, args.alerts, args.reuse)
    engine = make_engine(Settings(database_url=url))
    sessions = make_sessionmaker(engine)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    raw = psycopg.connect(dsn, autocommit=True)

    def ours(query: archive.AlertQuery) -> int:
        with sessions() as session:
            return len(archive.search(session, query).alerts)

    def ours_cone(cones: list[Cone], i: int) -> int:
        return ours(archive.AlertQuery(TOPICS, cone=cones[i], limit=PAGE))

    def bare_cone(cones: list[Cone], i: int) -> int:
        return bare_box(raw, cones[i])

    results: dict[str, Any] = {"alerts": args.alerts}
    for radius, key in ((1.0, "cone_1deg"), (10.0, "cone_10deg")):
        cones = [Cone(ra, dec, radius) for ra, dec in centres(args.runs, seed=int(radius))]
        mine, found = timed(args.runs, partial(ours_cone, cones))
        floor, _ = timed(args.runs, partial(bare_cone, cones))
        results[f"{key}_ms_p50"] = round(mine, 2)
        results[f"{key}_bare_ms_p50"] = round(floor, 2)
        results[f"{key}_ratio"] = round(mine / floor, 2)
        print(f"cone {radius:4.0f}°:  {mine:8.2f} ms  bare box {floor:8.2f} ms  ({found} found)")

    spans = windows(args.runs, seed=3, length=timedelta(hours=6))

    def bare_range(i: int) -> int:
        since, until = spans[i]
        return len(
            raw.execute(
                "SELECT * FROM alerts WHERE id BETWEEN %s AND %s ORDER BY id DESC LIMIT %s",
                (lowest_id_at(since), highest_id_at(until), PAGE),
            ).fetchall()
        )

    mine, found = timed(
        args.runs,
        lambda i: ours(
            archive.AlertQuery(TOPICS, since=spans[i][0], until=spans[i][1], limit=PAGE)
        ),
    )
    floor, _ = timed(args.runs, bare_range)
    results |= {
        "time_range_ms_p50": round(mine, 2),
        "time_range_bare_ms_p50": round(floor, 2),
        "time_range_ratio": round(mine / floor, 2),
    }
    print(f"time range 6 h: {mine:8.2f} ms  bare id range {floor:8.2f} ms  ({found} found)")

    def bare_topic(i: int) -> int:
        return len(
            raw.execute(
                "SELECT * FROM alerts WHERE topic = %s ORDER BY id DESC LIMIT %s",
                (TOPICS[i % len(TOPICS)], PAGE),
            ).fetchall()
        )

    mine, found = timed(
        args.runs, lambda i: ours(archive.AlertQuery([TOPICS[i % len(TOPICS)]], limit=PAGE))
    )
    floor, _ = timed(args.runs, bare_topic)
    results |= {
        "topic_ms_p50": round(mine, 2),
        "topic_bare_ms_p50": round(floor, 2),
        "topic_ratio": round(mine / floor, 2),
    }
    print(f"one topic:      {mine:8.2f} ms  bare topic index {floor:8.2f} ms  ({found} found)")
    if loading:
        print(f"loaded {args.alerts} alerts with COPY in {loading:.0f} s")
    raw.close()
    engine.dispose()
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
