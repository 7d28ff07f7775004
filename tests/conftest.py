import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from datetime import date  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from mmrisk_dagster import DELIBERATE_BETA_APIS  # noqa: E402
from mmrisk_dagster.sources.cleaning import clean  # noqa: E402
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe  # noqa: E402
from tests import TEST_SALT  # noqa: E402

torch.set_num_threads(2)


def pytest_configure(config):
    # pytest resets warning filters around each test: it is told the package's own named ones.
    for category, message in DELIBERATE_BETA_APIS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}:{category.__module__}.{category.__name__}")


_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


@pytest.fixture(autouse=True)
def _tracking_uri_stays_in_its_test():
    """mlflow.set_tracking_uri (the MLflow resource calls it) exports MLFLOW_TRACKING_URI: left
    set, it would send every later test's subprocesses to that test's store or stopped server."""
    yield
    if _TRACKING_URI is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = _TRACKING_URI


SMALL = SyntheticConfig(n_entities=12, start=date(2024, 1, 1), end=date(2024, 6, 28), seed=3)


@pytest.fixture(scope="session")
def small_universe():
    return cached_universe(SMALL)


@pytest.fixture(scope="session")
def default_universe():
    return cached_universe(SyntheticConfig())


@pytest.fixture(scope="session")
def small_clean(small_universe):
    """Cleaned canonical tables of the small universe."""
    out = {}
    for table in ("fundamentals", "prices", "news", "social", "events"):
        raw = small_universe.table(table)
        out[table] = clean(table, raw, TEST_SALT).clean
    return out
