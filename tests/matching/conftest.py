from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from matching.comparisons import PairView
from matching.standardise import PersonRecords, standardise

REFERENCE = date(2026, 9, 30)
FIELDS = ("forename", "surname", "dob", "sex", "nino", "nhs_number", "upn", "postcode")


def table(*rows: dict, prefix: str = "R", **extra_columns) -> pd.DataFrame:
    """An ingested-style table: one dict per row, any person field may be left out."""
    frame = pd.DataFrame([{field: row.get(field) for field in FIELDS} | {k: row.get(k) for k in extra_columns} for row in rows])
    frame.insert(0, "record_id", [f"{prefix}{i}" for i in range(len(rows))])
    frame["dob"] = pd.to_datetime(frame["dob"])
    return frame


def records(**tables: pd.DataFrame) -> PersonRecords:
    return standardise(tables, REFERENCE)


def pair_levels(comparison, left: dict, right: dict) -> int:
    """The level one comparison gives a pair of single records."""
    built = records(a=table(left, right))
    view = PairView(built, np.array([0]), np.array([1]))
    level = int(comparison.compute(view)[0])
    return level if level < 0 else comparison.levels[level]


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def synth_records(synth_small):
    """The small synthetic population's extracts, ingested and standardised."""
    from data.contract import load_contracts
    from data.ingest import ingest_extract
    from data.readers import locate_extracts

    contracts = load_contracts()
    tables = {s: ingest_extract(p, contracts[s]).records for s, p in locate_extracts(synth_small / "extracts", contracts).items()}
    return standardise(tables, REFERENCE)
