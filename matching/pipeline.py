"""How a linkage runs: the one place that knows the order of the steps.

    standardise -> block -> (train) -> term frequencies -> score partitions -> combine -> decisions -> resolve

`train` and `link` run the whole sequence in one process, for the tests, the
benchmarks and anyone linking a table in a notebook. The monthly flow runs the
same steps as separate Prefect tasks (on a Dask cluster, on its workers, with
blocking and clustering spread across them), calling the step functions below
and nothing else, so the flow and these entry points cannot drift apart. Every
step is told its `LinkageSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from matching.blocking import CandidatePairs, block
from matching.comparisons import levels_of
from matching.first_pass import FirstPass
from matching.clustering import cluster
from matching.linker import Clusterer, LinkageOutcome, cluster_persons, pending_pairs, resolve
from matching.model import LinkageModel, Thresholds, load_model
from matching.partition import PartitionResult, partitions, score_partition
from matching.person_evidence import second_pass_evidence
from matching.review import DecisionsForRun, render_queue
from matching.review_classifier import fit_review_classifier
from matching.scoring import TermFrequencies, weight_matrix
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords, standardise
from matching.training import LabelledPairs, compare_in_chunks, train_household
from matching.training import train as train_on_levels

BLOCK_SIZE_CAP = 250
PARTITION_PAIRS = 500_000
AMBIGUITY_BITS = 3.0

__all__ = [
    "AMBIGUITY_BITS", "BLOCK_SIZE_CAP", "Linkage", "OnCluster", "PARTITION_PAIRS", "candidate_pairs", "clusterer",
    "first_pass", "link", "load_linkage_model", "pending_pairs", "person_records", "resolve", "review_queue", "score",
    "train",
]


def person_records(spec: LinkageSpec, tables: dict[str, pd.DataFrame], latest_birth: date) -> PersonRecords:
    """Standardised person records from ingested tables, one row per record."""
    return standardise(tables, latest_birth, spec.event_columns)


@dataclass(frozen=True)
class OnCluster:
    """Where the records are saved for Dask workers to read, and how many partitions to shuffle them into."""

    records_file: Path
    partitions: int


def candidate_pairs(spec: LinkageSpec, records: PersonRecords, cap: int = BLOCK_SIZE_CAP,
                    on_cluster: OnCluster | None = None, threads: int = 1) -> CandidatePairs:
    """The pairs worth comparing: the spec's blocking rules unioned; in a link-only spec, across sources only.

    `on_cluster`: made on the Dask cluster in use, each rule a shuffle on its block key (the same pairs).
    `threads`: in this process, rules worked on at once."""
    if on_cluster is None:
        candidates = block(records, spec.blocking_rules, cap, spec.comparisons, threads)
    else:
        from matching.dask_backend.blocking import block_on_cluster  # dask.dataframe loads only when used

        candidates = block_on_cluster(on_cluster.records_file, records, spec.blocking_rules, cap,
                                      on_cluster.partitions, spec.comparisons)
    if spec.link_type == "link_only":
        source, _ = pd.factorize(records.frame["source"])
        candidates = candidates.take(np.flatnonzero(source[candidates.left] != source[candidates.right]))
    return candidates


def train(spec: LinkageSpec, records: PersonRecords, *, data_sha256: str, code_version: dict[str, object],
          trained_at: str, candidates: CandidatePairs | None = None, cap: int = BLOCK_SIZE_CAP,
          thresholds: Thresholds | None = None, random_pairs: int = 2_000_000, seed: int = 0,
          decisions: DecisionsForRun | None = None) -> LinkageModel:
    """A model trained on these records (blocking them first unless `candidates` are given): without labels,
    and with analysts' decisions on pairs of them, where there are any, as known answers."""
    decisions = decisions or DecisionsForRun.none()
    labelled = LabelledPairs.from_decisions(decisions)
    candidates = candidate_pairs(spec, records, cap) if candidates is None else candidates
    levels = compare_in_chunks(records, candidates, spec.comparisons)
    model = train_on_levels(spec, records, candidates, levels, data_sha256=data_sha256, code_version=code_version,
                            trained_at=trained_at, thresholds=thresholds, random_pairs=random_pairs, seed=seed,
                            labelled=labelled)
    if spec.household is None:
        return model
    # The household comparison needs persons: link once with what was learnt, then learn it.
    scored = PartitionResult.combine([score(spec, model, records, candidates.take(piece))
                                      for piece in partitions(len(candidates), PARTITION_PAIRS)])
    first = first_pass(spec, records, scored, decisions)
    tf = TermFrequencies.of(records, spec)
    model = train_household(spec, model, records, candidates, first, tf, random_pairs=random_pairs, seed=seed,
                            labelled=labelled)
    return learn_review_classifier(spec, model, records, first, tf, labelled, seed)


def learn_review_classifier(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, first: FirstPass,
                            tf: TermFrequencies, labelled: LabelledPairs, seed: int = 0) -> LinkageModel:
    """The model with a classifier of analysts' decisions, when they made enough of each kind."""
    if not len(labelled):
        return model
    evidence = second_pass_evidence(spec, model, tf, records, labelled.left, labelled.right, first)
    classifier = fit_review_classifier(spec.comparisons, evidence.levels, evidence.weights.sum(axis=1),
                                       labelled.match, seed)
    session = {"rule": "review classifier", "decisions": int(len(labelled)), "links": int(labelled.match.sum()),
               "fitted": classifier is not None}
    if classifier is not None:
        session.update(accept_at=classifier.accept_at, reject_at=classifier.reject_at, **classifier.cross_validated)
    training = model.training.model_copy(update={"sessions": model.training.sessions + (session,)})
    return model.model_copy(update={"review_classifier": classifier, "training": training})


def load_linkage_model(spec: LinkageSpec, path: Path, accept: float | None = None,
                       review: float | None = None) -> LinkageModel:
    """The saved model, checked against the spec, with any thresholds the council sets in place of its own."""
    model = load_model(path)
    model.check_matches(spec.comparisons)
    return model.with_threshold_overrides(accept, review)


def score(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, candidates: CandidatePairs,
          first: FirstPass | None = None, first_levels: np.ndarray | None = None) -> PartitionResult:
    """Compare and score one partition; the term frequencies are counted once per records, however many ask.

    With `first`, the second pass: person to person, with the household, reusing the first pass's levels of
    the same partition (`first_levels`) where given."""
    return score_partition(spec, model, TermFrequencies.of(records, spec), records, candidates, first, first_levels)


def clusterer(on_cluster: OnCluster | None) -> Clusterer:
    """`cluster` in this process, or the same spread over the Dask cluster's workers, a group of components each."""
    if on_cluster is None:
        return cluster
    from matching.dask_backend.clustering import cluster_on_cluster  # dask loads only when used

    return partial(cluster_on_cluster, groups=on_cluster.partitions)


def first_pass(spec: LinkageSpec, records: PersonRecords, scored: PartitionResult, decisions: DecisionsForRun,
               ambiguity_bits: float = AMBIGUITY_BITS, on_cluster: OnCluster | None = None) -> FirstPass:
    """The persons the first pass's links make (analysts' decisions applied), for the second pass."""
    clustering = cluster_persons(spec, records, scored.pairs, decisions.as_int64(), ambiguity_bits,
                                 clusterer(on_cluster))
    return FirstPass.of(clustering.clusters.labels, records.codes("event_code"), records.codes("dob_int"))


def field_weights(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, pairs: pd.DataFrame,
                  first: FirstPass | None = None) -> np.ndarray:
    """Each scored pair's weight per comparison, as its score summed them (person to person in a second pass)."""
    tf = TermFrequencies.of(records, spec)
    left, right = pairs["left"].to_numpy(), pairs["right"].to_numpy()
    if first is not None:
        return second_pass_evidence(spec, model, tf, records, left, right, first).weights
    return weight_matrix(spec, levels_of(pairs, spec.comparisons), model, tf, left, records)


def review_queue(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, review: pd.DataFrame,
                 first: FirstPass | None = None) -> pd.DataFrame:
    """The review pairs as analysts read them, with each field's level and weight."""
    return render_queue(review, records.frame, spec.comparisons, field_weights(spec, model, records, review, first))


@dataclass(frozen=True)
class Linkage:
    candidates: CandidatePairs
    scored: PartitionResult
    outcome: LinkageOutcome


def link(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, *, cap: int = BLOCK_SIZE_CAP,
         partition_pairs: int = PARTITION_PAIRS, decisions: DecisionsForRun | None = None,
         previous_index: pd.DataFrame | None = None, run_id: str = "", ambiguity_bits: float = AMBIGUITY_BITS,
         ) -> Linkage:
    """The whole linkage in this process: block, score partition by partition, combine, (score again with the
    first pass's persons), resolve."""
    decisions = decisions or DecisionsForRun.none()
    candidates = candidate_pairs(spec, records, cap)
    slices = partitions(len(candidates), partition_pairs)
    parts = [score(spec, model, records, candidates.take(piece)) for piece in slices]
    scored = PartitionResult.combine(parts)
    if spec.second_pass:
        first = first_pass(spec, records, scored, decisions, ambiguity_bits)
        scored = PartitionResult.combine([score(spec, model, records, candidates.take(piece), first, part.levels)
                                          for piece, part in zip(slices, parts)])
    outcome = resolve(spec, records, scored, decisions, previous_index, run_id, ambiguity_bits)
    return Linkage(candidates, scored, outcome)
