"""The `uci_credit` source: default of credit card clients, Taiwan 2005 (Yeh & Lien 2009).

`ID, X1..X23, Y` per client -> one `fundamentals` row per client (the credit record as of
September 2005, named columns below) and an `events` row `default` dated in October 2005 for
every client with `Y = 1` ("default payment next month"). Other tables read as empty.

The same CSV is read under the names of the data's other common layouts: the UCI spreadsheet
saved as CSV (an `X1..X23, Y` header row, then a row of names: `ID, LIMIT_BAL, ..., default
payment next month`) and the widely shared `UCI_Credit_Card.csv` with those names as its header.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmrisk_dagster.sources.contract import PARTITION_COLUMN, empty_table
from mmrisk_dagster.sources.files import SourceDataError

RECORD_DATE = pd.Timestamp("2005-09-30")  # the last month the record describes
DEFAULT_DATE = pd.Timestamp("2005-10-31")  # "default payment next month"
MONTHS = ("sep", "aug", "jul", "jun", "may", "apr")  # X6..X11, X12..X17, X18..X23: newest first
FEATURES = {
    "X1": "credit_limit",
    "X2": "sex",
    "X3": "education",
    "X4": "marriage",
    "X5": "age",
    **{f"X{6 + i}": f"repayment_status_{m}" for i, m in enumerate(MONTHS)},
    **{f"X{12 + i}": f"bill_amount_{m}" for i, m in enumerate(MONTHS)},
    **{f"X{18 + i}": f"paid_amount_{m}" for i, m in enumerate(MONTHS)},
}


# The names of X1..X23 and Y in the UCI spreadsheet's second header row and in the named CSV.
NAMED_COLUMNS = {
    "LIMIT_BAL": "X1",
    "SEX": "X2",
    "EDUCATION": "X3",
    "MARRIAGE": "X4",
    "AGE": "X5",
    **{name: f"X{6 + i}" for i, name in enumerate(("PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"))},
    **{f"BILL_AMT{1 + i}": f"X{12 + i}" for i in range(6)},
    **{f"PAY_AMT{1 + i}": f"X{18 + i}" for i in range(6)},
    "default payment next month": "Y",
    "default.payment.next.month": "Y",
}


def _clients(path: str | Path) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise SourceDataError(path, "the UCI credit CSV does not exist; set MMRISK_SOURCE_PATH")
    try:
        frame = pd.read_csv(file)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise SourceDataError(file, f"not a readable CSV ({error}); a spreadsheet must be saved as CSV first") from None
    frame = frame.rename(columns=lambda column: NAMED_COLUMNS.get(str(column).strip(), str(column).strip()))
    if len(frame) and str(frame.iloc[0].get("X1", "")).strip() == "LIMIT_BAL":
        # The spreadsheet's second header row: the names, then the clients, all read as text.
        frame = frame.iloc[1:].reset_index(drop=True).rename(columns={frame.columns[0]: "ID"})
        frame = frame.apply(pd.to_numeric, errors="coerce")
    missing = [c for c in ("ID", *FEATURES, "Y") if c not in frame.columns]
    if missing:
        raise SourceDataError(
            file,
            f"missing column(s) {missing}; expected ID, X1..X23, Y or their names (ID, LIMIT_BAL, SEX, ..., "
            "PAY_AMT6, default payment next month)",
            column=missing[0],
        )
    return frame


def read_uci_credit_table(path: str | Path, table: str) -> pd.DataFrame:
    if table not in ("fundamentals", "events"):
        return empty_table(table)
    clients = _clients(path)
    entity = "client-" + clients["ID"].astype(str)
    if table == "fundamentals":
        return pd.DataFrame(
            {
                "entity_id": entity,
                "period_end": RECORD_DATE,
                "available_at": RECORD_DATE,
                **{name: clients[column] for column, name in FEATURES.items()},
                PARTITION_COLUMN: RECORD_DATE,
            }
        )
    defaulted = clients["Y"] == 1
    return pd.DataFrame(
        {
            "entity_id": entity[defaulted],
            "event_date": DEFAULT_DATE,
            "event_type": "default",
            PARTITION_COLUMN: DEFAULT_DATE,
        }
    ).reset_index(drop=True)
