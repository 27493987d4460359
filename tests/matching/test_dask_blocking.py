"""Blocking shuffled on a Dask cluster finds exactly the pairs, rule bits and report of blocking in one process."""

from __future__ import annotations

import dask
import numpy as np
import pytest

from matching.blocking import BlockingRule, block
from matching.dask_backend.blocking import block_on_cluster
from matching.spec import PROGRAMME_SPEC
from matching.storage import save_records
from tests.factories import records, table

RULES = PROGRAMME_SPEC.blocking_rules


def assert_same(one, other):
    assert np.array_equal(one.left, other.left) and np.array_equal(one.right, other.right)
    assert np.array_equal(one.rules, other.rules)
    assert one.rule_names == other.rule_names
    assert one.report == other.report


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_the_shuffled_blocking_of_the_synthetic_records_is_the_same_as_in_one_process(
        synth_records, tmp_path, monkeypatch, partitions):
    monkeypatch.setattr("matching.storage.RECORDS_ROW_GROUP", 400)  # several slices for the workers to read
    save_records(synth_records, tmp_path)
    with dask.config.set(scheduler="threads"):
        shuffled = block_on_cluster(tmp_path / "records.parquet", synth_records, RULES, 250, partitions,
                                    PROGRAMME_SPEC.comparisons)
    in_one_process = block(synth_records, RULES, 250, PROGRAMME_SPEC.comparisons)
    assert len(in_one_process) > 1000
    assert_same(shuffled, in_one_process)


def test_split_skipped_and_any_of_blocks_are_counted_once_across_partitions(tmp_path, monkeypatch):
    rows = [{"forename": "Jack", "surname": "Smith", "postcode": f"LS{i % 3 + 1} 1AA"} for i in range(30)]
    # Swapped names with one date of birth: the any_of rule meets them through either name, in two partitions.
    rows += [{"forename": "Lee", "surname": "Ann", "dob": "2001-02-03"},
             {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03"},
             {"forename": "Ann", "surname": "Ann", "dob": "2001-02-03"}]
    built = records(a=table(*rows))
    rules = (BlockingRule("names", ("fn", "sn"), split_by=("postcode_district_code",)),
             BlockingRule("names only", ("fn", "sn")),
             BlockingRule("dob+either name", ("dob_int",), any_of=("fn", "sn")),
             BlockingRule("names, no dob", ("fn", "sn"), only_where_missing="dob_int"))
    monkeypatch.setattr("matching.storage.RECORDS_ROW_GROUP", 7)
    save_records(built, tmp_path)
    with dask.config.set(scheduler="sync"):
        shuffled = block_on_cluster(tmp_path / "records.parquet", built, rules, 12, 4)
    assert_same(shuffled, block(built, rules, 12))
    by_rule = {r.rule: r for r in shuffled.report}
    assert by_rule["names only"].skipped_records == 30
    assert by_rule["dob+either name"].pairs == 3


def test_no_records_make_no_pairs(tmp_path):
    empty = records(a=table({"forename": "Ann"}))
    empty = type(empty)(empty.frame.iloc[:0], empty.vocabulary)
    save_records(empty, tmp_path)
    with dask.config.set(scheduler="sync"):
        assert len(block_on_cluster(tmp_path / "records.parquet", empty, RULES, 250, 2,
                                    PROGRAMME_SPEC.comparisons)) == 0
