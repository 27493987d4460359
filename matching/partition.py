"""Scoring one partition of the candidate pairs, so that partitions can run anywhere.

Scoring a partition needs only the records, the model and a slice of the
candidate pairs, so partitions can run in one process or on Dask workers and
give the same result. A partition keeps only the pairs the later steps need
(accepted, for review, contradicted, or near the threshold) plus a histogram
of every weight, so memory stays flat however many pairs were compared.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.blocking import CandidatePairs
from matching.comparisons import compare
from matching.first_pass import FirstPass
from matching.model import LinkageModel
from matching.person_evidence import FirstPassLevels, second_pass_evidence
from matching.scoring import CONTRADICTIONS, Decision, TermFrequencies, score
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords

WEIGHT_BINS = np.arange(-40.0, 61.0, 1.0)
NEAR_MISS_PROBABILITY = 0.05
"""Rejected pairs above this probability are kept for the report's examples."""


@dataclass
class PartitionResult:
    pairs: pd.DataFrame
    """The pairs later steps need (`matching.tables.scored_pairs`)."""
    weight_histogram: np.ndarray
    decisions: dict[str, int]
    contradictions: dict[str, int]
    compared: int
    levels: np.ndarray | None = None
    """First pass only: every compared pair's levels (not only the pairs kept), for the second pass to reuse;
    written beside the partition's pairs, never combined."""

    @classmethod
    def combine(cls, parts: list[PartitionResult]) -> PartitionResult:
        pairs = pd.concat([p.pairs for p in parts], ignore_index=True) if parts else pd.DataFrame()
        decisions: dict[str, int] = {}
        contradictions: dict[str, int] = {}
        for part in parts:
            for key, value in part.decisions.items():
                decisions[key] = decisions.get(key, 0) + value
            for key, value in part.contradictions.items():
                contradictions[key] = contradictions.get(key, 0) + value
        histogram = np.sum([p.weight_histogram for p in parts], axis=0) if parts else np.zeros(len(WEIGHT_BINS) - 1, int)
        return cls(pairs, histogram, decisions, contradictions, sum(p.compared for p in parts))

    def without_pairs(self) -> PartitionResult:
        """The counts alone, for a caller that reads the pairs back from where they were written."""
        return PartitionResult(pd.DataFrame(), self.weight_histogram, self.decisions, self.contradictions, self.compared)


def partitions(total: int, size: int) -> list[slice]:
    """Contiguous slices of the candidate pairs, each at most `size` pairs."""
    size = max(size, 1)
    return [slice(start, min(start + size, total)) for start in range(0, total, size)] or [slice(0, 0)]


def score_partition(spec: LinkageSpec, model: LinkageModel, tf: TermFrequencies, records: PersonRecords,
                    candidates: CandidatePairs, first: FirstPass | None = None,
                    first_levels: np.ndarray | None = None) -> PartitionResult:
    """Compare and score one partition of candidate pairs: record to record in a first pass, person to person
    (with the household) in a second, once `first` holds the first pass's persons. `first_levels`, the first
    pass's `levels` for the same partition, spares the second pass comparing those pairs again."""
    if first is None:
        levels = compare(records, candidates.left, candidates.right, spec.comparisons)
        scores = score(spec, levels, model, tf, candidates.left, candidates.right, records)
    else:
        known = None
        if first_levels is not None and len(first_levels) == len(candidates):
            known = FirstPassLevels.of(candidates.left, candidates.right, first_levels, len(records))
        evidence = second_pass_evidence(spec, model, tf, records, candidates.left, candidates.right, first, known)
        levels, scores = evidence.levels, evidence.scores(spec, model)
    keep = (
        (scores.decision != Decision.REJECT) | (scores.contradiction != 0)
        | (scores.probability >= NEAR_MISS_PROBABILITY)
    )
    frame = pd.DataFrame({
        "left": candidates.left[keep], "right": candidates.right[keep], "rules": candidates.rules[keep],
        "weight": scores.weight[keep], "probability": scores.probability[keep],
        "decision": scores.decision[keep], "contradiction": scores.contradiction[keep],
    })
    for name, column in zip(spec.level_columns, levels.matrix.T):
        frame[name] = column[keep]
    histogram, _ = np.histogram(np.clip(scores.weight, WEIGHT_BINS[0], WEIGHT_BINS[-1] - 1e-9), bins=WEIGHT_BINS)
    decisions = {d.name.lower(): int((scores.decision == d).sum()) for d in Decision}
    contradictions = {c.name: int(((scores.contradiction >> bit) & 1).sum()) for bit, c in enumerate(CONTRADICTIONS)}
    return PartitionResult(frame, histogram, decisions, contradictions, len(candidates),
                           levels.matrix if first is None else None)
