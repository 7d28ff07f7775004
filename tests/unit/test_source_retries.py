"""A transient source failure is retried and succeeds; a bad file fails at once."""

import dagster as dg
import pandas as pd

from mmrisk_dagster.assets.raw import raw_assets
from mmrisk_dagster.resources.io_manager import WarehouseIOManager
from mmrisk_dagster.resources import DataSourceResource
from mmrisk_dagster.sources.files import SourceDataError
from tests import TEST_SALT

RAW_PRICES = next(a for a in raw_assets if a.key.to_user_string() == "raw_prices")
FAILURES_LEFT: dict[str, list[BaseException]] = {}


class FlakySource(DataSourceResource):
    """Raises the errors queued under its `path` before reading normally."""

    def read(self, table, start, end):
        queued = FAILURES_LEFT[self.path]
        if queued:
            raise queued.pop(0)
        return pd.DataFrame({"entity_id": ["A"], "date": [pd.Timestamp(start)], "open": [1.0], "high": [1.0],
                             "low": [1.0], "close": [1.0], "volume": [10.0]})


def _run(tmp_path, errors):
    FAILURES_LEFT[str(tmp_path)] = list(errors)
    return dg.materialize(
        [RAW_PRICES],
        resources={"data_source": FlakySource(kind="files", path=str(tmp_path), pseudonym_salt=TEST_SALT),
                   "io_manager": WarehouseIOManager(root=str(tmp_path / "warehouse"))},
        partition_key="2024-01-02", raise_on_error=False,
    )


def test_a_transient_source_error_is_retried_and_the_run_succeeds(tmp_path):
    result = _run(tmp_path, [ConnectionError("reset by peer"), TimeoutError("slow share")])
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 2


def test_a_bad_file_is_not_retried(tmp_path):
    result = _run(tmp_path, [SourceDataError(tmp_path / "prices.csv", "the file is empty")])
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
