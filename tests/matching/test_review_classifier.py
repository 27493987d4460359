"""The classifier of analysts' decisions settles only what it is sure of, at cut-offs checked out of fold."""

from __future__ import annotations

import numpy as np

from matching.comparisons import ComparisonLevels
from matching.review_classifier import fit_review_classifier
from matching.spec import PROGRAMME_SPEC

COMPARISONS = PROGRAMME_SPEC.comparisons


def decided(n: int, seed: int = 0) -> tuple[ComparisonLevels, np.ndarray, np.ndarray]:
    """Review-band pairs where a date of birth that agrees makes a link, and one that differs does not."""
    rng = np.random.default_rng(seed)
    matrix = np.full((n, len(COMPARISONS)), -1, dtype=np.int8)
    link = rng.random(n) < 0.7
    matrix[:, 2] = np.where(link, 0, 4)  # dob: exact for links, different otherwise
    matrix[:, 0] = rng.integers(0, 3, n)  # forename: noise
    weight = rng.normal(15, 2, n)
    return ComparisonLevels(matrix, tuple(c.name for c in COMPARISONS)), weight, link


def test_a_classifier_learns_what_analysts_decide_and_its_cut_offs_keep_precision():
    levels, weight, link = decided(400)
    classifier = fit_review_classifier(COMPARISONS, levels, weight, link)
    assert classifier is not None and classifier.decisions == 400 and classifier.links == int(link.sum())
    assert classifier.cross_validated["accepted_links_share"] >= 0.99
    fresh_levels, fresh_weight, fresh_link = decided(300, seed=1)
    probability = classifier.probability(COMPARISONS, fresh_levels, fresh_weight)
    accepted = probability >= classifier.accept_at
    rejected = probability <= classifier.reject_at
    assert accepted.sum() > 100 and fresh_link[accepted].all()
    assert rejected.sum() > 40 and not fresh_link[rejected].any()


def test_too_few_decisions_of_either_kind_make_no_classifier():
    levels, weight, link = decided(40)
    assert fit_review_classifier(COMPARISONS, levels, weight, link) is None
    levels, weight, _ = decided(200)
    assert fit_review_classifier(COMPARISONS, levels, weight, np.ones(200, dtype=bool)) is None
