"""Person IDs stay put across runs (through records, reissued record ids, merges and splits) and are never
given to two different people, whatever the order of the rows or the folder."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.person_index import assign_person_ids, derive_ids, person_set_texts

ID_FORMAT = re.compile(r"^P[0-9a-f]{32}$")


def current(*rows):
    return pd.DataFrame(rows, columns=["source", "record_id", "identity_key", "cluster"])


def ids_by_record(assignment, frame):
    return dict(zip(frame["record_id"], assignment.person_ids))


def test_a_new_person_gets_an_id_derived_from_their_records():
    frame = current(("a", "1", "k1", 0), ("a", "2", "k2", 1), ("b", "3", "k3", 0))
    result = assign_person_ids(frame, None, "run1")
    got = ids_by_record(result, frame)
    assert got["1"] == got["3"] != got["2"]
    assert all(ID_FORMAT.match(person) for person in got.values())
    assert (result.new, result.kept, result.merged) == (2, 0, 0)
    assert set(result.index["first_seen_run"]) == {"run1"}


def test_rows_in_another_order_in_a_fresh_folder_give_every_person_the_same_id():
    """The issue's case: a rebuilt index gave sequential numbers to whoever came first, naming other people."""
    rows = [("a", str(i), f"k{i}", i // 2) for i in range(40)]  # twenty persons of two records each
    forward = current(*rows)
    shuffled = forward.sample(frac=1, random_state=3).reset_index(drop=True)
    # The clustering numbers its persons in the order it meets them: another order, other numbers.
    shuffled["cluster"] = pd.factorize(shuffled["cluster"])[0]
    one = ids_by_record(assign_person_ids(forward, None, "run-a"), forward)
    two = ids_by_record(assign_person_ids(shuffled, None, "run-b"), shuffled)
    assert one == two


def test_an_id_is_never_given_to_other_records_than_those_it_was_derived_from():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), None, "run1")
    # Another folder, where record 2's details differ (another person under a reused record id).
    elsewhere = current(("a", "1", "k1", 0), ("a", "2", "OTHER", 1))
    rebuilt = assign_person_ids(elsewhere, None, "run1")
    assert rebuilt.person_ids[0] == month1.person_ids[0]
    assert rebuilt.person_ids[1] != month1.person_ids[1]


def test_a_derived_id_already_in_use_is_derived_again_and_the_result_is_the_same_every_time():
    texts = person_set_texts(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)))
    plain = derive_ids(texts, set())
    clash = derive_ids(texts, {plain[0]})
    assert clash[0] != plain[0] and clash[1] == plain[1] and ID_FORMAT.match(clash[0])
    assert derive_ids(texts, {plain[0]}).tolist() == clash.tolist()
    same_text = pd.Series({0: texts[0], 1: texts[0]})  # two persons that would derive one ID: one is moved on
    assert derive_ids(same_text, set()).nunique() == 2


def test_a_new_person_never_takes_an_id_the_index_holds_for_someone_else():
    newcomer = current(("b", "9", "k9", 0))
    would_be = derive_ids(person_set_texts(newcomer), set())[0]
    # The index holds that very ID for another person, not seen this month (as a hash collision would leave it).
    index = pd.DataFrame({"person_id": [would_be], "source": ["z"], "record_id": ["5"], "identity_key": ["k5"],
                          "first_seen_run": ["r0"], "last_seen_run": ["r0"]})
    month = assign_person_ids(newcomer, index, "run2")
    assert month.person_ids[0] != would_be and ID_FORMAT.match(month.person_ids[0])
    assert month.index.set_index("record_id")["person_id"].to_dict() == {"5": would_be, "9": month.person_ids[0]}


def test_a_person_seen_again_keeps_the_id_and_new_records_join_it():
    first = current(("a", "1", "k1", 0), ("a", "2", "k2", 1))
    month1 = assign_person_ids(first, None, "run1")
    before = ids_by_record(month1, first)
    second = current(("a", "2", "k2", 0), ("a", "1", "k1", 1), ("c", "9", "k9", 1), ("c", "8", "k8", 2))
    month2 = assign_person_ids(second, month1.index, "run2")
    got = ids_by_record(month2, second)
    assert got["1"] == got["9"] == before["1"]
    assert got["2"] == before["2"]
    assert got["8"] not in before.values()
    first_seen = month2.index.set_index("record_id")["first_seen_run"]
    assert first_seen["1"] == "run1" and first_seen["9"] == "run2"


def test_a_reissued_record_id_is_recognised_by_its_details():
    month1 = assign_person_ids(current(("dwp", "OLD1", "kx", 0)), None, "run1")
    second = current(("dwp", "NEW7", "kx", 0))
    month2 = assign_person_ids(second, month1.index, "run2")
    assert month2.person_ids.tolist() == month1.person_ids.tolist()


def test_a_merge_keeps_one_id_and_records_the_other():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), None, "run1")
    one, two = month1.person_ids
    merged = current(("a", "1", "k1", 0), ("a", "2", "k2", 0))
    month2 = assign_person_ids(merged, month1.index, "run2")
    kept, lost = min(one, two), max(one, two)  # equal votes: the lower ID stays
    assert month2.person_ids.tolist() == [kept, kept]
    assert month2.changes.to_dict("records") == [{"previous_id": lost, "merged_into": kept, "run_id": "run2"}]


def test_a_split_keeps_the_id_on_the_larger_part():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 0), ("a", "3", "k3", 0)), None, "run1")
    split = current(("a", "1", "k1", 0), ("a", "2", "k2", 1), ("a", "3", "k3", 1))
    month2 = assign_person_ids(split, month1.index, "run2")
    got = ids_by_record(month2, split)
    assert got["2"] == got["3"] == month1.person_ids[0]
    assert got["1"] != month1.person_ids[0] and ID_FORMAT.match(got["1"])


def test_persons_not_seen_this_month_stay_in_the_index():
    month1 = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), None, "run1")
    month2 = assign_person_ids(current(("a", "1", "k1", 0)), month1.index, "run2")
    month3 = assign_person_ids(current(("a", "2", "k2", 0)), month2.index, "run3")
    assert month3.person_ids.tolist() == [month1.person_ids[1]]
    assert set(month2.index["record_id"]) == {"1", "2"}


def test_ids_of_the_earlier_sequential_format_are_kept_where_the_index_carries_them():
    earlier = pd.DataFrame({"person_id": ["P000000311"], "source": ["a"], "record_id": ["1"], "identity_key": ["k1"],
                            "first_seen_run": ["r0"], "last_seen_run": ["r0"]})
    month = assign_person_ids(current(("a", "1", "k1", 0), ("a", "2", "k2", 1)), earlier, "run1")
    assert month.person_ids[0] == "P000000311" and ID_FORMAT.match(month.person_ids[1])
    assert np.array_equal(month.index["person_id"].isin(month.person_ids).to_numpy(), np.ones(2, dtype=bool))


months = st.lists(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 12), st.integers(0, 5)), max_size=15),
                  min_size=1, max_size=4)


@settings(max_examples=60, deadline=None)
@given(months)
def test_the_index_holds_each_month_and_the_carried_records_grouped_by_person_in_the_runs_order(months):
    """The index is this month's records, then those carried from the previous index (a merged ID replaced by
    the ID it went into), sorted by person ID and, within a person, in that order."""
    previous = None
    for number, rows in enumerate(months):
        frame = current(*[(source, str(record), f"k{record % 4}", person) for source, record, person in rows])
        frame = frame.drop_duplicates(["source", "record_id"]).reset_index(drop=True)
        frame["cluster"] = pd.factorize(frame["cluster"])[0]
        month = assign_person_ids(frame, previous, f"run{number}")
        seen = frame[["source", "record_id", "identity_key"]].assign(person_id=month.person_ids,
                                                                     last_seen_run=f"run{number}")
        expected = seen
        if previous is not None:
            here = pd.MultiIndex.from_frame(frame[["source", "record_id"]])
            carried = previous[~previous.set_index(["source", "record_id"]).index.isin(here)]
            merged = dict(zip(month.changes["previous_id"], month.changes["merged_into"]))
            carried = carried.assign(person_id=[merged.get(p, p) for p in carried["person_id"]])
            parts = [part for part in (seen, carried[seen.columns]) if len(part)]
            expected = pd.concat(parts, ignore_index=True) if parts else seen
        expected = expected.astype(str).sort_values("person_id", kind="stable").reset_index(drop=True)
        got = month.index[expected.columns].astype(str)
        pd.testing.assert_frame_equal(got, expected)
        previous = month.index
