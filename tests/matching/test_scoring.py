"""Fellegi-Sunter weights, term frequencies, the prior, and the contradictions that protect households."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching.comparisons import compare
from matching.scoring import CONTRADICTIONS, Decision, TermFrequencies, probability_from_weight, score, weight_matrix
from matching.spec import PROGRAMME_SPEC as SPEC
from tests.factories import flat_model, records, table


def scored(built, pairs, model=None):
    model = model or flat_model()
    left, right = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    levels = compare(built, left, right, SPEC.comparisons)
    tf = TermFrequencies.from_records(built, SPEC)
    return levels, score(SPEC, levels, model, tf, left, right, built), weight_matrix(SPEC, levels, model, tf, left, built)


def test_a_level_weighs_log2_m_over_u_and_missing_values_weigh_nothing():
    model = flat_model()
    built = records(a=table({"dob": "2001-02-03"}, {"dob": "2001-02-03"}))
    levels, _, weights = scored(built, [(0, 1)], model)
    dob = [c.name for c in model.comparisons].index("dob")
    exact = model.comparison("dob").levels[0]
    assert weights[0, dob] == pytest.approx(math.log2(exact.m / exact.u))
    missing = [i for i, name in enumerate(levels.names) if levels.matrix[0, i] == -1]
    assert missing and all(weights[0, i] == 0 for i in missing)


def test_a_rare_name_agreeing_weighs_more_than_a_common_one():
    rows = [{"forename": "John", "surname": "Smith"}] * 20 + [{"forename": "Eadric", "surname": "Smith"}] * 2
    built = records(a=table(*rows))
    _, _, weights = scored(built, [(0, 1), (20, 21)])
    forename = 0
    assert weights[1, forename] > weights[0, forename] + 2


def test_probability_follows_the_prior():
    assert probability_from_weight(np.array([0.0]), 0.5)[0] == pytest.approx(0.5)
    assert probability_from_weight(np.array([10.0]), 2 ** -10 / (1 + 2 ** -10))[0] == pytest.approx(0.5)


HOUSEHOLD = {"surname": "Okafor", "postcode": "LS9 1AA"}


def bit(name: str) -> int:
    return 1 << [c.name for c in CONTRADICTIONS].index(name)


def test_twins_are_never_linked_on_household_evidence():
    # Across two sources an analyst decides (an alias looks the same); within one family they are two people.
    twins = [{**HOUSEHOLD, "forename": "Chidi", "dob": "2015-04-04", "sex": "M"},
             {**HOUSEHOLD, "forename": "Emeka", "dob": "2015-04-04", "sex": "M"}]
    _, result, _ = scored(records(a=table(*twins)), [(0, 1)])
    assert result.decision[0] == Decision.REVIEW
    assert result.contradiction[0] & bit("forenames differ")
    family = table(*twins, family_id=None)
    family["family_id"] = ["F1", "F1"]
    _, result, _ = scored(records(la_cases=family), [(0, 1)])
    assert result.decision[0] == Decision.REJECT and result.contradiction[0] & bit("listed apart")


@pytest.mark.parametrize(("other_birthday", "prior", "decision"), [
    ("2015-11-30", 0.5, Decision.REJECT),  # another birthday: another child of the household
    (None, 0.01, Decision.REJECT),         # no birthday to compare, and not strong enough otherwise (p 0.97)
    (None, 0.5, Decision.REVIEW),          # no birthday, but strong on the rest (p 0.9997): an analyst decides
    ("2015-04-04", 0.5, Decision.REVIEW),  # one birthday: an alias, or a twin
])
def test_another_forename_at_one_address_goes_to_an_analyst_only_with_a_shared_or_missing_birthday(
        other_birthday, prior, decision):
    # Surname and postcode alone say "one household": at 200k households 2,244 of 2,259 such pairs sent to
    # analysts with no birthday agreeing were two people.
    built = records(a=table({**HOUSEHOLD, "forename": "Chidi", "dob": "2015-04-04", "sex": "M"},
                            {**HOUSEHOLD, "forename": "Emeka", "dob": other_birthday, "sex": "M"}))
    _, result, _ = scored(built, [(0, 1)], flat_model(prior=prior))
    assert result.probability[0] >= 0.8, "the model alone would have sent it to an analyst"
    assert result.decision[0] == decision and result.contradiction[0] & bit("forenames differ")


def test_a_sibling_with_a_similar_name_and_another_birthday_is_not_linked():
    built = records(a=table(
        {**HOUSEHOLD, "forename": "Michelle", "dob": "2007-04-20"},
        {**HOUSEHOLD, "forename": "Michael", "dob": "2007-07-17"},
    ))
    _, result, _ = scored(built, [(0, 1)])
    assert result.decision[0] == Decision.REJECT and result.contradiction[0] & bit("a sibling's name")


@pytest.mark.parametrize(("left", "right"), [("Laura", "Luna"), ("Isla", "Isabella"), ("Abdul", "Abdullahi")])
def test_a_fuzzy_forename_without_a_birth_date_in_one_household_is_never_linked_without_an_analyst(left, right):
    built = records(a=table({**HOUSEHOLD, "forename": left, "dob": "2012-01-01"}, {**HOUSEHOLD, "forename": right}))
    _, result, _ = scored(built, [(0, 1)])
    assert result.decision[0] != Decision.ACCEPT


def test_a_father_and_the_son_named_after_him_are_not_linked():
    built = records(a=table(
        {**HOUSEHOLD, "forename": "Daniel", "dob": "1980-01-01"},
        {**HOUSEHOLD, "forename": "Daniel", "dob": "2009-06-30"},
        {**HOUSEHOLD, "forename": "Danny", "dob": "2009-06-30"},
    ))
    _, result, _ = scored(built, [(0, 1), (0, 2)])
    generation = 1 << [c.name for c in CONTRADICTIONS].index("a generation apart")
    assert (result.contradiction & generation).all()
    assert (result.decision == Decision.REJECT).all()


def test_an_agreeing_identifier_overrides_a_forename_that_differs():
    built = records(a=table(
        {**HOUSEHOLD, "forename": "Kehinde", "dob": "1990-01-01", "nino": "AB123456C"},
        {**HOUSEHOLD, "forename": "Kenny", "dob": "1990-01-01", "nino": "AB123456C"},
    ))
    _, result, _ = scored(built, [(0, 1)])
    assert result.contradiction[0] == 0
    assert result.decision[0] == Decision.ACCEPT


def test_different_valid_identifiers_are_a_contradiction():
    built = records(a=table(
        {"forename": "Ann", "surname": "Lee", "dob": "1990-01-01", "nino": "AB123456C"},
        {"forename": "Ann", "surname": "Lee", "dob": "1990-01-01", "nino": "CE654321A"},
    ))
    _, result, _ = scored(built, [(0, 1)])
    assert result.contradiction[0] & 1
    assert result.decision[0] == Decision.REJECT


def test_thresholds_split_accept_review_and_reject():
    model = flat_model()
    others = [{"forename": f"Name{chr(65 + i % 26)}{chr(65 + i // 26)}", "surname": f"Other{chr(65 + i % 26)}"} for i in range(200)]
    built = records(a=table(
        {"forename": "Ann", "surname": "Lee", "dob": "1990-01-01", "postcode": "LS1 1AA"},
        {"forename": "Ann", "surname": "Lee", "dob": "1990-01-01", "postcode": "LS1 1AA"},
        {"forename": "Ann", "surname": "Lee"},
        {"forename": "Zed", "surname": "Quinn", "dob": "1950-05-05"},
        *others,
    ))
    _, result, _ = scored(built, [(0, 1), (0, 3)], model)
    assert result.decision.tolist() == [Decision.ACCEPT, Decision.REJECT]
    assert result.probability[0] > model.thresholds.accept
