"""The UCI credit adapter reads the data's three common CSV layouts into the same tables, and
says what is wrong with a file that is none of them."""

import pandas as pd
import pytest

from mmrisk_dagster.sources.files import SourceDataError
from mmrisk_dagster.sources.uci_credit import NAMED_COLUMNS, read_uci_credit_table

CODES = ["ID", *(f"X{i}" for i in range(1, 24)), "Y"]
NAMES = ["ID", *NAMED_COLUMNS][:25]  # ID, LIMIT_BAL .. PAY_AMT6, "default payment next month"
CLIENTS = [
    [1, 20000, 2, 2, 1, 24, 2, 2, -1, -1, -2, -2, 3913, 3102, 689, 0, 0, 0, 0, 689, 0, 0, 0, 0, 1],
    [2, 120000, 2, 2, 2, 26, -1, 2, 0, 0, 0, 2, 2682, 1725, 2682, 3272, 3455, 3261, 0, 1000, 1000, 1000, 0, 2000, 0],
]


def _csv(path, header_rows):
    path.write_text("".join(",".join(map(str, row)) + "\n" for row in [*header_rows, *CLIENTS]))
    return path


def test_the_coded_the_named_and_the_spreadsheet_layouts_read_alike(tmp_path):
    coded = _csv(tmp_path / "coded.csv", [CODES])
    named = _csv(tmp_path / "named.csv", [[*NAMES[:-1], "default.payment.next.month"]])
    spreadsheet = _csv(tmp_path / "spreadsheet.csv", [["", *CODES[1:]], NAMES])
    assert NAMES[6] == "PAY_0" and NAMES[-1] == "default payment next month"
    for table in ("fundamentals", "events"):
        expected = read_uci_credit_table(coded, table)
        assert len(expected) == (2 if table == "fundamentals" else 1)
        for other in (named, spreadsheet):
            pd.testing.assert_frame_equal(read_uci_credit_table(other, table), expected, check_dtype=False)
    assert read_uci_credit_table(coded, "fundamentals").loc[0, "repayment_status_sep"] == 2


def test_a_file_of_another_layout_names_the_missing_column(tmp_path):
    other = _csv(tmp_path / "other.csv", [[*CODES[:-1], "target"]])
    with pytest.raises(SourceDataError, match=r"missing column\(s\) \['Y'\].*default payment next month"):
        read_uci_credit_table(other, "events")
    spreadsheet = tmp_path / "credit.xls"
    spreadsheet.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    with pytest.raises(SourceDataError, match="not a readable CSV"):
        read_uci_credit_table(spreadsheet, "fundamentals")
