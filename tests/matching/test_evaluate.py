"""Pairwise and cluster metrics on a hand-worked example."""

from __future__ import annotations

import pandas as pd
import pytest

from matching.evaluate import evaluate


def test_metrics_on_a_worked_example():
    # Truth: {a,b,c} {d,e}. Predicted: {a,b} {c,d,e}.
    truth = pd.Series(["T1", "T1", "T1", "T2", "T2"])
    predicted = pd.Series(["P1", "P1", "P2", "P2", "P2"])
    m = evaluate(predicted, truth)
    assert (m.pairs_predicted, m.pairs_true, m.pairs_correct) == (4, 4, 2)
    assert (m.precision, m.recall, m.f1) == (0.5, 0.5, 0.5)
    assert (m.persons_predicted, m.persons_true, m.persons_exact) == (2, 2, 0)
    # B-cubed precision: a,b: 2/2; c: 1/3; d,e: 2/3 -> (1+1+1/3+2/3+2/3)/5
    assert m.bcubed_precision == pytest.approx((1 + 1 + 1 / 3 + 2 / 3 + 2 / 3) / 5, abs=1e-5)


def test_a_perfect_linkage_scores_one():
    truth = pd.Series(["x", "x", "y"])
    m = evaluate(pd.Series([1, 1, 2]), truth)
    assert (m.precision, m.recall, m.f1, m.persons_exact) == (1.0, 1.0, 1.0, 2)
