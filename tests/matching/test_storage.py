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
