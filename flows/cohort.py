"""The monthly cohort run: the stages in order, each a thin Prefect task over a library call.

    prepare -> ingest -> input gate -> standardise -> block -> (train) -> score -> resolve
            -> criteria -> report -> pseudonymise -> submission gate -> encrypt -> publish

Write-audit-publish: the cohort file is written to the run folder (staged),
audited by the submission gate, and only then encrypted and copied to
`published/`. An expected failure (a bad extract, a bad setting, a failed
gate) ends the run in a Failed state whose message says what to fix, with no
traceback; the manifest records it and nothing is published.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from criteria.report import CriteriaSummary
from data.errors import SfmatchError
from data.ingest import IngestStats
from flows.manifest import RunManifest, StageTimes
from flows.runs import RunFolder, previous_output
from flows.settings import Settings, load_settings
from flows.tasks import (
    BlockSummary,
    GateSummary,
    ModelSummary,
    PreparedRun,
    ResolveSummary,
    StandardiseSummary,
    SubmissionSummary,
    assess_families,
    block_records,
    effective_model,
    encrypt_cohort,
    gate_inputs,
    gate_submission,
    ingest_source,
    match_report,
    prepare_run,
    pseudonymise_cohort,
    publish_submission,
    reporting_period,
    resolve_persons,
    score_pairs,
    standardise_records,
    train_linkage_model,
)
from matching.linker import LinkageStats, PartitionResult, partitions
from matching.storage import candidate_count

__all__ = ["RunSummary", "cohort_run", "reporting_period"]


class GateFailed(SfmatchError):
    """A blocking expectation failed: the run stops and publishes nothing."""


@dataclass(frozen=True)
class RunSummary:
    """What the caller needs to report a finished run; counts only."""

    run_id: str
    run_dir: Path
    manifest: Path
    ingest: dict[str, IngestStats]
    stages: dict[str, float]
    linkage: LinkageStats | None = None
    model: ModelSummary | None = None
    criteria: CriteriaSummary | None = None
    submission: SubmissionSummary | None = None
    published: Path | None = None


def ingest_all(prepared: PreparedRun, settings: Settings, times: StageTimes) -> tuple[dict[str, IngestStats], list[str]]:
    """Every extract ingested concurrently; the errors of all of them, not just the first."""
    folder = prepared.folder
    with times.measure("ingest"):
        futures = {
            source: ingest_source.submit(source, path, settings, folder.root)
            for source, path in prepared.extracts.items()
        }
        for future in futures.values():
            future.wait()
    states = {source: future.state for source, future in futures.items()}
    errors = [state.message for state in states.values() if state.is_failed()]
    stats = {source: futures[source].result() for source, state in states.items() if not state.is_failed()}
    for result in stats.values():
        prepared.manifest.record_ingest(result)
    for source in stats:
        prepared.manifest.outputs[f"ingested/{source}"] = f"ingested/{source}.parquet"
        prepared.manifest.outputs[f"quarantine/{source}"] = f"quarantine/{source}.rows.csv"
    return stats, errors


def fail_run(folder: RunFolder, manifest: RunManifest, times: StageTimes, errors: list[str]) -> State:
    manifest.errors.extend(errors)
    manifest.finish("failed", times)
    manifest.write(folder.manifest)
    return Failed(message="; ".join(errors))


def _require(gate: GateSummary, manifest: RunManifest) -> None:
    manifest.quality[gate.gate] = gate.manifest_entry()
    if not gate.passed:
        raise GateFailed(f"{gate.gate} gate failed, nothing published ({gate.failures}); report: {gate.report}")


@dataclass(frozen=True)
class Linkage:
    model: ModelSummary
    standardised: StandardiseSummary
    blocking: BlockSummary
    parts: list[PartitionResult]
    resolved: ResolveSummary


def link_persons(prepared: PreparedRun, settings: Settings, times: StageTimes) -> Linkage:
    """Standardise, block, score per partition, and resolve persons with stable IDs."""
    logger = get_run_logger()
    folder, manifest = prepared.folder, prepared.manifest
    root = folder.root
    with times.measure("standardise"):
        standardised = standardise_records(root, tuple(settings.sources), date.fromisoformat(manifest.reference_date))
    with times.measure("block"):
        blocking = block_records(root, settings.block_size_cap)
    model_path = settings.model_path
    if model_path.exists():
        model = effective_model(model_path, settings)
        summary = ModelSummary(model_path, model.model_id, False, model.training.trained_at)
    else:
        logger.warning("no linkage model at %s: training one on this run's data (sfmatch train does this on its own)",
                       model_path)
        with times.measure("train"):
            data_hash = "".join(sorted(entry["sha256"] for entry in manifest.inputs.values()))
            summary = train_linkage_model(root, model_path, data_hash)
    with times.measure("score"):
        slices = partitions(candidate_count(root / "linkage" / "candidates.parquet"), settings.partition_pairs)
        futures = [
            score_pairs.submit(root, model_path, settings, part, piece.start, piece.stop)
            for part, piece in enumerate(slices)
        ]
        parts = [future.result() for future in futures]
    with times.measure("resolve"):
        previous = previous_output(settings.out_dir, folder.run_id, "person_index.parquet")
        resolved = resolve_persons(root, model_path, settings, parts, folder.run_id, previous)
    stats = resolved.stats
    manifest.linkage = {
        "model": {"path": str(summary.path), "model_id": summary.model_id, "trained_in_run": summary.trained_in_run,
                  "trained_at": summary.trained_at},
        "previous_person_index": str(previous) if previous else None,
        "linked_records": resolved.linked_records,
        "candidate_pairs": blocking.pairs,
        "partitions": len(slices),
        "blocking": {r.rule: {"pairs": r.pairs, "new": r.pairs_new, "skipped_blocks": r.skipped_blocks} for r in blocking.rules},
        **{k: v for k, v in dataclasses.asdict(stats).items() if k != "cluster_sizes"},
        "cluster_sizes": {str(k): v for k, v in stats.cluster_sizes.items()},
        "identifier_quality": standardised.identifier_quality,
    }
    manifest.outputs.update({
        "linked_records": "linked_records.parquet", "person_index": "person_index.parquet",
        "review_queue": "review_queue.csv",
    })
    return Linkage(summary, standardised, blocking, parts, resolved)


def assess(prepared: PreparedRun, settings: Settings, times: StageTimes) -> CriteriaSummary:
    folder, manifest = prepared.folder, prepared.manifest
    with times.measure("criteria"):
        period = (date.fromisoformat(manifest.period_start), date.fromisoformat(manifest.period_end))
        history = previous_output(settings.out_dir, folder.run_id, "needs_history.parquet")
        criteria = assess_families(folder.root, settings, period, history)
    manifest.criteria = {
        **{k: v for k, v in dataclasses.asdict(criteria).items() if k != "headline_names"},
        "previous_needs_history": str(history) if history else None,
    }
    manifest.outputs.update({
        "families": "families.parquet", "evidence": "evidence.parquet", "needs_history": "needs_history.parquet",
        "needs_changes": "needs_changes.csv",
    })
    return criteria


def submit(prepared: PreparedRun, settings: Settings, times: StageTimes, criteria: CriteriaSummary
           ) -> tuple[SubmissionSummary, Path]:
    """Write (stage), audit (the submission gate), then encrypt and publish."""
    folder, manifest = prepared.folder, prepared.manifest
    root = folder.root
    with times.measure("pseudonymise"):
        submission = pseudonymise_cohort(root, settings, folder.run_id, date.fromisoformat(manifest.reference_date))
    with times.measure("gate submission"):
        gate = gate_submission(root, settings)
    _require(gate, manifest)
    with times.measure("encrypt"):
        context = {"la_code": settings.la_code, "run_id": folder.run_id, "reference_date": manifest.reference_date,
                   "framework_version": f"{criteria.framework} v{criteria.version}"}
        submission_manifest = encrypt_cohort(root, settings, submission, context, gate)
    with times.measure("publish"):
        published = publish_submission(root, settings.out_dir, folder.run_id)
    manifest.submission = json.loads(submission_manifest.read_text(encoding="utf-8"))
    manifest.outputs.update({"submission": "submission/", "published": str(published)})
    return submission, published


# Two workers: the machine's cores. More threads only hold more partitions in memory at once.
@flow(name="sfmatch-cohort", log_prints=False, validate_parameters=True,
      task_runner=ThreadPoolTaskRunner(max_workers=2))
def cohort_run(
    extracts_dir: Path,
    out_dir: Path | None = None,
    config_file: Path | None = None,
    run_id: str | None = None,
    reference_date: date | None = None,
) -> RunSummary | State:
    """Ingest, gate, link, assess and publish: the month's run on a folder of extracts."""
    logger = get_run_logger()
    times = StageTimes()
    try:
        settings = load_settings(config_file, out_dir=out_dir, reference_date=reference_date)
        with times.measure("prepare"):
            prepared = prepare_run(Path(extracts_dir), settings, run_id)
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))

    folder, manifest = prepared.folder, prepared.manifest
    ingest, errors = ingest_all(prepared, settings, times)
    if errors:
        return fail_run(folder, manifest, times, errors)
    try:
        with times.measure("gate inputs"):
            previous_manifest = previous_output(settings.out_dir, folder.run_id, "manifest.json")
            gate = gate_inputs(folder.root, settings, date.fromisoformat(manifest.reference_date), previous_manifest)
        _require(gate, manifest)
        linkage = link_persons(prepared, settings, times)
        criteria = assess(prepared, settings, times)
        with times.measure("report"):
            match_report(folder.root, folder.run_id, settings.model_path, settings, linkage.model.trained_in_run,
                         linkage.standardised, linkage.blocking, linkage.parts, linkage.resolved, criteria)
        manifest.outputs["match_report"] = "match_report.html"
        submission, published = submit(prepared, settings, times, criteria) if settings.submission else (None, None)
    except SfmatchError as error:
        logger.error("%s", error)
        return fail_run(folder, manifest, times, [str(error)])

    manifest.finish("completed", times)
    manifest.write(folder.manifest)
    logger.info("run %s complete; counts reconcile: %s", folder.run_id, manifest.reconciles)
    return RunSummary(folder.run_id, folder.root, folder.manifest, ingest, dict(times.seconds), linkage.resolved.stats,
                      linkage.model, criteria, submission, published)
