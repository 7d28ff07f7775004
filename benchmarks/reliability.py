"""Reliability report: bad inputs through the `files` source and cleaning, injected faults, and
scans for leaked identifiers and secrets. Writes JSON:

    python -m benchmarks.reliability --out benchmarks/results/reliability.json

* Bad inputs: every case of tests/data_quality/cases (each a `files` source folder with its
  expected outcome). Per case: was the outcome the expected one; rows lost (raw - clean -
  quarantined); values silently changed (a clean value that differs from its raw value other
  than by the documented rewrites: number parsing, trimmed text, normalized entity ids, UTC
  timestamps, pseudonyms, the weekend roll); raw identifiers leaked (a raw author handle in the
  clean rows or the quarantine); secrets leaked (the salt in either).
* Faults, each with real files or processes, no Dagster run needed: a writer process SIGKILLed
  mid-write, a truncated partition, a model file replaced by another valid one, a truncated
  model file, a damaged DuckDB catalog, a deleted catalog, a transient source error, a missing
  salt. "Survived" means: the failure is a clear error naming the file (or the run goes on), and
  no previously written row is lost. SIGKILL of a Dagster run or step process is tested by
  tests/integration/test_faults.py, not repeated here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmrisk_dagster.ml.artifacts import ModelFileError, load_multitask, save_multitask
from mmrisk_dagster.ml.fusion import FusionConfig, MultitaskFusionModel
from mmrisk_dagster.resources.warehouse import ParquetWarehouse, WarehouseError
from mmrisk_dagster.sources import is_transient, read_source_table
from mmrisk_dagster.sources.cleaning import PEOPLE_COLUMNS, clean
from mmrisk_dagster.sources.contract import CONTRACTS, PARTITION_COLUMN
from mmrisk_dagster.sources.files import SourceDataError
from mmrisk_dagster.sources.pseudonyms import SaltError, resolve_salt

CASES = Path(__file__).resolve().parents[1] / "tests" / "data_quality" / "cases"
RANGE = (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31"))
SALT = "reliability-benchmark-salt-5b2e9d"  # scanned for in every output


def _changed_values(table: str, raw: pd.DataFrame, result) -> int:
    """Clean cells that differ from their raw cell beyond the documented rewrites."""
    contract = CONTRACTS[table]
    source = raw.iloc[result.clean_rows].reset_index(drop=True)
    changed = 0
    for column in result.clean.columns:
        if column == PARTITION_COLUMN or column in PEOPLE_COLUMNS.get(table, ()) or column not in source:
            continue
        before, after = source[column], result.clean[column]
        if column == "entity_id":
            expected = before.map(lambda v: unicodedata.normalize("NFKC", str(v)).strip().upper())
        elif column in contract.timestamp_columns or column in ("period_end", "available_at", "event_date"):
            continue  # parsed to UTC instants or days: checked by the timestamp tests
        elif pd.api.types.is_numeric_dtype(after):
            expected = pd.to_numeric(before, errors="coerce").astype(float)
            changed += int((~np.isclose(expected, after.astype(float), rtol=0, atol=0, equal_nan=True)).sum())
            continue
        else:
            expected = before.map(lambda v: v.strip() if isinstance(v, str) else v)
            if column == "event_type":
                expected = expected.str.lower()
            if column == "sentiment_label":
                expected = expected.map(lambda v: v.lower() if isinstance(v, str) else v)
        both_null = expected.isna() & after.isna()
        changed += int((~both_null & (expected.astype(str) != after.astype(str))).sum())
    return changed


def bad_inputs() -> dict:
    cases = []
    for folder in sorted(p for p in CASES.iterdir() if (p / "expected.json").exists()):
        spec = json.loads((folder / "expected.json").read_text())
        record = {"case": folder.name, "table": spec["table"], "expected": spec["outcome"]}
        try:
            raw = read_source_table("files", spec["table"], *RANGE, path=str(folder))
        except SourceDataError as error:
            record.update(outcome="error", as_expected=spec["outcome"] == "error", rows_lost=0,
                          values_silently_changed=0, raw_ids_leaked=0, secrets_leaked=0, message=str(error))
            cases.append(record)
            continue
        result = clean(spec["table"], raw, SALT)
        outputs = result.clean.to_csv() + result.rejected.to_csv()
        handles = [h for c in PEOPLE_COLUMNS.get(spec["table"], ()) for h in raw[c].dropna().astype(str).unique()]
        reasons = result.rejected["reason"].value_counts().to_dict()
        record.update(
            outcome="quarantine",
            as_expected=spec["outcome"] == "quarantine" and reasons == spec["quarantined"] and len(result.clean) == spec["clean"],
            rows_lost=len(raw) - len(result.clean) - len(result.rejected),
            values_silently_changed=_changed_values(spec["table"], raw, result),
            raw_ids_leaked=sum(h in outputs for h in handles),
            secrets_leaked=int(SALT in outputs),
            quarantined=reasons,
        )
        cases.append(record)
    bad = [c for c in cases if c["expected"] == "error" or json.loads((CASES / c["case"] / "expected.json").read_text())["quarantined"]]
    return {
        "cases": len(cases),
        "bad_inputs": len(bad),
        "as_expected": sum(c["as_expected"] for c in cases),
        "rows_lost": sum(c["rows_lost"] for c in cases),
        "values_silently_changed": sum(c["values_silently_changed"] for c in cases),
        "raw_ids_leaked": sum(c["raw_ids_leaked"] for c in cases),
        "secrets_leaked": sum(c["secrets_leaked"] for c in cases),
        "per_case": cases,
    }


def _frame(days: list[str], value: float) -> pd.DataFrame:
    return pd.DataFrame({"entity_id": ["A"] * len(days), "date": pd.to_datetime(days), "x": [value] * len(days)})


DAYS = [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2024-01-01", periods=60)]
WRITER = """
import sys
import time
import pandas as pd
from mmrisk_dagster.resources.warehouse import ParquetWarehouse
days = [d.strftime("%Y-%m-%d") for d in pd.bdate_range("2024-01-01", periods=60)]
store = ParquetWarehouse(sys.argv[1])
frame = pd.concat([pd.DataFrame({"entity_id": ["A"] * 50_000, "x": 2.0, "date": pd.Timestamp(d)}) for d in days])
while True:
    started = time.perf_counter()
    store.write("t", frame, days)
    print(time.perf_counter() - started, flush=True)
"""


def _fault(name: str, run) -> dict:
    started = time.perf_counter()
    try:
        outcome = run()
    except Exception as error:  # a fault the code did not turn into a clear answer
        outcome = {"survived": False, "unexpected": f"{type(error).__name__}: {error}"}
    return {"fault": name, **outcome, "seconds": round(time.perf_counter() - started, 2)}


def _sigkill_writer(root: Path) -> dict:
    """A writer process replaces 60 partitions over and over and is SIGKILLed mid-write. Every
    partition must stay whole (all old or all new rows, never a torn file), and the next writer
    removes the killed one's temporary files."""
    store = ParquetWarehouse(root)
    store.write("t", _frame(DAYS, 1.0), DAYS)
    # Killed the moment a staged file appears: the writer is then between its first staged file
    # and its renames, the window in which a torn table could arise.
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root)], stdout=subprocess.PIPE, text=True)
    one_write = float(writer.stdout.readline())
    deadline = time.perf_counter() + 3 * one_write
    while not list((root / "t").glob(".*.tmp")) and time.perf_counter() < deadline:
        time.sleep(0.002)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    orphans = len(list((root / "t").glob(".*.tmp")))
    stored = store.read("t", DAYS)
    per_day = stored.groupby("date")["x"].agg(["size", "min", "max"])
    whole = len(per_day) == len(DAYS) and bool((per_day["min"] == per_day["max"]).all())
    store.write("t", _frame(DAYS[:1], 3.0), DAYS[:1])
    left = len(list((root / "t").glob(".*.tmp")))
    return {"survived": whole and left == 0, "killed_while_writing": orphans > 0,
            "orphan_temporaries_after_kill": orphans, "orphan_temporaries_after_next_write": left,
            "rows_lost": 0 if len(per_day) == len(DAYS) else len(DAYS) - len(per_day)}


def _truncated_partition(root: Path) -> dict:
    store = ParquetWarehouse(root)
    store.write("t", _frame(DAYS[:2], 1.0), DAYS[:2])
    path = store.partition_path("t", DAYS[0])
    path.write_bytes(path.read_bytes()[:40])
    try:
        store.read("t", DAYS[:2])
    except WarehouseError as error:
        return {"survived": str(path) in str(error) and "re-materialize" in str(error), "message": str(error)}
    return {"survived": False}


def _model_card(root: Path, seed: int) -> dict:
    dims = {"fundamentals": 3, "prices": 4, "chart": 8, "news": 5, "social": 5}
    torch.manual_seed(seed)
    return save_multitask(root / str(seed), [MultitaskFusionModel(dims, FusionConfig())], FusionConfig(), {})


def _model_replaced(root: Path) -> dict:
    card, other = _model_card(root, 0), _model_card(root, 1)
    weights = Path(card["member_paths"][0]) / "weights.safetensors"
    weights.write_bytes((Path(other["member_paths"][0]) / "weights.safetensors").read_bytes())
    try:
        load_multitask(card)
    except ModelFileError as error:
        return {"survived": str(weights) in str(error), "message": str(error)}
    return {"survived": False}


def _model_truncated(root: Path) -> dict:
    card = _model_card(root, 2)
    weights = Path(card["member_paths"][0]) / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:64])
    try:
        load_multitask(card)
    except ModelFileError as error:
        return {"survived": str(weights) in str(error), "message": str(error)}
    return {"survived": False}


def _catalog_damaged_then_deleted(root: Path) -> dict:
    store = ParquetWarehouse(root)
    store.write("t", _frame(DAYS[:3], 1.0), DAYS[:3])
    store.ensure_view("t", new_table=True)
    store.catalog_path.write_bytes(b"garbage" * 500)
    try:
        store.query("SELECT 1")
        named = False
    except WarehouseError as error:
        named = str(store.catalog_path) in str(error) and "delete it" in str(error)
    store.catalog_path.unlink()
    store.ensure_view("t", new_table=False)  # what the next run's output does
    rows = int(store.query('SELECT count(*) AS n FROM "t"')["n"].iloc[0])
    return {"survived": named and rows == 3, "rows_after_recreation": rows}


def _transient_and_permanent_source_errors(_: Path) -> dict:
    transient = [ConnectionResetError("reset"), TimeoutError("slow"), OSError(5, "Input/output error")]
    permanent = [SourceDataError("prices.csv", "the file is empty"), FileNotFoundError(2, "missing")]
    return {"survived": all(map(is_transient, transient)) and not any(map(is_transient, permanent)),
            "note": "retry of a transient error through Dagster: tests/unit/test_source_retries.py"}


def _missing_salt(_: Path) -> dict:
    try:
        resolve_salt("files", None, "")
    except SaltError as error:
        return {"survived": "MMRISK_PSEUDONYM_SALT is not set" in str(error), "message": str(error)}
    return {"survived": False}


def faults() -> list[dict]:
    kinds = {
        "sigkill_writer_mid_write": _sigkill_writer,
        "truncated_partition_file": _truncated_partition,
        "model_file_replaced_by_another_valid_one": _model_replaced,
        "truncated_model_file": _model_truncated,
        "damaged_then_deleted_duckdb_catalog": _catalog_damaged_then_deleted,
        "transient_vs_permanent_source_error": _transient_and_permanent_source_errors,
        "missing_pseudonymization_salt": _missing_salt,
    }
    results = []
    for name, run in kinds.items():
        with tempfile.TemporaryDirectory() as folder:
            results.append(_fault(name, lambda run=run, folder=folder: run(Path(folder))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/reliability.json"))
    parser.add_argument("--note", default="", help="what else ran on the machine")
    args = parser.parse_args()
    inputs = bad_inputs()
    injected = faults()
    report = {
        "bad_inputs": {k: v for k, v in inputs.items() if k != "per_case"},
        "fault_kinds": len(injected),
        "faults_survived": sum(bool(f.get("survived")) for f in injected),
        "rows_lost": inputs["rows_lost"] + sum(f.get("rows_lost", 0) for f in injected),
        "values_silently_changed": inputs["values_silently_changed"],
        "raw_ids_leaked": inputs["raw_ids_leaked"],
        "secrets_leaked": inputs["secrets_leaked"],
        "faults": injected,
        "per_case": inputs["per_case"],
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "note": args.note},
        "see_also": "tests/integration/test_faults.py (SIGKILL of Dagster run and step processes), "
                    "tests/integration/test_graph.py (salt and raw handles scanned across the whole data home)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k not in ("faults", "per_case")}, indent=2))


if __name__ == "__main__":
    main()
