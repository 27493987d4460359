"""The linkage stage's tables saved and read back: a partition reads just its slice of the candidates."""

from __future__ import annotations

import numpy as np
import pytest

import matching.storage
from matching.blocking import CandidatePairs, RuleReport
from matching.storage import load_candidates, save_candidates


@pytest.mark.parametrize("rows", [slice(0, 5), slice(5, 9), slice(13, 41), slice(40, 50), slice(50, 50)])
def test_any_slice_across_row_groups_reads_back_exactly(tmp_path, monkeypatch, rows):
    monkeypatch.setattr(matching.storage, "CANDIDATE_ROW_GROUP", 7)
    report = (RuleReport("a", 3, 50, 50, 0, 0, 0, 0),)
    pairs = CandidatePairs(np.arange(50, dtype=np.int32), np.arange(50, dtype=np.int32) + 100,
                           np.full(50, 3, dtype=np.int64), ("a", "b"), report)
    path = save_candidates(pairs, tmp_path / "candidates.parquet")
    got = load_candidates(path, rows)
    assert got.left.tolist() == pairs.left[rows].tolist() and got.right.tolist() == pairs.right[rows].tolist()
    assert got.rule_names == ("a", "b") and got.report == report


def test_the_first_pass_read_in_another_process_is_the_one_saved(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from matching.first_pass import FirstPass
    from matching.storage import load_first_pass, save_first_pass

    events, dob = np.array([0, 0, 1, 1, -1]), np.array([20100101, 20100101, 19800505, -1, 19900101])
    records = SimpleNamespace(codes=lambda column: {"event_code": events, "dob_int": dob}[column])
    made = FirstPass.of(np.array([0, 1, 2, 2, 3]), events, dob)
    save_first_pass(made, tmp_path)
    assert load_first_pass(tmp_path, records) is made  # the saving process keeps its own
    monkeypatch.setattr(matching.storage, "_first_passes", {})  # as another process finds it: rebuilt from the file
    rebuilt = load_first_pass(tmp_path, records)
    for field in ("labels", "person_contexts", "has_context", "twin_at_home"):
        assert np.array_equal(getattr(rebuilt, field), getattr(made, field)), field


def test_after_the_linkage_the_process_lets_go_of_its_records_and_first_pass(tmp_path, monkeypatch):
    import pandas as pd

    from matching.first_pass import FirstPass
    from matching.storage import forget_loaded, load_first_pass, load_records, read_record_columns, save_first_pass

    pd.DataFrame({"source": ["la_cases"], "record_id": ["1"], "forename": ["ANNA"]}).to_parquet(
        tmp_path / "records.parquet")
    reads = []
    monkeypatch.setattr(matching.storage, "_loaded", {})  # this test's alone
    monkeypatch.setattr(matching.storage, "_first_passes", {})
    monkeypatch.setattr(matching.storage, "_read_records", lambda directory: reads.append(directory) or object())
    first = load_records(tmp_path)
    assert load_records(tmp_path) is first and len(reads) == 1  # kept while the linkage's tasks ask for it
    events, dob = np.array([0, 1]), np.array([20100101, 19800505])
    records = type("Records", (), {"codes": staticmethod(lambda column: {"event_code": events, "dob_int": dob}[column])})
    made = FirstPass.of(np.array([0, 1]), events, dob)
    save_first_pass(made, tmp_path)

    forget_loaded()
    assert load_records(tmp_path) is not first and len(reads) == 2  # read again by whoever needs it next
    assert load_first_pass(tmp_path, records) is not made
    # a later step reads only the columns it uses
    assert list(read_record_columns(tmp_path, ("record_id", "source")).columns) == ["record_id", "source"]
