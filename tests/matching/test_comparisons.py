"""Every level of every comparison, on pairs built to reach it."""

from __future__ import annotations

import pytest

from matching.comparisons import (
    DateOfBirthComparison,
    ForenameComparison,
    IdentifierComparison,
    PostcodeComparison,
    SexComparison,
    SurnameComparison,
    compare,
)
from matching.spec import PROGRAMME_SPEC
from tests.factories import NO_EVIDENCE, pair_level, records, table



@pytest.mark.parametrize(("left", "right", "level"), [
    ("John", "John", "exact"),
    ("Bill", "William", "nickname"),
    ("Muhammad", "Mohammed", "nickname"),
    ("Katherine", "Katherime", "jaro-winkler >= 0.92"),
    ("Jon", "Joan", "jaro-winkler >= 0.92"),
    ("Claire", "Clara", "jaro-winkler >= 0.80 or one edit"),
    ("Ian", "Ain", "jaro-winkler >= 0.80 or one edit"),  # two letters swapped: Jaro-Winkler 0.56
    ("Steven", "Stefan", "nickname"),
    ("J", "John", "initial"),
    ("Smith", "Jones", "different"),
    (None, "John", NO_EVIDENCE),
])
def test_forename_levels(left, right, level):
    assert pair_level(ForenameComparison(), {"forename": left, "surname": "Adams"}, {"forename": right, "surname": "Adams"}) == level


def test_swapped_names_are_their_own_level_on_both_fields():
    left, right = {"forename": "Ahmed", "surname": "Khalid"}, {"forename": "Khalid", "surname": "Ahmed"}
    assert pair_level(ForenameComparison(), left, right) == "swapped with surname"
    assert pair_level(SurnameComparison(), left, right) == "swapped with forename"


@pytest.mark.parametrize(("left", "right", "level"), [
    ("Smith", "Smith", "exact"),
    ("MacDonald", "McDonald", "exact"),
    ("Smith-Jones", "Jones", "part of a double-barrelled name"),
    ("Taylor-Brown", "Brown-Green", "part of a double-barrelled name"),
    ("Robinson", "Robinsen", "jaro-winkler >= 0.92"),
    ("Smith", "Smythe", "jaro-winkler >= 0.80 or one edit"),
    ("Smith", "Okafor", "different"),
    ("Smith", None, NO_EVIDENCE),
])
def test_surname_levels(left, right, level):
    assert pair_level(SurnameComparison(), {"forename": "Ann", "surname": left}, {"forename": "Ann", "surname": right}) == level


@pytest.mark.parametrize(("left", "right", "level"), [
    ("1984-03-07", "1984-03-07", "exact"),
    ("1984-03-07", "1984-07-03", "day and month transposed"),
    ("1984-03-07", "1984-03-08", "one digit off"),
    ("1984-03-07", "1985-03-07", "one digit off"),
    ("1984-03-07", "1984-11-20", "same year"),
    ("1984-03-07", "1990-01-01", "different"),
    ("1984-03-07", None, NO_EVIDENCE),
])
def test_date_of_birth_levels(left, right, level):
    assert pair_level(DateOfBirthComparison(), {"dob": left}, {"dob": right}) == level


@pytest.mark.parametrize(("name", "left", "right", "level"), [
    ("nino", "AB123456C", "AB123456C", "exact"),
    ("nino", "AB123456C", "AB124356C", "one transposition or digit"),
    ("nino", "AB123456C", "AB123457C", "one transposition or digit"),
    ("nino", "AB123456C", "AB124357C", "two transpositions or digits"),
    ("nino", "AB123456C", "CE654321A", "different"),
    ("nino", "AB123456C", "QQ123456C", NO_EVIDENCE),  # invalid: never used
    ("nhs_number", "9434765870", "9434765870", "exact"),
    ("nhs_number", "9434765870", "4010232137", "different"),
    ("upn", "B801200005001", "B801200005001", "exact"),
    ("upn", "B801200005001", None, NO_EVIDENCE),
])
def test_identifier_levels(name, left, right, level):
    assert pair_level(IdentifierComparison(name=name, column=name), {name: left}, {name: right}) == level


@pytest.mark.parametrize(("left", "right", "level"), [
    ("LS1 4AP", "ls14ap", "full"),
    ("LS1 4AP", "LS1 4ZZ", "sector"),
    ("LS1 4AP", "LS1 9AA", "district"),
    ("LS1 4AP", "BD7 1AA", "different"),
    ("LS1 4AP", None, NO_EVIDENCE),
])
def test_postcode_levels(left, right, level):
    assert pair_level(PostcodeComparison(), {"postcode": left}, {"postcode": right}) == level


@pytest.mark.parametrize(("left", "right", "level"), [("F", "F", "same"), ("F", "M", "different"), ("F", "U", NO_EVIDENCE)])
def test_sex_levels(left, right, level):
    assert pair_level(SexComparison(), {"sex": left}, {"sex": right}) == level


def test_compare_gives_one_level_column_per_comparison_for_many_pairs():
    import numpy as np

    built = records(a=table(*[{"forename": "Ann", "surname": "Lee", "dob": "2001-02-03"}] * 4))
    levels = compare(built, np.array([0, 0, 1]), np.array([1, 2, 3]), PROGRAMME_SPEC.comparisons)
    assert levels.matrix.shape == (3, len(PROGRAMME_SPEC.comparisons))
    assert (levels.column("forename") == 0).all() and (levels.column("nino") == NO_EVIDENCE).all()


def test_levels_are_found_by_key_and_labelled_from_their_threshold():
    strict = ForenameComparison(close=0.95)
    assert strict.labels[strict.index(ForenameComparison.CLOSE)] == "jaro-winkler >= 0.95"
    assert strict.index(ForenameComparison.DIFFERENT) == len(strict.levels) - 1
    # "Jon" and "Joan" are close at 0.92 (JW 0.93) but not at 0.95
    assert pair_level(strict, {"forename": "Jon", "surname": "Adams"}, {"forename": "Joan", "surname": "Adams"}) \
        == "jaro-winkler >= 0.80 or one edit"


def test_every_level_but_the_last_has_a_condition():
    for comparison in PROGRAMME_SPEC.comparisons:
        *conditional, last = comparison.levels
        assert all(level.when is not None for level in conditional) and last.when is None, comparison.name
        assert len({level.key for level in comparison.levels}) == len(comparison.levels), comparison.name
