"""The built wheel carries what the package reads at run time: the Great Expectations suites.

The wheel is built from the package's files alone (no editable install, no checkout beside it),
installed into a temporary folder, and imported from there in a fresh interpreter that runs in
another directory: one suite loads and validates a small synthetic price table.
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VALIDATE_ONE_SUITE = """
from datetime import date
import mmrisk_dagster
from mmrisk_dagster.checks import gx
from mmrisk_dagster.sources.synthetic import SyntheticConfig, cached_universe
prices = cached_universe(SyntheticConfig(n_entities=3, start=date(2024, 1, 1), end=date(2024, 1, 31), seed=1)).table("prices")
outcome = gx.validate(prices, "raw_prices", gx.range_parameters(prices["date"].min(), prices["date"].max()))
print(mmrisk_dagster.__file__, outcome.passed, outcome.rows, len(outcome.results))
"""


def test_the_wheel_ships_the_suites_and_validates_one(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT / "mmrisk_dagster", source / "mmrisk_dagster", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(source)],
                   check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("mmrisk_dagster-*.whl")
    assert "mmrisk_dagster/checks/expectations/raw_prices.json" in zipfile.ZipFile(wheel).namelist()

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=300)
    done = subprocess.run([sys.executable, "-c", VALIDATE_ONE_SUITE], cwd=tmp_path, env={"PYTHONPATH": str(site),
                          "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    module_file, passed, rows, results = done.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert passed == "True" and int(rows) > 0 and int(results) >= 6
