"""How the linkage runs: score pairs partition by partition, then decide, cluster and name persons once.

Scoring a partition needs only the records and a slice of the candidate pairs,
so partitions can run anywhere (one process, or Dask workers) and give the same
result. A partition keeps only the pairs the later steps need (accepted, for
review, contradicted, or near the threshold) plus a histogram of every weight,
so memory stays flat however many pairs were compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.tables import STRING

from matching.blocking import CandidatePairs
from matching.clustering import Clusters, Links, cluster, same_event_pairs
from matching.comparisons import DEFAULT_COMPARISONS, Comparison, ComparisonLevels, compare
from matching.model import LinkageModel
from matching.pairs import member, pair_keys
from matching.person_index import IdAssignment, assign_person_ids
from matching.review import DecisionsForRun
from matching.scoring import CONTRADICTIONS, UK_IDENTIFIERS, Decision, IdentifierRules, TermFrequencies, score
from matching.standardise import PersonRecords

WEIGHT_BINS = np.arange(-40.0, 61.0, 1.0)
NEAR_MISS_PROBABILITY = 0.05
"""Rejected pairs above this probability are kept for the report's examples."""
ANALYST = "analyst"
MODEL = "model"


@dataclass
class PartitionResult:
    pairs: pd.DataFrame
    """The pairs later steps need: left, right, rules, weight, probability, decision, contradiction, levels."""
    weight_histogram: np.ndarray
    decisions: dict[str, int]
    contradictions: dict[str, int]
    compared: int

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


def partitions(total: int, size: int) -> list[slice]:
    """Contiguous slices of the candidate pairs, each at most `size` pairs."""
    size = max(size, 1)
    return [slice(start, min(start + size, total)) for start in range(0, total, size)] or [slice(0, 0)]


def level_columns(comparisons: tuple[Comparison, ...]) -> list[str]:
    return [f"level_{c.name}" for c in comparisons]


def score_partition(
    records: PersonRecords, candidates: CandidatePairs, model: LinkageModel, tf: TermFrequencies,
    comparisons: tuple[Comparison, ...] = DEFAULT_COMPARISONS, identifiers: IdentifierRules = UK_IDENTIFIERS,
) -> PartitionResult:
    """Compare and score one partition of candidate pairs."""
    levels = compare(records, candidates.left, candidates.right, comparisons)
    scores = score(levels, model, tf, candidates.left, candidates.right, records, identifiers)
    keep = (
        (scores.decision != Decision.REJECT) | (scores.contradiction != 0)
        | (scores.probability >= NEAR_MISS_PROBABILITY)
    )
    frame = pd.DataFrame({
        "left": candidates.left[keep], "right": candidates.right[keep], "rules": candidates.rules[keep],
        "weight": scores.weight[keep], "probability": scores.probability[keep],
        "decision": scores.decision[keep], "contradiction": scores.contradiction[keep],
    })
    for name, column in zip(level_columns(comparisons), levels.matrix.T):
        frame[name] = column[keep]
    histogram, _ = np.histogram(np.clip(scores.weight, WEIGHT_BINS[0], WEIGHT_BINS[-1] - 1e-9), bins=WEIGHT_BINS)
    decisions = {d.name.lower(): int((scores.decision == d).sum()) for d in Decision}
    contradictions = {c.name: int(((scores.contradiction >> bit) & 1).sum()) for bit, c in enumerate(CONTRADICTIONS)}
    return PartitionResult(frame, histogram, decisions, contradictions, len(candidates))


def levels_of(pairs: pd.DataFrame, comparisons: tuple[Comparison, ...] = DEFAULT_COMPARISONS) -> ComparisonLevels:
    """The level matrix of scored pairs, read back from their level columns."""
    return ComparisonLevels(pairs[level_columns(comparisons)].to_numpy(dtype=np.int8), tuple(c.name for c in comparisons))


@dataclass(frozen=True)
class LinkageStats:
    records: int
    persons: int
    links_accepted: int
    links_kept: int
    links_left_out: int
    links_from_analysts: int
    pairs_for_review: int
    ambiguous_for_review: int
    analyst_no_links: int
    decisions_applied: int
    decisions_stale: int
    components_split: int
    cluster_sizes: dict[int, int] = field(default_factory=dict)
    ids_kept: int = 0
    ids_new: int = 0
    ids_merged: int = 0
    events_too_large: int = 0
    """Events listing too many records to pair them all as different people (see same_event_pairs)."""


@dataclass(frozen=True)
class LinkageOutcome:
    linked: pd.DataFrame
    """One row per record: source, record_id, person_id, match_probability."""
    links: pd.DataFrame
    """The links that made the persons: left, right, probability, weight, origin (model / analyst)."""
    review: pd.DataFrame
    """Scored pairs an analyst should decide, with the reason."""
    ids: IdAssignment
    clusters: Clusters
    stats: LinkageStats


def resolve(
    records: PersonRecords, scored: PartitionResult, decisions: DecisionsForRun,
    previous_index: pd.DataFrame | None, run_id: str, ambiguity_bits: float = 3.0,
    one_per_person: tuple[str, ...] = ("nino_code", "nhs_number_code"),
    extra_cannot_links: tuple[np.ndarray, np.ndarray] | None = None,
) -> LinkageOutcome:
    """Apply analysts' decisions, cluster accepted links into persons, give them stable IDs."""
    pairs = scored.pairs
    n = len(records)
    decisions = DecisionsForRun(
        tuple(np.asarray(side, dtype=np.int64) for side in decisions.links),
        tuple(np.asarray(side, dtype=np.int64) for side in decisions.no_links),
        decisions.applied, decisions.stale,
    )
    key = pair_keys(pairs["left"].to_numpy(), pairs["right"].to_numpy(), n)
    yes_keys = pair_keys(*decisions.links, n)
    said_no = member(key, pair_keys(*decisions.no_links, n))
    said_yes = member(key, yes_keys)
    accepted = pairs[((pairs["decision"] == Decision.ACCEPT) & ~said_no) | said_yes]
    accepted = accepted.assign(origin=np.where(said_yes[accepted.index], ANALYST, MODEL))
    # Analyst links between records that were not scored as candidates this time still hold.
    unscored = ~member(yes_keys, key)
    extra = pd.DataFrame({
        "left": decisions.links[0][unscored], "right": decisions.links[1][unscored],
        "weight": np.inf, "probability": 1.0, "origin": ANALYST,
    })
    accepted = pd.concat([accepted[["left", "right", "weight", "probability", "origin"]], extra], ignore_index=True)
    accepted.loc[accepted["origin"] == ANALYST, ["weight", "probability"]] = [np.inf, 1.0]

    contradicted = pairs[(pairs["contradiction"] != 0) & ~said_yes]
    event_left, event_right, events_too_large = same_event_pairs(records.codes("event_code"))
    extra_left, extra_right = extra_cannot_links or (np.array([], np.int64), np.array([], np.int64))
    cannot = (
        np.r_[contradicted["left"].to_numpy(np.int64), decisions.no_links[0], event_left, extra_left],
        np.r_[contradicted["right"].to_numpy(np.int64), decisions.no_links[1], event_right, extra_right],
    )
    links = Links(
        accepted["left"].to_numpy(np.int64), accepted["right"].to_numpy(np.int64),
        accepted["weight"].to_numpy(np.float64), accepted["probability"].to_numpy(np.float64),
    )
    clusters = cluster(n, links, cannot, [records.codes(column) for column in one_per_person], ambiguity_bits)

    kept = accepted[clusters.kept]
    # A record's probability is that of the weakest kept link touching it; a record on its own has none.
    touching = pd.DataFrame({
        "record": np.r_[kept["left"].to_numpy(), kept["right"].to_numpy()],
        "probability": np.r_[kept["probability"].to_numpy(), kept["probability"].to_numpy()],
    })
    weakest = touching.groupby("record")["probability"].min()
    probability = np.full(n, np.nan)
    probability[weakest.index.to_numpy()] = weakest.to_numpy()

    frame = records.frame
    # Arrow strings throughout: three million records converted to Python strings cost seconds each.
    source, record_id = frame["source"].astype(STRING).array, frame["record_id"].astype(STRING).array
    ids = assign_person_ids(
        pd.DataFrame({"source": source, "record_id": record_id, "identity_key": frame["identity_key"].astype(STRING).array,
                      "cluster": clusters.labels}),
        previous_index, run_id,
    )
    linked = pd.DataFrame({"source": source, "record_id": record_id, "person_id": ids.person_ids,
                           "match_probability": probability})

    labels = clusters.labels
    in_band = (pairs["decision"] == Decision.REVIEW) & ~said_no & ~said_yes & (pairs["contradiction"] == 0)
    ambiguous_rows = accepted.index[clusters.to_review]
    ambiguous = accepted.loc[ambiguous_rows]
    is_ambiguous = member(key, pair_keys(ambiguous["left"].to_numpy(), ambiguous["right"].to_numpy(), n))
    candidates = pairs[in_band | is_ambiguous].copy()
    candidates["reason"] = np.where(is_ambiguous[candidates.index], "links to two people who cannot be one", "review band")
    # Records already in one person need no decision. Between two persons, the analyst sees their strongest
    # pair only: deciding it decides the persons.
    person_l, person_r = labels[candidates["left"].to_numpy()], labels[candidates["right"].to_numpy()]
    candidates["person_pair"] = pair_keys(person_l, person_r, max(n, 1))
    review = (
        candidates[person_l != person_r]
        .sort_values(["probability", "left", "right"], ascending=[False, True, True], kind="stable")
        .drop_duplicates("person_pair")
        .drop(columns="person_pair")
        .reset_index(drop=True)
    )

    sizes = pd.Series(labels).value_counts().value_counts().sort_index()
    stats = LinkageStats(
        records=n, persons=int(labels.max()) + 1 if n else 0,
        links_accepted=int((accepted["origin"] == MODEL).sum()), links_kept=int(clusters.kept.sum()),
        links_left_out=clusters.links_left_out, links_from_analysts=int((accepted["origin"] == ANALYST).sum()),
        pairs_for_review=len(review), ambiguous_for_review=int((review["reason"] != "review band").sum()),
        analyst_no_links=len(decisions.no_links[0]), decisions_applied=decisions.applied,
        decisions_stale=decisions.stale, components_split=clusters.components_split,
        cluster_sizes={int(k): int(v) for k, v in sizes.items()},
        ids_kept=ids.kept, ids_new=ids.new, ids_merged=ids.merged, events_too_large=events_too_large,
    )
    left, right = kept["left"].to_numpy(), kept["right"].to_numpy()
    links_out = kept.assign(
        left_source=source.take(left), left_record_id=record_id.take(left),
        right_source=source.take(right), right_record_id=record_id.take(right),
        person_id=ids.person_ids[left],
    )
    return LinkageOutcome(linked, links_out.reset_index(drop=True), review, ids, clusters, stats)
