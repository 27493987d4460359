"""The tables passed between linkage stages are declared once and checked where they are written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from data.tables import TableSchemaError
from matching.storage import load_records, save_records
from matching.tables import LINKED_RECORDS, PERSON_RECORDS, scored_pairs
from matching.spec import PROGRAMME_SPEC
from tests.factories import records, table


def test_standardised_records_fit_their_declaration_and_read_back_unchanged(tmp_path):
    built = records(a=table({"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "sex": "F"},
                            {"forename": None, "surname": "Lee", "sex": "U"}))
    save_records(built, tmp_path)
    schema = pq.read_schema(tmp_path / "records.parquet")
    assert schema.names[:len(PERSON_RECORDS.columns)] == PERSON_RECORDS.columns
    loaded = load_records(tmp_path).frame
    assert loaded["dob_int"].tolist() == [20010203, -1] and loaded["sex_code"].tolist() == [2, -1]
    assert loaded["initial_code"].tolist() == [0, -1] and loaded["fn"].tolist()[1] == -1
    assert str(loaded["source"].dtype) == "category"


def test_a_null_where_the_declaration_forbids_one_is_refused_by_name():
    frame = pd.DataFrame({"source": ["police"], "record_id": [None], "person_id": ["P1"], "match_probability": [0.5]})
    with pytest.raises(TableSchemaError, match="linked records: column record_id has missing values"):
        LINKED_RECORDS.conform(frame)


def test_a_missing_or_undeclared_column_is_refused():
    with pytest.raises(TableSchemaError, match="missing column"):
        LINKED_RECORDS.conform(pd.DataFrame({"source": ["a"]}))
    frame = pd.DataFrame({"source": ["a"], "record_id": ["1"], "person_id": ["P1"], "match_probability": [0.5], "x": [1]})
    with pytest.raises(TableSchemaError, match="undeclared column"):
        LINKED_RECORDS.conform(frame)


def test_scored_pairs_carry_one_level_column_per_comparison_of_the_spec():
    schema = scored_pairs(PROGRAMME_SPEC.comparisons)
    assert [name for name in schema.columns if name.startswith("level_")] == PROGRAMME_SPEC.level_columns
    frame = pd.DataFrame({name: np.zeros(1, dtype=np.int8) for name in schema.columns})
    frame = frame.astype({"left": np.int32, "right": np.int32, "rules": np.int64, "weight": float, "probability": float})
    assert schema.conform(frame).num_rows == 1
    with pytest.raises(TableSchemaError, match="do not fit"):
        schema.conform(frame.assign(left=np.array([2**40])))
