"""How long the Great Expectations checks take: the one-off GX import, then each suite on a
whole two-year range (a backfill validates the range's DataFrame once) and on one day (a daily
increment). Writes JSON; run on a quiet machine:

    python -m benchmarks.data_quality --entities 50 200 --out benchmarks/results/data_quality.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import pandas as pd

from benchmarks import BENCHMARK_SALT
from mmrisk_dagster.checks import gx
from mmrisk_dagster.checks.tables import GX_ASSETS
from mmrisk_dagster.sources.cleaning import clean
from mmrisk_dagster.sources.synthetic import SyntheticConfig, generate

CLEANED_NAME = {"fundamentals": "fundamentals", "prices": "prices", "news": "news", "social": "social",
                "events": "risk_events"}


def tables_of(entities: int, start: date, end: date, seed: int) -> dict[str, pd.DataFrame]:
    universe = generate(SyntheticConfig(n_entities=entities, start=start, end=end, seed=seed))
    out, rejected = {}, []
    for table, name in CLEANED_NAME.items():
        raw = universe.table(table)
        result = clean(table, raw, BENCHMARK_SALT)
        out[f"raw_{table}"], out[name] = raw, result.clean
        rejected.append(result.rejected)
    out["quarantine"] = pd.concat(rejected, ignore_index=True)
    return out


def timed(frame: pd.DataFrame, name: str, parameters: dict, repeats: int) -> tuple[float, gx.SuiteOutcome]:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        outcome = gx.validate(frame, name, parameters)
        best = min(best, time.perf_counter() - started)
    return best, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/data_quality.json"))
    args = parser.parse_args()

    started = time.perf_counter()
    gx._gx()
    report = {"machine": platform.platform(), "python": platform.python_version(),
              "gx_import_seconds": round(time.perf_counter() - started, 3), "runs": []}
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    for entities in args.entities:
        tables = tables_of(entities, start, end, args.seed)
        whole = gx.range_parameters(pd.Timestamp(start), pd.Timestamp(end))
        last_day = tables["prices"]["date"].max()
        one_day = gx.range_parameters(last_day, last_day)
        suites = {}
        for name in GX_ASSETS:
            frame = tables[name]
            day = frame[frame["date"] == last_day]
            seconds_range, on_range = timed(frame, name, whole, args.repeats)
            seconds_day, on_day = timed(day, name, one_day, args.repeats)
            assert not on_range.critical_failures, (name, gx.summary(on_range)["failures"])
            suites[name] = {
                "rows_range": len(frame),
                "seconds_range": round(seconds_range, 3),
                "failed_range": [r.name for r in on_range.failures],
                "rows_day": len(day),
                "seconds_day": round(seconds_day, 3),
                # A day has few rows: a single dirty one can cross a warning threshold.
                "failed_day": [r.name for r in on_day.failures],
            }
        report["runs"].append({
            "entities": entities, "start": args.start, "end": args.end, "suites": suites,
            "total_seconds_range": round(sum(s["seconds_range"] for s in suites.values()), 3),
            "total_seconds_day": round(sum(s["seconds_day"] for s in suites.values()), 3),
        })
        print(f"{entities} entities: all suites {report['runs'][-1]['total_seconds_range']} s over the range, "
              f"{report['runs'][-1]['total_seconds_day']} s for one day")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
