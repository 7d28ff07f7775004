"""Great Expectations (GX Core 1.x) runner: a DataFrame and a JSON suite in, a plain outcome out.

Suites are reviewable JSON files shipped with the package, `mmrisk_dagster/checks/expectations/<suite>.json`,
in GX's own suite format:
`name`, `meta.row_key` (the columns that identify a bad row in the examples) and `expectations`,
each with `type`, `kwargs`, `severity` (`critical` = the data is unusable: Dagster ERROR, blocking;
`warning` = drift worth a look: Dagster WARN) and `meta.why`. Kwargs may use suite parameters
(`{"$PARAMETER": "range_end"}`) filled from the partition range being checked (`range_parameters`).

Each validation gets a fresh ephemeral GX context: in memory, nothing written to disk, no state
carried between checks, analytics off. GX is imported on first use only, so loading the Dagster
code location does not pay for it. No Dagster import here (`checks/tables.py` wires it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

# Package data (pyproject.toml): an installed wheel carries the suites beside this module.
EXPECTATIONS_DIR = Path(__file__).resolve().parent / "expectations"
SEVERITIES = ("critical", "warning", "info")
EXAMPLES = 5
_EXAMPLE_CHARS = 120


class SuiteError(ValueError):
    """A suite file that cannot be used as written (unknown expectation, bad kwargs...)."""


@dataclass(frozen=True)
class ExpectationOutcome:
    name: str  # e.g. "expect_column_values_to_not_be_null(close)"
    severity: str
    success: bool
    why: str = ""
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed: str | None = None
    examples: list[str] = field(default_factory=list)
    error: str | None = None  # GX could not evaluate it, e.g. a column is missing


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    path: str
    rows: int
    results: tuple[ExpectationOutcome, ...]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.failures if r.severity == "critical"]

    @property
    def passed(self) -> bool:
        return not self.failures


def suite_path(name: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return Path(directory) / f"{name}.json"


def load_suite(name: str, directory: Path = EXPECTATIONS_DIR) -> dict:
    """The suite's JSON, checked for what GX would otherwise skip with only a log line."""
    path = suite_path(name, directory)
    if not path.exists():
        raise SuiteError(f"no expectation suite {path}")
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise SuiteError(f"{path}: not valid JSON ({error})") from None
    if spec.get("name") != name:
        raise SuiteError(f"{path}: 'name' must be '{name}', the file's name")
    expectations = spec.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        raise SuiteError(f"{path}: 'expectations' must be a non-empty list")
    for i, expectation in enumerate(expectations):
        if expectation.get("severity") not in SEVERITIES:
            raise SuiteError(f"{path}: expectation {i} ({expectation.get('type')}) needs a severity in {SEVERITIES}")
    return spec


def range_parameters(first_day: pd.Timestamp, last_day: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """Suite parameters for a run over business days [first_day, last_day]."""
    first, last = pd.Timestamp(first_day).normalize(), pd.Timestamp(last_day).normalize()
    return {
        "range_start": first,
        "range_end": last,
        "range_start_utc": first.tz_localize("UTC"),
        "range_end_utc": last.tz_localize("UTC"),
        # Freshness floors: news older than a week, filings older than a year when they arrive.
        "week_before_start_utc": (first - pd.Timedelta(days=7)).tz_localize("UTC"),
        "year_before_start": first - pd.DateOffset(years=1),
    }


@cache
def _gx():
    # Older GX 1.x releases read this at import; 1.24 sends nothing, and the context config below
    # says so as well.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    def context():
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        )
        return gx.get_context(mode="ephemeral", project_config=config)

    return gx, ExpectationConfiguration, context


def build_suite(spec: dict, path: Path | str = ""):
    """A GX ExpectationSuite from the JSON; raises SuiteError on anything GX would reject."""
    gx, ExpectationConfiguration, _ = _gx()
    expectations = []
    for i, item in enumerate(spec["expectations"]):
        try:
            expectations.append(ExpectationConfiguration(**item).to_domain_obj())
        except Exception as error:  # GX raises several unrelated types for a bad configuration
            raise SuiteError(f"{path}: expectation {i} ({item.get('type')}) is invalid: {error}") from None
    return gx.ExpectationSuite(name=spec["name"], expectations=expectations, meta=spec.get("meta"))


def validate(
    frame: pd.DataFrame,
    suite_name: str,
    parameters: Mapping[str, Any] | None = None,
    directory: Path = EXPECTATIONS_DIR,
) -> SuiteOutcome:
    """Validate the whole frame once against the suite."""
    gx, _, make_context = _gx()
    path = suite_path(suite_name, directory)
    spec = load_suite(suite_name, directory)
    context = make_context()
    batch_definition = (
        context.data_sources.add_pandas("mmrisk")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(build_suite(spec, path))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    row_key = [c for c in spec.get("meta", {}).get("row_key", []) if c in frame.columns]
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}
    if row_key:
        result_format["unexpected_index_column_names"] = row_key
    validation = definition.run(
        batch_parameters={"dataframe": frame.reset_index(drop=True)},
        expectation_parameters=dict(parameters or {}),
        result_format=result_format,
    )
    by_id = {r.expectation_config.id: r for r in validation.results}
    whys = [item.get("meta", {}).get("why", "") for item in spec["expectations"]]
    results = tuple(_outcome(by_id[e.id], why) for e, why in zip(suite.expectations, whys, strict=True))
    return SuiteOutcome(suite=suite_name, path=str(path), rows=len(frame), results=results)


def _outcome(result, why: str) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = config.kwargs
    target = kwargs.get("column") or ",".join(
        kwargs.get("column_list") or [c for c in (kwargs.get("column_A"), kwargs.get("column_B")) if c]
    )
    details = result.result or {}
    examples = details.get("partial_unexpected_index_list") or details.get("partial_unexpected_list") or []
    observed = details.get("observed_value")
    mismatched = details.get("details", {}).get("mismatched")
    return ExpectationOutcome(
        name=f"{config.type}({target})",
        severity=config.severity.value,
        success=bool(result.success),
        why=why,
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        observed=_short(mismatched if mismatched else observed) if observed is not None else None,
        examples=[_short(e) for e in examples[:EXAMPLES]],
        error=_exception_message(result.exception_info),
    )


def _exception_message(info) -> str | None:
    """GX nests exception details one level per failed metric; the first message is enough."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        message = _exception_message(value)
        if message:
            return message
    return None


def _short(value) -> str:
    if isinstance(value, dict):
        value = {k: str(v) for k, v in value.items()}
    text = json.dumps(value, default=str) if isinstance(value, dict | list | tuple) else str(value)
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 3] + "..."


def summary(outcome: SuiteOutcome) -> dict[str, Any]:
    """JSON-ready metadata: counts, and for each failure its unexpected share and examples."""
    return {
        "rows": outcome.rows,
        "expectations_evaluated": len(outcome.results),
        "expectations_failed": len(outcome.failures),
        "critical_failed": len(outcome.critical_failures),
        "failures": {
            r.name: {
                "severity": r.severity,
                "unexpected_count": r.unexpected_count,
                "unexpected_percent": None if r.unexpected_percent is None else round(r.unexpected_percent, 3),
                "observed": r.observed,
                "examples": r.examples,
                "error": r.error,
                "why": r.why,
            }
            for r in outcome.failures
        },
    }


def markdown_table(outcome: SuiteOutcome) -> str:
    """Every expectation, failures first: what the Dagster UI shows for the check."""
    lines = ["| | expectation | severity | unexpected | examples |", "|---|---|---|---|---|"]
    for r in sorted(outcome.results, key=lambda r: (r.success, SEVERITIES.index(r.severity))):
        unexpected = "" if r.unexpected_count is None else f"{r.unexpected_count} ({r.unexpected_percent or 0:.2f}%)"
        detail = r.error or "; ".join(r.examples) or (r.observed or "" if not r.success else "")
        cell = detail.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {'ok' if r.success else 'FAILED'} | `{r.name}` | {r.severity} | {unexpected} | {cell} |")
    return "\n".join(lines)
