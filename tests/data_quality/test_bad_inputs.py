"""The corpus of bad inputs (`cases/<case>/`): each folder is a `files` source with one table
file and `expected.json` saying what must happen: a `SourceDataError` naming file, column and
line, or rows quarantined with given reasons while every other row stays clean. Whatever the
outcome, no row is lost: raw = clean + quarantined."""

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mmrisk_dagster.sources import read_source_table
from mmrisk_dagster.sources.cleaning import clean as clean_table
from mmrisk_dagster.sources.files import SourceDataError
from tests import TEST_SALT

CASES = Path(__file__).parent / "cases"
ALL_CASES = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").exists())
START, END = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31")


def expected(case: str) -> dict:
    return json.loads((CASES / case / "expected.json").read_text())


def read(folder: Path | str, table: str) -> pd.DataFrame:
    return read_source_table("files", table, START, END, path=str(folder))


def clean(table: str, raw: pd.DataFrame):
    return clean_table(table, raw, TEST_SALT)


def test_the_corpus_covers_at_least_forty_kinds_of_bad_input():
    bad = [c for c in ALL_CASES if expected(c)["outcome"] == "error" or expected(c)["quarantined"]]
    assert len(bad) >= 40, bad
    assert {expected(c)["outcome"] for c in ALL_CASES} == {"error", "quarantine"}


@pytest.mark.parametrize("case", [c for c in ALL_CASES if expected(c)["outcome"] == "error"])
def test_unusable_files_raise_an_error_naming_file_column_and_line(case):
    spec = expected(case)
    with pytest.raises(SourceDataError) as raised:
        read(CASES / case, spec["table"])
    message = str(raised.value)
    for fragment in spec["message"]:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "Traceback" not in message and "C error" not in message


@pytest.mark.parametrize("case", [c for c in ALL_CASES if expected(c)["outcome"] == "quarantine"])
def test_bad_rows_are_quarantined_with_their_reason_and_nothing_is_lost(case):
    spec = expected(case)
    raw = read(CASES / case, spec["table"])
    result = clean(spec["table"], raw)
    assert result.rejected["reason"].value_counts().to_dict() == spec["quarantined"]
    assert len(result.clean) == spec["clean"]
    assert len(raw) == len(result.clean) + len(result.rejected)
    for payload, position in zip(result.rejected["payload"], result.rejected_rows, strict=True):
        row = json.loads(payload)
        assert row["entity_id"] == (None if pd.isna(raw.at[position, "entity_id"]) else raw.at[position, "entity_id"])
    assert (result.rejected["source"] == spec["table"]).all()
    assert result.rejected["natural_key"].notna().all() and result.rejected["detail"].str.len().gt(0).all()


def test_weekend_rows_count_for_monday_and_offsets_are_honoured():
    news = clean("news", read(CASES / "weekend_and_offsets", "news")).clean
    assert sorted(news["date"].dt.strftime("%a %Y-%m-%d")) == ["Fri 2024-01-05", "Mon 2024-01-08"]
    assert news.set_index("doc_id").at["N1", "published_at"] == pd.Timestamp("2024-01-06 00:00", tz="UTC")


def test_a_nul_byte_neither_cuts_a_value_nor_passes_cleaning():
    raw = read(CASES / "nul_in_text", "news")
    assert raw.set_index("doc_id").at["N1", "headline"] == "Fjord Hold\x00ings wins contract"
    assert clean("news", raw).clean["doc_id"].tolist() == ["N2"]
    prices = clean("prices", read(CASES / "nul_in_number", "prices")).clean
    assert prices["entity_id"].tolist() == ["A"], "67\\x0034 is quarantined, not read as 67"


def test_a_row_moved_from_a_weekend_never_displaces_the_genuine_row():
    news = clean("news", read(CASES / "weekend_news_collision", "news"))
    assert news.clean["headline"].tolist() == ["Monday original"]
    assert "moved from a non-business day" in news.rejected.at[0, "detail"]
    prices = clean("prices", read(CASES / "weekend_price", "prices")).clean
    assert prices["close"].tolist() == [10.5] and prices["date"].tolist() == [pd.Timestamp("2024-01-08")]


def test_entity_id_spellings_become_one_entity_with_the_mapping_recorded():
    result = clean("prices", read(CASES / "entity_id_variants", "prices"))
    assert result.clean["entity_id"].tolist() == ["ACME", "ACME"]
    assert result.entity_id_changes == {"acme ": "ACME", " ACME": "ACME", "\uff21\uff23\uff2d\uff25": "ACME"}


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(SourceDataError, match="does not exist"):
        read(tmp_path / "nowhere", "prices")


def test_a_table_file_leading_outside_the_folder_is_refused(tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text((CASES / "wrong_type" / "prices.csv").read_text())
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / "prices.csv").symlink_to(outside)
    with pytest.raises(SourceDataError, match="outside the source folder"):
        read(folder, "prices")


def test_a_table_without_a_file_reads_as_empty(tmp_path):
    assert len(read(tmp_path, "social")) == 0


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("close", pa.array([[1.0, 2.0]]), "column 'close': holds list<"),
        ("headline", pa.array([b"\xe9t\xe9"], pa.binary()), "column 'headline': holds raw bytes"),
        ("date", pa.array([20240102]), "column 'date': holds int64 numbers"),
    ],
)
def test_parquet_columns_of_the_wrong_kind_are_errors(tmp_path, column, values, message):
    table = {"prices": ["entity_id", "date", "open", "high", "low", "close", "volume"],
             "news": ["doc_id", "entity_id", "published_at", "headline", "body", "date"]}
    name = "news" if column == "headline" else "prices"
    columns = {c: pa.array(["2024-01-02" if c == "date" else "1"]) for c in table[name]}
    columns[column] = values
    pq.write_table(pa.table(columns), tmp_path / f"{name}.parquet")
    with pytest.raises(SourceDataError) as raised:
        read(tmp_path, name)
    assert f"{name}.parquet" in str(raised.value) and message in str(raised.value)


def test_parquet_rows_are_named_by_row_number(tmp_path):
    frame = pd.read_csv(CASES / "wrong_type" / "prices.csv", dtype=str)
    frame.loc[1, "date"] = "2024-13-45"
    frame.to_parquet(tmp_path / "prices.parquet")
    with pytest.raises(SourceDataError, match=r"column 'date', row 2: '2024-13-45' is not an ISO 8601 day"):
        read(tmp_path, "prices")


def test_quarantine_payloads_of_absurd_texts_are_cut_but_raw_keeps_them(tmp_path):
    long_text = "x" * 200_000
    lines = (CASES / "future_timestamp" / "social.csv").read_text().splitlines()
    lines.append(f"P9,A,@zed,2024-01-03T09:00:00Z,{long_text},2024-01-03")
    (tmp_path / "social.csv").write_text("\n".join(lines) + "\n")
    raw = read(tmp_path, "social")
    result = clean("social", raw)
    payload = json.loads(result.rejected.set_index("reason").at["text_too_long", "payload"])
    assert len(payload["text"]) < 6_000 and "200000 chars in the raw table" in payload["text"]
    assert raw["text"].str.len().max() == 200_000


def test_optional_columns_may_be_absent_and_the_features_do_without_them(tmp_path):
    from mmrisk_dagster.ml.features import PRICE_FEATURES, chart_images, daily_price_features

    days = pd.bdate_range("2024-01-01", periods=30)
    close = 10 + pd.Series(range(30), dtype=float) * 0.1
    pd.DataFrame({"entity_id": "A", "date": days.strftime("%Y-%m-%d"), "open": close, "high": close + 0.5,
                  "low": close - 0.5, "close": close}).to_csv(tmp_path / "prices.csv", index=False)
    (tmp_path / "news.csv").write_text("doc_id,entity_id,published_at,headline,date\nN1,A,2024-01-02,Profit up,2024-01-02\n")
    (tmp_path / "social.csv").write_text("post_id,entity_id,posted_at,text,date\nP1,A,2024-01-02T10:00:00Z,$A up,2024-01-02\n")
    prices = clean("prices", read(tmp_path, "prices"))
    assert prices.rejected.empty and prices.clean["volume"].isna().all()
    features = daily_price_features(prices.clean)
    assert (features["volume_z"] == 0).all() and features[list(PRICE_FEATURES)].notna().all().all()
    assert len(chart_images(prices.clean, prices.clean["date"].iloc[-3:])) == 3
    news = clean("news", read(tmp_path, "news"))
    # A bare day is midnight UTC: usable that same business day.
    assert news.rejected.empty and news.clean["body"].isna().all()
    assert news.clean.at[0, "published_at"] == pd.Timestamp("2024-01-02", tz="UTC")
    social = clean("social", read(tmp_path, "social"))
    assert social.rejected.empty and social.clean["author_id"].str.startswith("a_").all()


def test_a_source_can_be_read_for_a_few_entities_only():
    from tests import TEST_SALT
    from mmrisk_dagster.resources import DataSourceResource

    source = DataSourceResource(kind="files", path=str(CASES / "null_values"), pseudonym_salt=TEST_SALT, entities=["B", "D"])
    assert sorted(source.read("prices", START.date(), END.date())["entity_id"]) == ["B", "D"]
