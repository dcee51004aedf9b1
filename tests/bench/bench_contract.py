"""Benchmark: the data contract of GCN's JSON topics over NASA's own example notices, beside the
bare library doing the same validation, in the same run.

    python tests/bench/bench_contract.py [--rounds 20] [--json]

Each round checks every notice example of the cached @nasa-gcn/schema release on its topic.
Ours is ``check_alert`` (strict JSON parse, the release the alert names, every violation, the
canonical hash and the derived position and time); the baseline is ``json.loads`` plus a bare
``jsonschema`` Draft 2020-12 validator with format checking on the same registry of schemas.
``--json`` prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from skyalert.broker.ingest.contract import check_alert
from support.gcn_examples import gcn_registry, notice_examples


def per_alert_us(
    runs: tuple[Callable[[], None], Callable[[], None]], rounds: int, alerts: int
) -> tuple[float, float]:
    """Microseconds per alert of each run, their rounds interleaved (the machine is shared)."""
    spent = [0.0, 0.0]
    for run in runs:
        run()  # validators are built on first use
    for _ in range(rounds):
        for index, run in enumerate(runs):
            start = time.perf_counter()
            run()
            spent[index] += time.perf_counter() - start
    return spent[0] / (rounds * alerts) * 1e6, spent[1] / (rounds * alerts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the examples")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()

    registry = gcn_registry()
    cases = [(e.topic, e.raw(), e.document["$schema"]) for e in notice_examples()]
    bare = {
        schema_id: Draft202012Validator(
            registry.schema(schema_id), registry=registry.registry, format_checker=FormatChecker()
        )
        for _, _, schema_id in cases
    }

    def ours() -> None:
        for topic, raw, _ in cases:
            assert topic is not None
            check_alert(topic, raw, "application/json", registry)

    def baseline() -> None:
        for _, raw, schema_id in cases:
            assert bare[schema_id].is_valid(json.loads(raw))

    mine, base = per_alert_us((ours, baseline), args.rounds, len(cases))
    print(f"\n{len(cases)} NASA example notices x {args.rounds} rounds, {os.cpu_count()} CPUs\n")
    print(f"{'':<24}{'check_alert':>14}{'bare jsonschema':>18}{'ratio':>10}")
    print(f"{'us per alert':<24}{mine:>14.0f}{base:>18.0f}{mine / base:>10.3g}")
    if args.json:
        print(
            json.dumps(
                {
                    "alerts": len(cases),
                    "rounds": args.rounds,
                    "check_alert_us": round(mine, 1),
                    "bare_jsonschema_us": round(base, 1),
                    "ratio": round(mine / base, 3),
                }
            )
        )


if __name__ == "__main__":
    main()
