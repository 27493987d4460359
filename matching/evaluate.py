"""Scoring a linkage against ground truth (synthetic runs only; real data has no truth).

Pairwise figures count pairs of records: a predicted pair is correct when both
records truly belong to one person. Cluster figures look at persons whole:
B-cubed averages, over records, how much of a record's predicted person is
right (precision) and how much of its true person it found (recall); exact
clusters are the true persons recovered with nothing missing and nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LinkageMetrics:
    records: int
    pairs_predicted: int
    pairs_true: int
    pairs_correct: int
    precision: float
    recall: float
    f1: float
    persons_predicted: int
    persons_true: int
    persons_exact: int
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float


def _pairs(counts: pd.Series) -> int:
    values = counts.to_numpy(dtype=np.int64)
    return int((values * (values - 1) // 2).sum())


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(predicted: pd.Series, truth: pd.Series) -> LinkageMetrics:
    """`predicted` and `truth` give each record's person, aligned by position."""
    frame = pd.DataFrame({"predicted": predicted.to_numpy(), "truth": truth.to_numpy()})
    cells = frame.groupby(["predicted", "truth"], sort=False).size()
    by_predicted = frame.groupby("predicted", sort=False).size()
    by_truth = frame.groupby("truth", sort=False).size()
    correct, predicted_pairs, true_pairs = _pairs(cells), _pairs(by_predicted), _pairs(by_truth)
    precision = correct / predicted_pairs if predicted_pairs else 1.0
    recall = correct / true_pairs if true_pairs else 1.0

    joined = cells.rename("both").reset_index()
    joined["n_predicted"] = joined["predicted"].map(by_predicted)
    joined["n_truth"] = joined["truth"].map(by_truth)
    # Each record in a cell contributes cell/n_predicted (precision) and cell/n_truth (recall).
    b_precision = float((joined["both"] ** 2 / joined["n_predicted"]).sum() / len(frame))
    b_recall = float((joined["both"] ** 2 / joined["n_truth"]).sum() / len(frame))
    exact = int(((joined["both"] == joined["n_predicted"]) & (joined["both"] == joined["n_truth"])).sum())
    return LinkageMetrics(
        records=len(frame), pairs_predicted=predicted_pairs, pairs_true=true_pairs, pairs_correct=correct,
        precision=round(precision, 5), recall=round(recall, 5), f1=round(_f1(precision, recall), 5),
        persons_predicted=len(by_predicted), persons_true=len(by_truth), persons_exact=exact,
        bcubed_precision=round(b_precision, 5), bcubed_recall=round(b_recall, 5),
        bcubed_f1=round(_f1(b_precision, b_recall), 5),
    )
