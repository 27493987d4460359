"""Person IDs stay put across runs: kept through records, through reissued record ids, through merges and splits."""

from __future__ import annotations

import pandas as pd

from matching.person_index import assign_person_ids


def current(*rows):
    return pd.DataFrame(rows, columns=["source", "record_id", "identity_key", "cluster"])


def ids_by_record(assignment, frame):
    return dict(zip(frame["record_id"], assignment.person_ids))


def test_the_first_run_numbers_persons_in_order():
    frame = current(("a", "1", "k1", 0), ("a", "2", "k2", 1), ("b", "3", "k3", 0))
    result = assign_person_ids(frame, None, "run1")
    assert ids_by_record(result, frame) == {"1": "P000000001", "2": "P000000002", "3": "P000000001"}
    assert (result.new, result.kept, result.merged) == (2, 0, 0)
    assert set(result.index["first_seen_run"]) == {"run1"}


def test_a_person_seen_again_keeps_the_id_and_new_records_join_it():
    first = current(("a", "1", "k1", 0), ("a", "2", "k2", 1))
    month1 = assign_person_ids(first, None, "run1")
    second = current(("a", "2", "k2", 0), ("a", "1", "k1", 1), ("c", "9", "k9", 1), ("c", "8", "k8", 2))
    month2 = assign_person_ids(second, month1.index, "run2")
    got = ids_by_record(month2, second)
    assert got["1"] == got["9"] == "P000000001"
    assert got["2"] == "P000000002"
    assert got["8"] == "P000000003"  # new numbers continue after the highest ever given
    first_seen = month2.index.set_index("record_id")["first_seen_run"]
    assert first_seen["1"] == "run1" and first_seen["9"] == "run2"


def test_a_reissued_record_id_is_recognised_by_its_details():
    month1 = assign_person_ids(current(("dwp", "OLD1", "kx", 0)), None, "run1")
    second = current(("dwp", "NEW7", "kx", 0))
    month2 = assign_person_ids(second, month1.index, "run2")
    assert month2.person_ids.tolist() == ["P000000001"]


def test_a_merge_keeps_the_lowest_id_and_records_the_other():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), None, "run1")
    merged = current(("a", "1", "k1", 0), ("a", "2", "k2", 0))
    month2 = assign_person_ids(merged, month1.index, "run2")
    assert month2.person_ids.tolist() == ["P000000001", "P000000001"]
    assert month2.changes.to_dict("records") == [{"previous_id": "P000000002", "merged_into": "P000000001", "run_id": "run2"}]


def test_a_split_keeps_the_id_on_the_larger_part():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 0), ("a", "3", "k3", 0)), None, "run1")
    split = current(("a", "1", "k1", 0), ("a", "2", "k2", 1), ("a", "3", "k3", 1))
    month2 = assign_person_ids(split, month1.index, "run2")
    got = ids_by_record(month2, split)
    assert got["2"] == got["3"] == "P000000001"
    assert got["1"] == "P000000002"


def test_persons_not_seen_this_month_stay_in_the_index():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), None, "run1")
    month2 = assign_person_ids(current(("a", "1", "k1", 0)), month1.index, "run2")
    month3 = assign_person_ids(current(("a", "2", "k2", 0)), month2.index, "run3")
    assert month3.person_ids.tolist() == ["P000000002"]
    assert set(month2.index["record_id"]) == {"1", "2"}
