"""What analysts decided, learnt: a classifier that settles review-band pairs like theirs the next month.

Every month analysts decide the pairs in the review band, the pairs the
Fellegi-Sunter model is least sure of. Their decisions re-estimate the model's
m (see `matching.training`), and they also train this: a logistic regression
(scikit-learn) on the comparison vector of each decided pair (which level each
comparison reached, and the model's match weight). In later runs it settles a
review-band pair only where it is sure, at cut-offs chosen by cross-validation
on the decisions so that at least `TARGET_PRECISION` of the pairs it would
accept were links, and of those it would reject were not; every other pair
still goes to an analyst. It never overrides a contradiction.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict

from matching.comparisons import NO_EVIDENCE, Comparison, ComparisonLevels

TARGET_PRECISION = 0.995
MIN_DECISIONS = 60
MIN_EACH = 15
FOLDS = 5


class ReviewClassifier(BaseModel):
    """Coefficients over one-hot levels and the match weight, and the cut-offs that settle a pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float
    accept_at: float | None
    """Pairs at or above this probability are links (None: it accepts none)."""
    reject_at: float | None
    """Pairs at or below this probability are not (None: it rejects none)."""
    decisions: int
    links: int
    cross_validated: dict[str, float]
    """Share of links among the pairs it would accept, and of no-links among those it would reject, out of fold."""

    def probability(self, comparisons: tuple[Comparison, ...], levels: ComparisonLevels, weight: np.ndarray) -> np.ndarray:
        features = feature_matrix(comparisons, levels, weight)
        return 1.0 / (1.0 + np.exp(-(features @ np.asarray(self.coefficients) + self.intercept)))


def feature_names(comparisons: tuple[Comparison, ...]) -> tuple[str, ...]:
    names = [f"{c.name}: {label}" for c in comparisons for label in (*c.labels, "no evidence")]
    return (*names, "match weight")


def feature_matrix(comparisons: tuple[Comparison, ...], levels: ComparisonLevels, weight: np.ndarray) -> np.ndarray:
    """One column per comparison and level (1 where the pair reached it), then the match weight."""
    columns = []
    for i, comparison in enumerate(comparisons):
        width = len(comparison.levels) + 1
        level = levels.matrix[:, i].astype(np.int64)
        index = np.where(level == NO_EVIDENCE, width - 1, level)
        columns.append(np.eye(width)[index])
    columns.append(np.clip(np.asarray(weight, dtype=float), -60, 60)[:, None] / 10.0)
    return np.hstack(columns) if columns else np.zeros((len(weight), 0))


def _cut_offs(probability: np.ndarray, link: np.ndarray) -> tuple[float | None, float | None, dict[str, float]]:
    """The lowest probability above which links make TARGET_PRECISION of pairs, and the highest below which
    no-links do, out of fold."""
    order = np.argsort(-probability, kind="stable")
    ranked, labels = probability[order], link[order]
    # A cut-off sits on a pair of its own kind: the last link (from the top) while links are precise enough.
    above = np.cumsum(labels) / np.arange(1, len(labels) + 1)
    accept_at = None
    good = np.flatnonzero((above >= TARGET_PRECISION) & labels)
    if len(good):
        accept_at = float(ranked[good[-1]])
    below = np.cumsum(~labels[::-1]) / np.arange(1, len(labels) + 1)
    reject_at = None
    good = np.flatnonzero((below >= TARGET_PRECISION) & ~labels[::-1])
    if len(good):
        reject_at = float(ranked[::-1][good[-1]])
    if accept_at is not None and reject_at is not None and reject_at >= accept_at:
        reject_at = None
    cross = {}
    if accept_at is not None:
        chosen = probability >= accept_at
        cross["accepted"] = int(chosen.sum())
        cross["accepted_links_share"] = round(float(link[chosen].mean()), 4)
    if reject_at is not None:
        chosen = probability <= reject_at
        cross["rejected"] = int(chosen.sum())
        cross["rejected_no_links_share"] = round(float((~link[chosen]).mean()), 4)
    return accept_at, reject_at, cross


def fit_review_classifier(comparisons: tuple[Comparison, ...], levels: ComparisonLevels, weight: np.ndarray,
                          link: np.ndarray, seed: int = 0) -> ReviewClassifier | None:
    """A classifier from analysts' decisions, or None when there are too few of either kind to trust one."""
    link = np.asarray(link, dtype=bool)
    if len(link) < MIN_DECISIONS or link.sum() < MIN_EACH or (~link).sum() < MIN_EACH:
        return None
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    features = feature_matrix(comparisons, levels, weight)
    learner = LogisticRegression(C=1.0, max_iter=2000)
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    out_of_fold = cross_val_predict(learner, features, link, cv=folds, method="predict_proba")[:, 1]
    accept_at, reject_at, cross = _cut_offs(out_of_fold, link)
    learner.fit(features, link)
    return ReviewClassifier(
        features=feature_names(comparisons), coefficients=tuple(float(c) for c in learner.coef_[0]),
        intercept=float(learner.intercept_[0]), accept_at=accept_at, reject_at=reject_at,
        decisions=int(len(link)), links=int(link.sum()), cross_validated=cross,
    )
