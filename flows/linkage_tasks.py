"""The linkage's tasks: standardise, block, train, score a partition, resolve persons, the match report.

Each calls `matching.pipeline`, the one place that knows the order of the linkage's steps.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from criteria import outcome_report
from criteria.outcome_report import OutcomeSummary
from criteria.report import CriteriaSummary, render_section
from data.tables import read_parquet
from flows.child_process import run_in_child
from flows.cluster import cluster_client, worker_count
from flows.configuration import RunConfiguration
from flows.tasks import MINUTES, ingested_tables
from flows.locks import shared_lock
from flows.manifest import utc_now
from flows.runs import code_version
from matching import pipeline
from matching.blocking import RuleReport
from matching.linker import LinkageStats
from matching.migration import migrate_decisions, migrate_person_index
from matching.model import LinkageModel, load_model, save_model
from matching.partition import PartitionResult
from matching.report import PairExample, ReportInputs, pick_examples, write_report
from matching.review import DecisionsForRun, decisions_for_run, read_decisions, write_decisions
from matching.review_workbook import write_review_queue
from matching.standardise import PersonRecords, identifier_quality
from matching.storage import (
    WORKING_FILES,
    forget_loaded,
    load_candidates,
    load_first_pass,
    load_records,
    save_candidates,
    save_first_pass,
    row_groups,
    save_records,
)
from matching.tables import LINKED_RECORDS, LINKS, PENDING_PAIRS, PERSON_INDEX, scored_pairs


if TYPE_CHECKING:
    from distributed import Client


@dataclass(frozen=True)
class StandardiseSummary:
    records: int
    per_source: dict[str, int]
    identifier_quality: dict[str, dict[str, dict[str, int]]]


@task(name="standardise", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def standardise_records(run_root: Path, config: RunConfiguration, reference_date: date) -> StandardiseSummary:
    """Person records from every ingested table, saved for the linkage steps."""
    records = pipeline.person_records(config.linkage, ingested_tables(run_root, config.sources), reference_date)
    save_records(records, run_root / "linkage")
    per_source = {str(k): int(v) for k, v in records.frame["source"].value_counts(sort=False).items()}
    get_run_logger().info("standardised %d records", len(records))
    return StandardiseSummary(len(records), per_source, identifier_quality(records))


def _on_cluster(client: Client | None, run_root: Path) -> pipeline.OnCluster | None:
    """How a task running on a Dask worker spreads its work over the cluster: two partitions per worker at
    least, and one per slice of the saved records."""
    if client is None:
        return None
    records_file = run_root / "linkage" / "records.parquet"
    return pipeline.OnCluster(records_file, max(2 * worker_count(client), row_groups(records_file)))


@dataclass(frozen=True)
class BlockSummary:
    pairs: int
    rules: tuple[RuleReport, ...]


@task(name="block", cache_policy=NO_CACHE, timeout_seconds=60 * MINUTES)
def block_records(run_root: Path, config: RunConfiguration) -> BlockSummary:
    records = load_records(run_root / "linkage")
    with cluster_client() as client:
        on_cluster = _on_cluster(client, run_root)  # each rule's records shuffled on its block key
        linkage = config.settings.linkage
        candidates = pipeline.candidate_pairs(config.linkage, records, linkage.block_size_cap, on_cluster,
                                              linkage.blocking_threads)
    save_candidates(candidates, run_root / "linkage" / "candidates.parquet")
    # Pairs scored from earlier candidates no longer mean anything, nor the persons made from them.
    for stale in ("scored-first", "scored"):
        shutil.rmtree(run_root / "linkage" / stale, ignore_errors=True)
    (run_root / "linkage" / "first_pass.parquet").unlink(missing_ok=True)
    logger = get_run_logger()
    where = f", each rule shuffled into {on_cluster.partitions} partitions across the Dask workers" if on_cluster else ""
    logger.info("blocking: %d candidate pairs from %d rules%s", len(candidates), len(candidates.rule_names), where)
    for report in candidates.report:
        if report.skipped_blocks:
            logger.warning("blocking rule '%s': %d oversized blocks skipped (%d records)",
                           report.rule, report.skipped_blocks, report.skipped_records)
    return BlockSummary(len(candidates), candidates.report)


@dataclass(frozen=True)
class ModelSummary:
    path: Path
    model_id: str
    trained_in_run: bool
    trained_at: str


def linkage_model(config: RunConfiguration) -> LinkageModel:
    """The configured model, checked against the linkage spec, with the council's thresholds if it sets any."""
    linkage = config.settings.linkage
    return pipeline.load_linkage_model(config.linkage, config.settings.model_path, linkage.accept_threshold,
                                       linkage.review_threshold)


def _decisions(config: RunConfiguration, records: PersonRecords) -> DecisionsForRun:
    """The analysts' stored decisions that apply to this run's records (a store of the earlier key format is
    converted first, and written back)."""
    settings = config.settings
    stored, migrated = migrate_decisions(read_decisions(settings.decisions_path), records.frame)
    if migrated.happened:
        with shared_lock(settings.decisions_path):
            write_decisions(stored, settings.decisions_path)
        get_run_logger().info("review decisions migrated to the current key format: %d converted, %d kept as they "
                              "were (their records are absent or changed)", migrated.converted,
                              migrated.left_as_they_were)
    return decisions_for_run(stored, records.frame)


@task(name="train linkage model", cache_policy=NO_CACHE, timeout_seconds=120 * MINUTES)
def train_linkage_model(run_root: Path, config: RunConfiguration, data_sha256: str) -> ModelSummary:
    """Train on this run's records and save the model; an earlier model is kept beside it under its id.

    Analysts' stored decisions on pairs of these records teach it too: their pairs count as known matches
    and non-matches."""
    model_path = config.settings.model_path
    records = load_records(run_root / "linkage")
    candidates = load_candidates(run_root / "linkage" / "candidates.parquet")
    decisions = _decisions(config, records)
    model = pipeline.train(config.linkage, records, candidates=candidates, data_sha256=data_sha256,
                           code_version=code_version(), trained_at=utc_now(), decisions=decisions)
    if decisions.applied:
        get_run_logger().info("trained with %d analysts' decisions (%d link, %d no link) as known answers",
                              decisions.applied, len(decisions.links[0]), len(decisions.no_links[0]))
    if model_path.exists():
        previous = load_model(model_path)
        save_model(previous, model_path.with_name(f"{model_path.stem}.{previous.model_id}{model_path.suffix}"))
    save_model(model, model_path)
    get_run_logger().info("trained linkage model %s on %d records", model.model_id, len(records))
    return ModelSummary(model_path, model.model_id, True, model.training.trained_at)


def scored_part(run_root: Path, part: int, second: bool = False) -> Path:
    return run_root / "linkage" / ("scored" if second else "scored-first") / f"part-{part:04d}.parquet"


def _scored(run_root: Path, parts: list[PartitionResult], second: bool) -> PartitionResult:
    combined = PartitionResult.combine(parts)
    # This run's partitions by number: a file left by a run cut into more partitions is never read.
    combined.pairs = pd.concat([read_parquet(scored_part(run_root, part, second)) for part in range(len(parts))],
                               ignore_index=True)
    return combined


@task(name="score", task_run_name="score-{kind}-part-{part}", cache_policy=NO_CACHE)
def score_pairs(run_root: Path, config: RunConfiguration, model: LinkageModel, part: int, start: int, stop: int,
                kind: str = "first") -> PartitionResult:
    """Compare and score one slice of the candidate pairs; the pairs worth keeping go to a file.

    `kind` "second": person to person, with the household, from the first pass's persons.
    """
    records = load_records(run_root / "linkage")
    candidates = load_candidates(run_root / "linkage" / "candidates.parquet", slice(start, stop))
    second = kind == "second"
    first = load_first_pass(run_root / "linkage", records) if second else None
    levels_file = first_levels_part(run_root, part)
    first_levels = np.load(levels_file) if second and levels_file.exists() else None
    result = pipeline.score(config.linkage, model, records, candidates, first, first_levels)
    scored_pairs(config.linkage.comparisons).write(result.pairs, scored_part(run_root, part, second), **WORKING_FILES)
    if result.levels is not None:
        levels_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(levels_file, result.levels)
    return result.without_pairs()


def first_levels_part(run_root: Path, part: int) -> Path:
    """Where a first-pass partition keeps every pair's levels (small integers, no values) for the second pass."""
    return run_root / "linkage" / "levels-first" / f"part-{part:04d}.npy"


@dataclass(frozen=True)
class FirstPassSummary:
    persons: int


@task(name="first persons", cache_policy=NO_CACHE, timeout_seconds=60 * MINUTES)
def first_persons(run_root: Path, config: RunConfiguration, parts: list[PartitionResult]) -> FirstPassSummary:
    """The persons the first pass's links make, saved as evidence for the second pass."""
    records = load_records(run_root / "linkage")
    scored, decisions = _scored(run_root, parts, second=False), _decisions(config, records)
    with cluster_client() as client:  # components clustered in groups across the workers
        first = pipeline.first_pass(config.linkage, records, scored, decisions,
                                    config.settings.linkage.ambiguity_bits, _on_cluster(client, run_root))
    save_first_pass(first, run_root / "linkage")
    persons = int(first.labels.max()) + 1 if len(first.labels) else 0
    get_run_logger().info("first pass: %d records into %d persons", len(records), persons)
    return FirstPassSummary(persons)


@dataclass(frozen=True)
class ResolveSummary:
    stats: LinkageStats
    examples: tuple[PairExample, ...]
    linked_records: int


@task(name="resolve persons", cache_policy=NO_CACHE, timeout_seconds=60 * MINUTES)
def resolve_persons(run_root: Path, config: RunConfiguration, model: LinkageModel, parts: list[PartitionResult],
                    run_id: str, previous_index: Path | None) -> ResolveSummary:
    """Decisions, clusters and stable IDs; writes the linked records, person index, links and review queue."""
    logger = get_run_logger()
    settings, spec = config.settings, config.linkage
    records = load_records(run_root / "linkage")
    combined = _scored(run_root, parts, second=spec.second_pass)
    first = load_first_pass(run_root / "linkage", records) if spec.second_pass else None
    decisions = _decisions(config, records)
    previous = None
    if previous_index is not None:
        previous, migrated = migrate_person_index(read_parquet(previous_index), records.frame)
        if migrated.happened:
            logger.info("previous person index migrated to the current key format: %d identity keys converted, "
                        "%d kept as they were (records absent this run)", migrated.converted, migrated.left_as_they_were)
    with cluster_client() as client:  # components clustered in groups across the workers
        outcome = pipeline.resolve(spec, records, combined, decisions, previous, run_id,
                                   settings.linkage.ambiguity_bits, pipeline.clusterer(_on_cluster(client, run_root)))

    LINKED_RECORDS.write(outcome.linked, run_root / "linked_records.parquet")
    PERSON_INDEX.write(outcome.ids.index, run_root / "person_index.parquet")
    outcome.ids.changes.to_csv(run_root / "linkage" / "person_id_changes.csv", index=False)
    LINKS.write(outcome.links, run_root / "linkage" / "links.parquet")
    PENDING_PAIRS.write(pipeline.pending_pairs(outcome.review, records), run_root / "linkage" / "pending_pairs.parquet")
    queue = pipeline.review_queue(spec, model, records, outcome.review, first)
    write_review_queue(queue, run_root / "review_queue.csv", run_root / REVIEW_QUEUE_FILE)
    stats = outcome.stats
    logger.info(
        "linkage: %d records into %d persons; %d links kept, %d left out to respect constraints, %d pairs for review",
        stats.records, stats.persons, stats.links_kept, stats.links_left_out, stats.pairs_for_review,
    )
    if previous is None:
        logger.info("no previous person index: every person gets a new ID")
    if decisions.stale:
        logger.warning("%d stored review decisions are stale (record details changed) and were not applied", decisions.stale)
    if stats.events_too_large:
        logger.warning("%d events list too many records to keep their people apart; check the event references "
                       "(events_too_large in the manifest)", stats.events_too_large)
    examples = pick_examples(spec, combined.pairs, lambda chosen: pipeline.field_weights(spec, model, records, chosen, first),
                             records)
    forget_loaded()  # the last linkage step: the records are not needed in memory again
    return ResolveSummary(stats, examples, len(outcome.linked))


REVIEW_QUEUE_FILE = "linkage/review_queue.parquet"
REVIEW_WORKBOOK = "review_queue.xlsx"


@task(name="review workbook", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def review_workbook(run_root: Path) -> Path:
    """The review queue as a workbook for analysts, written while the run goes on with the assessment.

    xlsxwriter spends Python time on every cell: 15 s for the 2.4M cells of a large county's queue. In the
    run's own process that would hold up the stages after it; a process of its own writes it on the other
    core, and this task only waits for it.
    """
    path = run_root / REVIEW_WORKBOOK
    run_in_child("matching.review_workbook", str(run_root / REVIEW_QUEUE_FILE), str(path), what="the review workbook")
    return path


@task(name="match report", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES)
def match_report(
    run_root: Path, run_id: str, model: LinkageModel, model_trained_in_run: bool,
    standardised: StandardiseSummary, blocking: BlockSummary, parts: list[PartitionResult], resolved: ResolveSummary,
    criteria: CriteriaSummary | None = None, outcomes: OutcomeSummary | None = None,
) -> Path:
    combined = PartitionResult.combine(parts)
    inputs = ReportInputs(
        run_id=run_id, model=model, model_trained_in_run=model_trained_in_run,
        records_per_source=standardised.per_source, blocking=blocking.rules, compared=combined.compared,
        decisions=combined.decisions, contradictions=combined.contradictions, histogram=combined.weight_histogram,
        stats=resolved.stats, examples=resolved.examples, identifier_quality=standardised.identifier_quality,
        extra_sections=tuple([*([render_section(criteria)] if criteria is not None else []),
                              *([outcome_report.render_section(outcomes)] if outcomes is not None else [])]),
    )
    return write_report(inputs, run_root / "match_report.html")
