import errno
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mmrisk_dagster.resources.warehouse import ParquetWarehouse, WarehouseError, write_error


def _frame(days, value):
    return pd.DataFrame({"entity_id": ["a"] * len(days), "date": pd.to_datetime(days), "x": [value] * len(days)})


def test_rewriting_a_partition_replaces_exactly_it(tmp_path):
    store = ParquetWarehouse(tmp_path)
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    store.write("t", _frame(days, 1), days)
    store.write("t", _frame(["2024-01-02"], 2), ["2024-01-02"])
    frame = store.read("t", days).sort_values("date")
    assert frame["x"].tolist() == [1, 2, 1]
    # A partition re-run that now has no rows leaves an empty partition, not stale rows.
    store.write("t", _frame([], 3), ["2024-01-03"])
    assert store.read("t", days)["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-01", "2024-01-02"]


def test_a_crash_mid_write_leaves_the_previous_version(tmp_path, monkeypatch):
    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01"], 1), ["2024-01-01"])

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", crash)
    with pytest.raises(WarehouseError, match=r"cannot write .*2024-01-01.parquet: disk full; check the data home's disk"):
        store.write("t", _frame(["2024-01-01"], 2), ["2024-01-01"])
    monkeypatch.undo()
    assert store.read("t", ["2024-01-01"])["x"].tolist() == [1]
    assert not list((tmp_path / "t").glob("*.tmp"))


def test_rows_outside_the_written_partitions_are_refused(tmp_path):
    with pytest.raises(ValueError, match="outside the partitions"):
        ParquetWarehouse(tmp_path).write("t", _frame(["2024-01-05"], 1), ["2024-01-01"])


def test_missing_partitions_read_as_empty_and_unknown_tables_fail_clearly(tmp_path):
    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01"], 1), ["2024-01-01"])
    assert len(store.read("t", ["2024-01-01", "2024-01-02"])) == 1
    with pytest.raises(FileNotFoundError, match="no materialized partitions"):
        store.read("nothing", ["2024-01-01"])


def test_duckdb_views_query_the_parquet_tables(tmp_path):
    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01", "2024-01-02"], 7), ["2024-01-01", "2024-01-02"])
    store.write("u", pd.DataFrame({"k": [1, 2, 3]}))
    assert store.refresh_views() == ["t", "u"]
    assert store.query("SELECT sum(x) AS s FROM t")["s"].iloc[0] == 14
    assert store.query("SELECT count(*) AS n FROM u")["n"].iloc[0] == 3


def test_json_documents_round_trip(tmp_path):
    store = ParquetWarehouse(tmp_path)
    store.write_json("card", {"version": "abc", "metrics": {"auc": 0.7}})
    assert store.has_document("card")
    assert store.read_json("card")["metrics"]["auc"] == 0.7


def test_a_corrupt_partition_names_its_file_and_the_fix(tmp_path):
    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01"], 1), ["2024-01-01"])
    path = store.partition_path("t", "2024-01-01")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(WarehouseError, match=rf"{path} is not a readable Parquet file .*re-materialize that partition"):
        store.read("t", ["2024-01-01"])


def test_a_read_only_or_full_home_names_the_file_and_the_fix(tmp_path):
    path = tmp_path / "t" / "2024-01-01.parquet"
    assert "free space on that disk" in str(write_error(path, OSError(errno.ENOSPC, "No space left on device")))
    assert str(path) in str(write_error(path, OSError(errno.EROFS, "Read-only file system")))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a mode-0500 folder anyway")
def test_a_read_only_folder_is_refused_and_the_partition_kept(tmp_path):
    store = ParquetWarehouse(tmp_path / "home")
    store.write("t", _frame(["2024-01-01"], 1), ["2024-01-01"])
    (tmp_path / "home" / "t").chmod(0o500)
    try:
        with pytest.raises(WarehouseError, match=r"cannot write .*2024-01-01.parquet: Permission denied; make the data home writable"):
            store.write("t", _frame(["2024-01-01"], 2), ["2024-01-01"])
    finally:
        (tmp_path / "home" / "t").chmod(0o700)
    assert store.read("t", ["2024-01-01"])["x"].tolist() == [1]


def test_a_damaged_catalog_says_delete_it_and_a_missing_one_is_recreated(tmp_path):
    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01"], 7), ["2024-01-01"])
    store.ensure_view("t", new_table=True)
    store.catalog_path.write_bytes(b"not a database" * 100)
    with pytest.raises(WarehouseError, match=rf"{store.catalog_path} is not a usable DuckDB catalog .*delete it"):
        store.query("SELECT 1")
    store.catalog_path.unlink()
    store.ensure_view("t", new_table=False)
    assert store.query("SELECT sum(x) AS s FROM t")["s"].iloc[0] == 7


def test_a_killed_writers_temporary_file_is_removed_by_the_next_writer(tmp_path):
    import subprocess

    store = ParquetWarehouse(tmp_path)
    store.write("t", _frame(["2024-01-01"], 1), ["2024-01-01"])
    dead = subprocess.Popen(["true"])
    dead.wait()
    orphan = tmp_path / "t" / f".2024-01-02.parquet.{dead.pid}.0123abcd.tmp"
    alive = tmp_path / "t" / f".2024-01-03.parquet.{os.getpid()}.4567ef89.tmp"
    orphan.write_bytes(b"half a file")
    alive.write_bytes(b"being written")
    store.write("t", _frame(["2024-01-01"], 2), ["2024-01-01"])
    assert not orphan.exists() and alive.exists()


def test_people_tables_are_encrypted_at_rest_and_unreadable_without_the_key(tmp_path):
    from mmrisk_dagster.resources.parquet_encryption import ParquetEncryption

    posts = pd.DataFrame({"post_id": ["P1"], "author_id": ["a_0123456789abcdef"], "text": ["@trader7 says hi"],
                          "date": pd.to_datetime(["2024-01-02"])})
    store = ParquetWarehouse(tmp_path, ParquetEncryption("parquet-key-0123456789"))
    store.write("social", posts, ["2024-01-02"])
    store.write("prices", _frame(["2024-01-02"], 1), ["2024-01-02"])
    pd.testing.assert_frame_equal(store.read("social", ["2024-01-02"]), posts)
    path = store.partition_path("social", "2024-01-02")
    assert b"@trader7" not in path.read_bytes()
    with pytest.raises(WarehouseError, match=rf"{path} is encrypted; set MMRISK_PARQUET_KEY"):
        ParquetWarehouse(tmp_path).read("social", ["2024-01-02"])
    with pytest.raises(WarehouseError, match="encrypted with another key"):
        ParquetWarehouse(tmp_path, ParquetEncryption("another-key-0123456789")).read("social", ["2024-01-02"])
    assert len(ParquetWarehouse(tmp_path).read("prices")) == 1, "other tables stay plain"
    assert store.refresh_views() == ["prices"], "DuckDB cannot read encrypted files: no view"
