"""EM recovers known parameters; training on synthetic extracts gives parameters that make sense."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from matching import pipeline
from matching.spec import PROGRAMME_SPEC
from matching.training import estimate_u, expectation_maximisation, monotone_levels, neutral_m

COMPARISONS = PROGRAMME_SPEC.comparisons

TRUE_M = [np.array([0.85, 0.10, 0.05]), np.array([0.90, 0.07, 0.03]), np.array([0.70, 0.20, 0.08, 0.02])]
TRUE_U = [np.array([0.02, 0.08, 0.90]), np.array([0.001, 0.01, 0.989]), np.array([0.05, 0.15, 0.30, 0.50])]


def simulate(n: int, share: float, missing: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < share
    columns = []
    for m, u in zip(TRUE_M, TRUE_U):
        column = np.where(is_match, rng.choice(len(m), n, p=m), rng.choice(len(u), n, p=u)).astype(np.int8)
        column[rng.random(n) < missing] = -1
        columns.append(column)
    return np.column_stack(columns)


@pytest.mark.parametrize("share", [0.05, 0.3, 0.7])
def test_em_with_u_fixed_recovers_m_and_the_match_share(share):
    levels = simulate(200_000, share, missing=0.1, seed=1)
    start = [np.array([0.6, 0.3, 0.1]), np.array([0.6, 0.3, 0.1]), np.array([0.4, 0.3, 0.2, 0.1])]
    result = expectation_maximisation(levels, TRUE_U, start, [True, True, True], match_share=0.5)
    assert result.converged
    assert result.match_share == pytest.approx(share, abs=0.01)
    for estimated, true in zip(result.m, TRUE_M):
        assert np.abs(estimated - true).max() < 0.02


def test_an_inactive_comparison_keeps_its_starting_m():
    levels = simulate(20_000, 0.3, missing=0.0, seed=2)
    start = [np.array([0.6, 0.3, 0.1]), np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.3, 0.2, 0.1])]
    result = expectation_maximisation(levels, TRUE_U, start, [True, False, True])
    assert np.array_equal(result.m[1], start[1])


def test_with_m_held_the_share_of_matches_is_estimated_under_the_given_m():
    levels = simulate(100_000, 0.2, missing=0.1, seed=3)
    result = expectation_maximisation(levels, TRUE_U, TRUE_M, [True, True, True], match_share=0.5, update_m=False)
    assert all(np.array_equal(held, true) for held, true in zip(result.m, TRUE_M))
    assert result.match_share == pytest.approx(0.2, abs=0.01)


def test_u_from_random_pairs_has_no_impossible_level(synth_records):
    u, sampled = estimate_u(synth_records, COMPARISONS, 50_000, seed=0)
    assert sampled == 50_000
    for table in u:
        assert (table > 0).all() and table.sum() == pytest.approx(1.0)
    forename = u[0]
    assert forename[-1] > 0.9, "two random records almost never share a forename"


def test_training_on_synthetic_extracts_gives_sensible_weights(synth_records):
    model = pipeline.train(PROGRAMME_SPEC, synth_records, data_sha256="test", code_version={}, trained_at="now",
                           random_pairs=200_000)
    for params in model.comparisons:
        strongest, weakest = params.levels[0], params.levels[-1]
        assert strongest.weight > (0 if params.name == "sex" else 3), params.name
        assert weakest.weight < 0, params.name
        assert all(abs(level.weight) < 25 for level in params.levels), params.name
    assert 0 < model.prior < 0.01
    assert {s["rule"] for s in model.training.sessions} >= {"nino", "surname+dob"}
    fixed = {s["rule"]: set(s["fixed"]) for s in model.training.sessions if "fixed" in s}
    assert fixed["surname+dob"] == {"surname", "dob"} and fixed["nino"] == {"nino"}


def test_em_counts_the_matches_agreeing_at_each_top_level():
    share, missing, n = 0.3, 0.1, 200_000
    levels = simulate(n, share, missing=missing, seed=4)
    result = expectation_maximisation(levels, TRUE_U, TRUE_M, [True, True, True], match_share=0.5)
    for agreeing, m in zip(result.agreeing_matches, TRUE_M):
        assert agreeing == pytest.approx(n * share * (1 - missing) * m[0], rel=0.05)


def test_a_field_no_true_match_carries_on_both_sides_keeps_its_neutral_m(synth_records):
    """NHS numbers come from la_cases alone, which holds no duplicate people: the pairs with two NHS numbers
    are different people (twins), and must not teach the model that a person's NHS numbers differ."""
    model = pipeline.train(PROGRAMME_SPEC, synth_records, data_sha256="test", code_version={}, trained_at="now",
                           random_pairs=200_000)
    nhs = next(params for params in model.comparisons if params.name == "nhs_number")
    neutral = neutral_m(next(c for c in COMPARISONS if c.name == "nhs_number"))
    assert [level.m for level in nhs.levels] == pytest.approx(list(neutral))
    assert nhs.levels[0].weight > 10
    assert all("nhs_number" in s["not_estimated"] for s in model.training.sessions if "fixed" in s)


def test_known_answers_pull_m_toward_what_analysts_decided():
    levels = simulate(20_000, 0.3, missing=0.0, seed=5)
    start = [np.array([0.6, 0.3, 0.1]), np.array([0.6, 0.3, 0.1]), np.array([0.4, 0.3, 0.2, 0.1])]
    plain = expectation_maximisation(levels, TRUE_U, start, [True, True, True])
    # Five thousand decided pairs that all disagree on the first comparison, and were all links.
    known = np.column_stack([np.full(5000, 2), np.zeros(5000), np.zeros(5000)]).astype(np.int8)
    taught = expectation_maximisation(levels, TRUE_U, start, [True, True, True], labelled=known,
                                      labels=np.ones(5000, dtype=bool))
    assert taught.m[0][2] > plain.m[0][2] + 0.05


@given(st.lists(st.floats(0.001, 1.0), min_size=2, max_size=7), st.lists(st.floats(0.001, 1.0), min_size=2, max_size=7))
def test_pooled_levels_never_let_a_weaker_level_outweigh_a_stronger_one(m_raw, u_raw):
    k = min(len(m_raw), len(u_raw))
    m, u = np.array(m_raw[:k]) / sum(m_raw[:k]), np.array(u_raw[:k]) / sum(u_raw[:k])
    adjusted, groups = monotone_levels(m, u)
    weights = np.log2(adjusted / u)
    assert (np.diff(weights) <= 1e-9).all()
    assert adjusted.sum() == pytest.approx(1.0)
    assert all(len(g) > 1 for g in groups)
