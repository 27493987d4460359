"""Blocking: every pair within a block exactly once, missing values never block, oversized blocks reported."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.blocking import BlockingRule, block
from matching.pairs import pairs_within_blocks
from matching.spec import PROGRAMME_SPEC, LinkageSpec

from tests.factories import records, table

RULES = PROGRAMME_SPEC.blocking_rules
COMPARISONS = PROGRAMME_SPEC.comparisons


@settings(max_examples=200)
@given(st.lists(st.integers(-1, 6), max_size=40), st.integers(2, 8))
def test_pairs_within_blocks_are_every_pair_of_each_small_block(ids, cap):
    block_ids = np.array(ids, dtype=np.int64)
    left, right, oversized = pairs_within_blocks(block_ids, cap)
    expected = set()
    too_big = set()
    for value in set(ids) - {-1}:
        members = [i for i, b in enumerate(ids) if b == value]
        if len(members) > cap:
            too_big |= set(members)
        else:
            expected |= set(combinations(members, 2))
    got = list(zip(left.tolist(), right.tolist()))
    assert len(got) == len(set(got)), "no pair twice"
    assert set(got) == expected
    assert set(oversized.tolist()) == too_big


def pair_set(candidates):
    return set(zip(candidates.left.tolist(), candidates.right.tolist()))


def test_missing_values_never_form_a_block():
    built = records(a=table({"forename": "Ann"}, {"forename": "Bob"}, {"forename": "Cy"}))
    candidates = block(built, (BlockingRule("nino", ("nino_code",)), BlockingRule("dob", ("dob_int",))), 250)
    assert len(candidates) == 0


def test_each_hard_case_meets_in_some_block():
    built = records(a=table(
        {"forename": "William", "surname": "Hughes", "dob": "1980-05-06", "postcode": "LS1 4AP"},
        {"forename": "Bill", "surname": "Hughes", "dob": "1980-05-06"},                      # nickname, no postcode
        {"forename": "Hughes", "surname": "William", "postcode": "LS1 4AP"},                 # swapped, no DOB
        # a typo that keeps the sound, a transposed DOB and a move: three errors meet only through the phonetic rule
        {"forename": "William", "surname": "Hughez", "dob": "1980-06-05", "postcode": "LS9 9ZZ"},
        {"forename": "William", "surname": "Hughes", "nino": "AB123456C"},                   # no DOB, moved
    ), b=table({"forename": "Wendy", "surname": "Oakes", "nino": "AB123456C"}))  # only the NINO in common
    found = pair_set(block(built, RULES, 250, COMPARISONS))
    for pair in [(0, 1), (0, 2), (0, 3), (0, 4), (4, 5)]:
        assert pair in found, pair


def test_namesakes_with_different_dates_of_birth_and_nothing_else_shared_are_not_compared():
    # Every town has several; comparing them all would make the cost grow with the square of the population.
    built = records(a=table(
        {"forename": "William", "surname": "Hughes", "dob": "1980-05-06", "postcode": "LS1 4AP"},
        {"forename": "William", "surname": "Hughes", "dob": "1999-09-09", "postcode": "LS9 9ZZ"},
    ))
    assert pair_set(block(built, RULES, 250, COMPARISONS)) == set()


def test_pairs_carry_the_rules_that_found_them_and_each_pair_appears_once():
    built = records(a=table(
        {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS1 4AP"},
        {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS1 4AP"},
    ))
    candidates = block(built, RULES, 250, COMPARISONS)
    assert pair_set(candidates) == {(0, 1)}
    names = [candidates.rule_names[i] for i in range(len(RULES)) if candidates.rules[0] >> i & 1]
    assert {"surname+dob", "forename+dob", "dob+postcode", "forename+postcode"} <= set(names)
    assert "forename+surname" not in names  # both have a date of birth: the rules on dates cover them
    by_rule = {r.rule: r for r in candidates.report}
    assert by_rule["surname+dob"].pairs == 1 and by_rule["surname+dob"].pairs_new == 1
    assert by_rule["forename+dob"].pairs == 1 and by_rule["forename+dob"].pairs_new == 0


def test_an_oversized_block_is_split_or_skipped_and_reported():
    rows = [{"forename": "Jack", "surname": "Smith", "postcode": f"LS{i % 3 + 1} 1AA"} for i in range(30)]
    built = records(a=table(*rows))
    split_rule = BlockingRule("names", ("fn", "sn"), split_by=("postcode_district_code",))
    plain_rule = BlockingRule("names only", ("fn", "sn"))
    candidates = block(built, (split_rule, plain_rule), cap=12)
    split, skipped = candidates.report
    assert (split.oversized_blocks, split.split_blocks, split.skipped_blocks) == (1, 1, 0)
    assert split.pairs == 3 * (10 * 9 // 2)  # three districts of ten
    assert (skipped.oversized_blocks, skipped.skipped_blocks, skipped.skipped_records, skipped.pairs) == (1, 1, 30, 0)


def test_a_rule_on_names_splits_by_district_long_before_the_cap():
    rows = [{"forename": "Jack", "surname": "Smith", "postcode": f"LS{i % 2 + 1} 1AA"} for i in range(8)]
    rows += [{"forename": "Zak", "surname": "Oyelaran", "postcode": f"LS{i + 1} 1AA"} for i in range(3)]
    rule = BlockingRule("names", ("fn", "sn"), split_by=("postcode_district_code",), split_above=4)
    (report,) = block(records(a=table(*rows)), (rule,), cap=250).report
    # Eight Jack Smiths are compared within their two districts (2 x 6 pairs); the three rarer names all meet.
    assert (report.split_blocks, report.pairs) == (1, 2 * 6 + 3)


def test_a_rule_kept_to_alike_forenames_meets_an_initial_and_a_near_spelling_but_not_another_name():
    # A surname changed to a step-parent's, and the forename mistyped or given as an initial: only the date of
    # birth and the first letter of the forename are left in common.
    born = "2010-04-05"
    built = records(a=table({"forename": "Harriet", "surname": "Lee", "dob": born}),
                    b=table({"forename": "Harriett", "surname": "Okafor", "dob": born},   # near spelling
                            {"forename": "H", "surname": "Okafor", "dob": born},          # an initial
                            {"forename": "Hassan", "surname": "Patel", "dob": born}))     # another child that day
    rule = BlockingRule("dob+initial", ("dob_int", "initial_code"), alike_in="forename")
    candidates = block(built, (rule,), 250, COMPARISONS)
    found = pair_set(candidates)
    # The initial H may stand for Hassan as well as Harriet; Hassan is no mistyped Harriet.
    assert found == {(0, 1), (0, 2), (1, 2), (2, 3)}
    (report,) = candidates.report
    assert (report.pairs, report.pairs_unalike) == (4, 2)
    unfiltered = block(built, (BlockingRule("dob+initial", ("dob_int", "initial_code")),), 250)
    assert len(unfiltered) == 6 and unfiltered.report[0].pairs_unalike == 0


def test_a_rule_on_a_surname_that_sounds_alike_keeps_only_a_near_spelling_of_it():
    # Soundex puts OKAFOR, OKAFORR and OGBURU in one block; only the first two could be one surname mistyped.
    born = "1988-07-09"
    built = records(a=table({"forename": "Ngozi", "surname": "Okafor", "dob": born}),
                    b=table({"forename": "Ngozi", "surname": "Okaforr", "dob": born},
                            {"forename": "Nkechi", "surname": "Ogburu", "dob": born},
                            {"forename": "Ngozi", "surname": "Ogburu", "dob": born}))
    rule = BlockingRule("phonetic surname+birth year+initial", ("sn_phonetic", "birth_year", "initial_code"),
                        alike_in=("forename", "surname"))
    candidates = block(built, (rule,), 250, COMPARISONS)
    assert pair_set(candidates) == {(0, 1)}
    # Six pairs in the block: Nkechi is no Ngozi (3 pairs), and OGBURU no OKAFOR (2 more); OGBURU with itself
    # is alike in surname but not in forename.
    assert candidates.report[0].pairs_unalike == 5
    assert BlockingRule("r", ("dob_int",), alike_in="forename").alike_in == ("forename",)


def test_a_rule_kept_to_alike_values_needs_the_comparison_it_names():
    rule = BlockingRule("dob+initial", ("dob_int", "initial_code"), alike_in="forename")
    built = records(a=table({"forename": "Ann", "dob": "2001-02-03"}, {"forename": "Amy", "dob": "2001-02-03"}))
    with pytest.raises(ValueError, match="alike in 'forename'"):
        block(built, (rule,), 250)
    with pytest.raises(ValueError, match="unknown comparison 'given name'"):
        LinkageSpec(comparisons=COMPARISONS, training_sessions=(),
                    blocking_rules=(BlockingRule("dob+initial", ("dob_int", "initial_code"), alike_in="given name"),))


@given(st.lists(st.tuples(st.integers(-1, 3), st.sampled_from([None, "A", "B"]), st.integers(-1, 2**40)),
                min_size=1, max_size=40))
def test_block_numbers_are_the_same_exactly_where_every_column_is_and_missing_where_one_is_missing(rows):
    import pandas as pd

    from matching.blocking import _block_ids

    frame = pd.DataFrame({"code": [r[0] for r in rows], "text": pd.array([r[1] for r in rows], dtype="string"),
                          "big": np.array([r[2] for r in rows], dtype=np.int64)})
    for columns in (("code",), ("code", "text"), ("big", "code", "big"), ("text", "big")):
        ids = _block_ids(frame, columns)
        values = [tuple(frame[c].iloc[i] for c in columns) for i in range(len(frame))]
        missing = [any(v is pd.NA or v == -1 for v in row) for row in values]
        assert [i == -1 for i in ids] == missing
        present = [i for i in range(len(frame)) if not missing[i]]
        for a, b in combinations(present, 2):
            assert (ids[a] == ids[b]) == (values[a] == values[b])
        assert sorted(set(ids[ids >= 0])) == list(range(len(set(ids[ids >= 0]))))  # dense, as the report counts


def test_rules_worked_on_in_threads_give_the_same_candidates_as_one_at_a_time(synth_records, monkeypatch):
    monkeypatch.setattr("matching.blocking.ALIKE_CHUNK", 97)  # many pieces of each rule's alike comparisons at once
    one = block(synth_records, RULES, 250, COMPARISONS)
    two = block(synth_records, RULES, 250, COMPARISONS, threads=2)
    assert len(one) > 1000
    assert np.array_equal(one.left, two.left) and np.array_equal(one.right, two.right)
    assert np.array_equal(one.rules, two.rules) and one.report == two.report
    assert sum(report.pairs_unalike for report in one.report) > 0
