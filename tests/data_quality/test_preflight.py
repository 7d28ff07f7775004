"""The preflight: an unusable table or a history too short for the training window stops the
run at the cleaned tables, before any embedding step, with a message naming file, column and fix."""

import dagster as dg
import pandas as pd
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from mmrisk_dagster.assets.clean import cleaned_assets, quarantine
from mmrisk_dagster.assets.embeddings import embedding_assets
from mmrisk_dagster.assets.fusion import shared_space
from mmrisk_dagster.assets.raw import raw_assets
from mmrisk_dagster.checks.preflight import preflight_checks
from mmrisk_dagster.demo import failure_report
from mmrisk_dagster.ml.splits import SplitSpec
from mmrisk_dagster.resources import (
    ComputeResource,
    DataSourceResource,
    TrainingWindowResource,
    WarehouseResource,
)
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.sources.cleaning import clean_prices
from mmrisk_dagster.sources.preflight import no_history_problem, training_window_problem, unusable_table
from tests import TEST_SALT


def prices_frame(days: pd.DatetimeIndex, entities=("A", "B")) -> pd.DataFrame:
    rows = [{"entity_id": e, "date": d, "open": 10.0 + i % 3, "high": 13.0, "low": 9.0, "close": 10.0 + i % 5 / 2,
             "volume": 1000.0} for e in entities for i, d in enumerate(days)]
    return pd.DataFrame(rows)


def test_a_required_column_empty_in_nearly_every_row_is_named_with_the_fix():
    raw = prices_frame(pd.bdate_range("2024-01-01", periods=5)).assign(close=None)
    problem = unusable_table("prices.csv", "prices", raw, clean_prices(raw).rejected)
    assert problem.startswith("prices.csv: column 'close' is empty in all 10 rows; the column is required")
    assert "optional ones: ['volume']" in problem
    # An optional column may be empty everywhere.
    assert unusable_table("prices.csv", "prices", raw.assign(close=10.0, volume=None), pd.DataFrame()) is None


def test_nearly_all_rows_quarantined_names_the_main_reason():
    raw = prices_frame(pd.bdate_range("2024-01-01", periods=10)).assign(low=20.0)
    problem = unusable_table("prices.csv", "prices", raw, clean_prices(raw).rejected)
    assert problem.startswith("prices.csv: all 20 rows were quarantined, 20 of them for inconsistent_ohlc")


def test_a_history_too_short_for_the_split_or_its_labels_is_refused():
    short = prices_frame(pd.bdate_range("2024-01-01", periods=30))
    problem = training_window_problem(short, SplitSpec(embargo_days=20), horizon=20)
    assert problem.startswith("prices: the train split is empty: 30 dates (2024-01-01..2024-02-09)")
    assert "shorter horizon_days" in problem
    assert training_window_problem(short, SplitSpec(embargo_days=2), horizon=2) is None
    # Test split of one date: no later price, so neither movement nor forward volatility.
    dated = SplitSpec(embargo_days=1, boundaries=("2024-01-22", "2024-01-29", "2024-02-09"))
    assert "the test split (2024-02-09..2024-02-09) has no movement or forward-volatility label" in (
        training_window_problem(short, dated, horizon=1)
    )


def test_a_cross_section_source_or_an_empty_range_cannot_train_and_says_why():
    for kind, task in (("phrasebank", "--phrasebank FILE"), ("uci_credit", "--uci FILE")):
        problem = no_history_problem(kind, ["news", "fundamentals"], "2024-01-01", "2025-12-31")
        assert problem.startswith(f"the {kind} source cannot train the daily graph") and task in problem
    problem = no_history_problem("files", [], "2024-01-01", "2024-03-29")
    assert problem.startswith("no cleaned table holds a row in the partition range 2024-01-01..2024-03-29")
    assert no_history_problem("files", ["news"], "2024-01-01", "2024-03-29") is None


def run_preflight(folder, home, horizon_days: int, trains: bool = True):
    """The cleaning and embedding stages with the preflight; when `trains`, the run also selects
    `shared_space` (its panel is not in the run), as a training run does."""
    training = [shared_space, dg.AssetSpec("modality_panel")] if trains else []
    return dg.materialize(
        [*raw_assets, *cleaned_assets, quarantine, *embedding_assets, *training, *preflight_checks],
        resources={
            "io_manager": WarehouseIOManager(root=str(home / "warehouse")),
            "warehouse": WarehouseResource(root=str(home / "warehouse"), models_root=str(home / "models")),
            "data_source": DataSourceResource(kind="files", path=str(folder), pseudonym_salt=TEST_SALT),
            "compute": ComputeResource(cache_dir=str(home / "cache"), text_encoder="hashing"),
            "training_window": TrainingWindowResource(horizon_days=horizon_days),
        },
        tags={ASSET_PARTITION_RANGE_START_TAG: "2024-01-01", ASSET_PARTITION_RANGE_END_TAG: "2024-03-29"},
        raise_on_error=False,
    )


def outcome(result):
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations() if e.asset_key.path == ["prices"]}
    return done, checks


def test_the_preflight_stops_the_run_before_the_price_embeddings(tmp_path):
    folder = tmp_path / "source"
    folder.mkdir()
    prices = prices_frame(pd.bdate_range("2024-01-01", "2024-03-29"))
    prices.assign(date=prices["date"].dt.strftime("%Y-%m-%d"), close="").to_csv(folder / "prices.csv", index=False)
    result = run_preflight(folder, tmp_path / "a", horizon_days=5)
    done, checks = outcome(result)
    assert not checks["mostly_usable"].passed
    # What `make demo` prints: the check's own message, not only the failed step's name.
    assert "check prices:mostly_usable failed: prices.csv: column 'close' is empty in all 130 rows" in (
        failure_report(result, tmp_path / "a" / "warehouse")
    )
    assert checks["mostly_usable"].description.startswith("prices.csv: column 'close' is empty in all 130 rows")
    assert "prices" in done and "price_sequence_embedding" not in done and "chart_image_embedding" not in done

    # Usable prices, but 65 business days cannot hold the default split with a 20-day embargo.
    prices.assign(date=prices["date"].dt.strftime("%Y-%m-%d")).to_csv(folder / "prices.csv", index=False)
    done, checks = outcome(run_preflight(folder, tmp_path / "b", horizon_days=20))
    assert checks["mostly_usable"].passed and not checks["training_window_fits"].passed
    assert "is empty: 65 dates (2024-01-01..2024-03-29)" in checks["training_window_fits"].description
    assert checks["training_window_fits"].severity == dg.AssetCheckSeverity.ERROR
    assert "price_sequence_embedding" not in done and "shared_space" not in done
    # A run that trains nothing (one part of a longer backfill) is warned and goes on.
    done, checks = outcome(run_preflight(folder, tmp_path / "b2", horizon_days=20, trains=False))
    assert not checks["training_window_fits"].passed
    assert checks["training_window_fits"].severity == dg.AssetCheckSeverity.WARN
    assert "this run trains nothing and goes on" in checks["training_window_fits"].description
    assert "price_sequence_embedding" in done
    # The same history with a 5-day horizon, chosen explicitly, fits.
    done, checks = outcome(run_preflight(folder, tmp_path / "c", horizon_days=5, trains=False))
    assert checks["training_window_fits"].passed and "price_sequence_embedding" in done

    # A folder whose every row lies before the run's range: stopped at once, saying so.
    earlier = prices.assign(date=(prices["date"] - pd.DateOffset(years=1)).dt.strftime("%Y-%m-%d"))
    earlier.to_csv(folder / "prices.csv", index=False)
    done, checks = outcome(run_preflight(folder, tmp_path / "d", horizon_days=5))
    assert checks["training_window_fits"].description.startswith(
        "no cleaned table holds a row in the partition range 2024-01-01..2024-03-29: set MMRISK_START_DATE"
    )
    assert "shared_space" not in done


def test_a_resource_that_cannot_start_is_reported_with_its_own_message(tmp_path):
    result = dg.materialize(
        [*raw_assets],
        resources={
            "io_manager": WarehouseIOManager(root=str(tmp_path / "warehouse")),
            "data_source": DataSourceResource(kind="files", path=str(tmp_path), pseudonym_salt="short"),
        },
        partition_key="2024-01-02",
        raise_on_error=False,
    )
    report = failure_report(result, tmp_path / "warehouse")
    assert "a resource failed to start: mmrisk_dagster.sources.pseudonyms.SaltError: MMRISK_PSEUDONYM_SALT is shorter" in report
