"""The monthly cohort run: the stages in order, each a thin Prefect task over a library call.

    prepare -> ingest -> input gate -> standardise -> block -> (train) -> score -> resolve
            -> criteria -> outcomes and claims -> report -> quarterly return -> its gate -> encrypt
            -> publish -> register claims
               (criteria -> pseudonymise -> submission gate, alongside outcomes, before the quarterly gate)

Write-audit-publish: the cohort and the aggregate return are written to the
run folder (staged), audited by the submission gate, and only then encrypted,
each for its own recipient, and published as the period's next version under
`published/<period>/v<n>/`. An expected failure (a bad extract, a bad setting, a failed
gate) ends the run in a Failed state whose message says what to fix, with no
traceback; the manifest records it and nothing is published.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_all
from contextvars import copy_context
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

from prefect import flow, get_client, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner

from prefect import Task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture

from criteria.cases import CaseFacts
from criteria.claims import earlier_claims_digest
from criteria.outcome_report import OutcomeSummary
from criteria.report import CriteriaSummary
from data.errors import SfmatchError
from data.ingest import IngestStats
from data.readers import extract_parts
from data.private_files import private_umask, restrict
from expectations.thresholds import DEFAULT_THRESHOLDS
from flows.caching import base_fingerprint, cached, file_fingerprint, fingerprint
from flows.child_process import Child, call_in_child
from flows.configuration import RunConfiguration, load_run_configuration
from flows.locks import run_lock, shared_lock
from flows.manifest import RunManifest, StageTimes
from flows.process_guard import claim_flow_run
from flows.runs import RunFolder
from flows.settings import DEFAULT_RUN_TIMEOUT, Settings, load_settings
from flows.linkage_tasks import (
    BlockSummary,
    first_persons,
    ModelSummary,
    ResolveSummary,
    StandardiseSummary,
    block_records,
    linkage_model,
    match_report,
    review_workbook,
    resolve_persons,
    score_pairs,
    standardise_records,
    train_linkage_model,
)
from flows.outcome_tasks import (
    families_case_facts, reconcile_dwp_reply, record_claims, track_outcomes, with_reconciliation,
)
from flows.submission_tasks import (
    SubmissionSummary, encrypt_cohort, publish_submission, pseudonymise_cohort, stage_quarterly_return,
)
from flows.tasks import (
    GateSummary, PreparedRun, assess_families, bounded, combine_source_parts, gate_inputs, gate_quarterly_return,
    gate_submission,
    ingest_part, ingest_source, os_error_message, prepare_run, finish_with_gates, start_gates,
)
from matching.linker import LinkageStats
from matching.model import LinkageModel
from matching.partition import PartitionResult, partitions
from matching.storage import candidate_count
from pseudonymise.dwp_request import latest_register_path
from pseudonymise.publish import period_of

__all__ = ["RunSummary", "cohort_run"]

T = TypeVar("T")


class GateFailed(SfmatchError):
    """A blocking expectation failed: the run stops and publishes nothing."""


@dataclass
class Stages:
    """Runs tasks cached under stage keys in the run folder, and notes which were skipped."""

    root: Path
    refresh: bool
    settings: Settings
    hits: list[str] = dataclasses.field(default_factory=list)

    def task(self, task: Task, key: str) -> Task:
        """The task cached under `key`, with the settings' stage timeout."""
        return cached(bounded(task, self.settings), self.root, key, self.refresh)

    def run(self, task: Task, key: str, *args, **kwargs):
        state = self.task(task, key)(*args, return_state=True, **kwargs)
        if state.name == "Cached":
            self.hits.append(task.name)
        return state.result()

    def submit(self, task: Task, key: str, *args, **kwargs):
        return self.task(task, key).submit(*args, **kwargs)

    def run_on_workers(self, task: Task, key: str, *args, **kwargs):
        """Run on the task runner and wait: on a Dask cluster, a heavy stage runs on a worker, reading and
        writing the run folder (shared storage), and only its summary comes back to the flow's machine."""
        future = self.submit(task, key, *args, **kwargs)
        result = future.result()
        self.note({task.name: future.state})
        return result

    def note(self, states: dict[str, State]) -> None:
        """Record which of some submitted tasks (by name) were served from the cache."""
        self.hits.extend(name for name, state in states.items() if state.name == "Cached")


def run_fingerprint(config: RunConfiguration, reference_date: str) -> str:
    """What every stage depends on: settings, the run's reference date, contracts, framework, thresholds and code.

    The date is the resolved one: with no date in the settings a run takes today's, and a rerun of the
    same run id on a later day must not reuse stages done for another period.
    """
    settings = config.settings
    return base_fingerprint({**settings.public_dump(), "reference_date": reference_date}, [
        settings.contracts_dir, config.framework.path, DEFAULT_THRESHOLDS, settings.quality.thresholds,
        config.outcome_plan.path if config.outcome_plan else None,
    ])


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
    outcomes: OutcomeSummary | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    """The quality gates' warnings; the run completed, but someone should look."""


def ingest_all(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages | None = None,
               base: str = "") -> tuple[dict[str, IngestStats], list[str]]:
    """Every extract ingested; the errors of all of them, not just the first.

    The files are read concurrently, one task per file: on the flow's thread pool, or by the Dask workers
    (the extracts folder and the run folder then being on storage they share). An extract delivered as a
    folder of parts is read a part per task, then its parts are combined by one task, which checks its keys
    across the files.
    """
    folder = prepared.folder
    shareable = config.without_secrets()

    def stage(task: Task, key: str) -> Task:
        return bounded(task, config.settings) if stages is None else stages.task(task, key)

    with times.measure("ingest"):
        futures: dict[str, PrefectFuture] = {}
        part_futures: dict[str, list[PrefectFuture]] = {}
        for source in longest_first(prepared.extracts):
            path = prepared.extracts[source]
            key = fingerprint(base, "ingest", source, prepared.hashes[source])
            if path.is_dir():
                part_futures[source] = [
                    stage(ingest_part, fingerprint(key, "part", number)).submit(
                        source, number, part, name, shareable, folder.root)
                    for number, (part, name) in enumerate(extract_parts(path))]
            else:
                futures[source] = stage(ingest_source, key).submit(source, path, shareable, folder.root)
        states = _settled({source: futures[source] for source in prepared.extracts if source in futures})
        errors = [state.message for state in states.values() if state.is_failed()]
        combining: dict[str, PrefectFuture] = {}
        for source, parts in part_futures.items():
            part_states = _settled({f"ingest-{source}-part-{n}": f for n, f in enumerate(parts)})
            failed = [state.message for state in part_states.values() if state.is_failed()]
            errors += failed
            if stages is not None:
                stages.note(part_states)
            if not failed:
                key = fingerprint(base, "ingest", source, prepared.hashes[source], "combine")
                combining[source] = stage(combine_source_parts, key).submit(
                    source, [state.result() for state in part_states.values()],
                    f"{prepared.extracts[source].name}/", shareable, folder.root)
        combined = _settled(combining)
        errors += [state.message for state in combined.values() if state.is_failed()]
        if stages is not None:
            stages.note({f"ingest-{source}": state for source, state in {**states, **combined}.items()})
    states = {**states, **combined}
    stats = {source: states[source].result() for source in prepared.extracts
             if source in states and not states[source].is_failed()}
    for result in stats.values():
        prepared.manifest.record_ingest(result)
    for source in stats:
        prepared.manifest.outputs[f"ingested/{source}"] = f"ingested/{source}.parquet"
        prepared.manifest.outputs[f"quarantine/{source}"] = f"quarantine/{source}.rows.csv"
    return stats, errors


def longest_first(extracts: dict[str, Path]) -> list[str]:
    """The order to start reading the extracts in, so that the last to finish is a short one: workbooks first
    (each read by a process of its own, on the other core), then the largest files."""
    def size(path: Path) -> int:
        return sum(part.stat().st_size for part, _ in extract_parts(path))

    return sorted(extracts, key=lambda source: (extracts[source].suffix.lower() != ".xlsx", -size(extracts[source])))


def _settled(futures: dict[str, PrefectFuture]) -> dict[str, State]:
    for future in futures.values():
        future.wait()
    return {name: future.state for name, future in futures.items()}


def fail_run(folder: RunFolder, manifest: RunManifest, times: StageTimes, errors: list[str]) -> State:
    manifest.errors.extend(errors)
    manifest.finish("failed", times)
    manifest.write(folder.manifest)
    return Failed(message="; ".join(errors))


def _require(gate: GateSummary, manifest: RunManifest) -> None:
    manifest.quality[gate.gate] = gate.manifest_entry()
    manifest.warnings += [f"{gate.gate} gate: {warning}" for warning in gate.warnings]
    if not gate.passed:
        raise GateFailed(f"{gate.gate} gate failed, nothing published ({gate.failures}); report: {gate.report}")


@dataclass(frozen=True)
class Linkage:
    model: ModelSummary
    standardised: StandardiseSummary
    blocking: BlockSummary
    parts: list[PartitionResult]
    resolved: ResolveSummary
    linkage_model: LinkageModel


def link_persons(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages, ingested: str,
                 standardising: PrefectFuture, as_resolve_starts: Callable[[], None] = lambda: None
                 ) -> tuple[Linkage, str]:
    """Block, score per partition, and resolve persons with stable IDs, once `standardising` (submitted
    while the input gate ran) has finished: its time is what the run waited for it after the gate.

    `as_resolve_starts` starts work of the run's own beside resolve, which uses one core: the steps before
    it work on two."""
    logger = get_run_logger()
    settings = config.settings
    folder, manifest = prepared.folder, prepared.manifest
    root = folder.root
    # The heavy stages may run on other machines (Dask): they are sent the configuration without key material.
    shareable = config.without_secrets()
    with times.measure("standardise"):
        key = fingerprint(ingested, "standardise")
        standardised = standardising.result()
        stages.note({standardise_records.name: standardising.state})
    with times.measure("block"):
        key = fingerprint(key, "block")
        blocking = stages.run_on_workers(block_records, key, root, shareable)
    model_path = settings.model_path
    if model_path.exists():
        model = linkage_model(config)
        summary = ModelSummary(model_path, model.model_id, False, model.training.trained_at)
    else:
        logger.warning("no linkage model at %s: training one on this run's data (sfmatch train does this on its own)",
                       model_path)
        with times.measure("train"):
            data_hash = "".join(sorted(entry["sha256"] for entry in manifest.inputs.values()))
            with shared_lock(model_path):
                summary = bounded(train_linkage_model, settings)(root, config, data_hash)
        model = linkage_model(config)
    with times.measure("score"):
        key = fingerprint(key, "score", file_fingerprint(model_path), model.thresholds.model_dump())
        slices = partitions(candidate_count(root / "linkage" / "candidates.parquet"), settings.linkage.partition_pairs)
        parts = _score_partitions(stages, key, root, shareable, model, slices, "first")
    if config.linkage.second_pass:
        with times.measure("first persons"):
            key = fingerprint(key, "first persons", file_fingerprint(settings.decisions_path))
            first = stages.run_on_workers(first_persons, key, root, shareable, parts)
        with times.measure("second pass"):
            parts = _score_partitions(stages, fingerprint(key, "second"), root, shareable, model, slices, "second")
    as_resolve_starts()
    with times.measure("resolve"):
        previous = prepared.previous_output("person_index.parquet")
        key = fingerprint(key, "resolve", folder.run_id, file_fingerprint(previous),
                          file_fingerprint(settings.decisions_path))
        resolved = stages.run_on_workers(resolve_persons, key, root, shareable, model, parts, folder.run_id, previous)
    stats = resolved.stats
    manifest.linkage = {
        "model": {"path": str(summary.path), "model_id": summary.model_id, "trained_in_run": summary.trained_in_run,
                  "trained_at": summary.trained_at},
        "previous_person_index": str(previous) if previous else None,
        "linked_records": resolved.linked_records,
        "candidate_pairs": blocking.pairs,
        "partitions": len(slices),
        "first_pass_persons": first.persons if config.linkage.second_pass else None,
        "blocking": {r.rule: {"pairs": r.pairs, "new": r.pairs_new, "unalike": r.pairs_unalike,
                              "skipped_blocks": r.skipped_blocks} for r in blocking.rules},
        **{k: v for k, v in dataclasses.asdict(stats).items() if k != "cluster_sizes"},
        "cluster_sizes": {str(k): v for k, v in stats.cluster_sizes.items()},
        "identifier_quality": standardised.identifier_quality,
    }
    manifest.outputs.update({
        "linked_records": "linked_records.parquet", "person_index": "person_index.parquet",
        "review_queue": "review_queue.csv", "review_workbook": "review_queue.xlsx",
        "pending_pairs": "linkage/pending_pairs.parquet",
    })
    return Linkage(summary, standardised, blocking, parts, resolved, model), key


def _score_partitions(stages: Stages, key: str, root: Path, config: RunConfiguration, model: LinkageModel,
                      slices: list[slice], kind: str) -> list[PartitionResult]:
    """Score every slice of the candidates as its own task (on the thread pool, or Dask workers)."""
    futures = [
        stages.submit(score_pairs, fingerprint(key, part, piece.start, piece.stop),
                      root, config, model, part, piece.start, piece.stop, kind)
        for part, piece in enumerate(slices)
    ]
    parts = [future.result() for future in futures]
    stages.note({f"score-{kind}-part-{part}": future.state for part, future in enumerate(futures)})
    return parts


def assess(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages, linked: str
           ) -> tuple[CriteriaSummary, str]:
    folder, manifest = prepared.folder, prepared.manifest
    with times.measure("criteria"):
        period = (date.fromisoformat(manifest.period_start), date.fromisoformat(manifest.period_end))
        history = prepared.previous_output("needs_history.parquet")
        key = fingerprint(linked, "criteria", file_fingerprint(history))
        criteria = stages.run_on_workers(assess_families, key, folder.root, config.without_secrets(), period, history)
    manifest.criteria = {
        **{k: v for k, v in dataclasses.asdict(criteria).items() if k != "headline_names"},
        "previous_needs_history": str(history) if history else None,
    }
    manifest.outputs.update({
        "families": "families.parquet", "evidence": "evidence.parquet", "needs_history": "needs_history.parquet",
        "needs_changes": "needs_changes.csv",
    })
    return criteria, key


def track(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages, assessed: str,
          cases: Future[CaseFacts] | None) -> tuple[OutcomeSummary | None, str]:
    """Outcomes of the families taken on, this period's claims, and the DWP reply's reconciliation.
    `cases`: the case facts, being worked out alongside (`case_facts_alongside`), or None."""
    if config.outcome_plan is None:
        return None, assessed
    settings = config.settings
    folder, manifest = prepared.folder, prepared.manifest
    with times.measure("outcomes"):
        key = fingerprint(assessed, "outcomes", earlier_claims_digest(settings.claims_register,
                                                                       period_of(manifest.reference_date)),
                          file_fingerprint(settings.decisions_path), file_fingerprint(latest_register_path(settings.out_dir / "dwp" / "requests")))
        summary = stages.run(track_outcomes, key, folder.root, config, folder.run_id,
                             date.fromisoformat(manifest.reference_date), date.fromisoformat(manifest.period_start),
                             manifest.input_files(), cases.result() if cases is not None else None)
        reconciliation = stages.run(reconcile_dwp_reply, fingerprint(key, "dwp"), folder.root, config)
    summary = with_reconciliation(summary, reconciliation)
    manifest.outcomes = dataclasses.asdict(summary)
    manifest.outputs.update({"claims": "claims/claims.csv", "claim_status": "claims/claim_status.csv",
                             "audit_packs": "claims/audit/index.html", "outcome_needs": "claims/outcome_needs.csv",
                             "case_problems": "claims/case_problems.csv"})
    if reconciliation is not None:
        manifest.outputs["dwp_reconciliation"] = "dwp/reconciliation.csv"
    return summary, key


def alongside(work: Callable[[], T]) -> Future[T]:
    """`work` on a thread of the flow's own process, in the flow's context, while the flow goes on.

    For a task handed the keys: whatever the task runner (a Dask cluster included), it stays on this machine.
    """
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sfmatch-alongside")
    try:
        return executor.submit(copy_context().run, work)
    finally:
        executor.shutdown(wait=False)  # the thread ends when the work does


CASE_FACTS_APART_FROM = 100_000
"""Council case rows from which the case facts are worked out by a process of their own (below, starting
one costs more than the work)."""


def case_facts_alongside(prepared: PreparedRun, config: RunConfiguration, case_rows: int) -> Future[CaseFacts] | None:
    """The families' case facts, worked out by a process of its own while persons are resolved; None where
    the outcomes' own step is to work them out.

    They need only the council's extract, and resolve runs on one core with nothing beside it; worked out
    after the assessment, they lengthened the families' outcomes, the last step of a county's run (2M
    households: 7 s). Started after the input gate they took the second core from blocking's threads, and
    beside the assessment they shared it with the review workbook's process. On a run whose outcomes come
    from the cache the work is not needed, but it is done on the other core while resolve is read back.
    """
    if config.outcome_plan is None or case_rows < CASE_FACTS_APART_FROM:
        return None
    work = partial(families_case_facts, prepared.folder.root, config.without_secrets(),
                   date.fromisoformat(prepared.manifest.reference_date))
    return alongside(lambda: call_in_child(work, what="the case facts"))


def stage_cohort(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages, assessed: str,
                 gates: Child) -> tuple[Future[tuple[SubmissionSummary, GateSummary]], str]:
    """Pseudonymise the cohort (in a process of its own) and audit it (in the gates' process) while the run
    goes on with the families' outcomes: they need only the assessment."""
    settings, manifest, folder = config.settings, prepared.manifest, prepared.folder
    keys = config.submission_keys()
    key = fingerprint(assessed, "pseudonymise", keys.council.fingerprint, keys.evaluation.fingerprint,
                      file_fingerprint(settings.submission.opt_outs))

    def pseudonymise_and_audit() -> tuple[SubmissionSummary, GateSummary]:
        with times.measure("pseudonymise"):
            summary = stages.run(pseudonymise_cohort, key, folder.root, config, folder.run_id,
                                 date.fromisoformat(manifest.reference_date))
        with times.measure("gate submission"):
            return summary, stages.run(gate_submission, fingerprint(key, "gate"), folder.root, config, gates)

    return alongside(pseudonymise_and_audit), key


def submit(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, criteria: CriteriaSummary,
           stages: Stages, staging: Future[tuple[SubmissionSummary, GateSummary]], staged: str, tracked: str | None,
           gates: Child) -> tuple[SubmissionSummary, Path]:
    """Write (stage), audit (the submission gates), then encrypt and publish."""
    settings = config.settings
    folder, manifest = prepared.folder, prepared.manifest
    root = folder.root
    keys = config.submission_keys()
    if tracked is not None:  # the quarterly return counts the outcomes
        with times.measure("quarterly return"):
            quarterly = fingerprint(staged, tracked, "quarterly")
            stages.run(stage_quarterly_return, quarterly, root, config, date.fromisoformat(manifest.reference_date))
    with times.measure("waiting for the cohort file"):  # only as long as the run had to wait for it here
        submission, gate = staging.result()
    _require(gate, manifest)
    quarterly_gate = None
    if tracked is not None:
        with times.measure("gate quarterly return"):
            quarterly_gate = stages.run(gate_quarterly_return, fingerprint(quarterly, "gate"), root, config, gates)
        _require(quarterly_gate, manifest)
        staged = quarterly
    with times.measure("encrypt"):
        context = {"la_code": settings.la_code, "run_id": folder.run_id, "reference_date": manifest.reference_date,
                   "framework_version": f"{criteria.framework} v{criteria.version}"}
        # Cached with the rest: a rerun keeps the files already encrypted, so its outputs stay byte-identical.
        recipients = (keys.fingerprints["recipient"], keys.fingerprints["aggregates_recipient"])
        package_manifests = stages.run(encrypt_cohort, fingerprint(staged, "encrypt", *recipients),
                                       root, config, submission, context, gate, quarterly_gate)
    with times.measure("publish"):
        with shared_lock(settings.out_dir / "published" / "latest.json"):
            publication = publish_submission(root, config, period_of(manifest.reference_date))
    manifest.submission = {name: json.loads(path.read_text(encoding="utf-8"))
                           for name, path in package_manifests.items()}
    manifest.submission["publication"] = publication.describe()
    manifest.outputs.update({"submission": "submission/", "published": str(publication.folder)})
    return submission, publication.folder


# Two workers: the machine's cores. More threads only hold more partitions in memory at once.
@flow(name="sfmatch-cohort", log_prints=False, validate_parameters=True, timeout_seconds=DEFAULT_RUN_TIMEOUT,
      task_runner=ThreadPoolTaskRunner(max_workers=2))
def cohort_run(
    extracts_dir: Path,
    out_dir: Path | None = None,
    config_file: Path | None = None,
    run_id: str | None = None,
    reference_date: date | None = None,
    refresh: bool = False,
) -> RunSummary | State:
    """Ingest, gate, link, assess and publish: the month's run on a folder of extracts.

    `refresh` recomputes every stage even when an earlier run of the same inputs and settings left its results.
    """
    claim_flow_run()
    with private_umask():  # every file this process makes for the run (Prefect's cache, Data Docs too) is private
        return _cohort_run(extracts_dir, out_dir, config_file, run_id, reference_date, refresh)


def _cohort_run(extracts_dir: Path, out_dir: Path | None, config_file: Path | None, run_id: str | None,
                reference_date: date | None, refresh: bool) -> RunSummary | State:
    logger = get_run_logger()
    times = StageTimes()
    try:
        config = load_run_configuration(load_settings(config_file, out_dir=out_dir, reference_date=reference_date))
        with times.measure("prepare"):
            prepared = bounded(prepare_run, config.settings)(Path(extracts_dir), config, run_id)
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    except OSError as error:  # a path that cannot be made or written: the same on every try
        message = f"cannot prepare the run: {os_error_message(error)}"
        logger.error("%s", message)
        return Failed(message=message)

    try:
        with run_lock(prepared.folder.root):
            try:
                return _run_stages(prepared, config, times, refresh)
            finally:
                restrict(prepared.folder.root)  # and what other processes wrote into it (Dask workers)
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    except TimeoutError:
        raise  # a stage or the run timed out: Prefect marks the run TimedOut and says which
    except OSError as error:
        message = f"a file could not be written or read: {os_error_message(error)}"
    logger.error("%s", message)
    try:
        return fail_run(prepared.folder, prepared.manifest, times, [message])
    except OSError:  # the run folder itself is what cannot be written
        return Failed(message=message)


def _run_stages(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, refresh: bool
                ) -> RunSummary | State:
    stages = Stages(prepared.folder.root, refresh, config.settings)
    base = run_fingerprint(config, prepared.manifest.reference_date)
    gates = start_gates()  # Great Expectations loads in it while the extracts are read
    try:
        summary = _stages_with_gates(prepared, config, times, stages, base, gates)
    except BaseException:
        gates.stop()  # it may be half-way through a job
        raise
    finish_with_gates(gates)
    return summary


def _stages_with_gates(prepared: PreparedRun, config: RunConfiguration, times: StageTimes, stages: Stages,
                       base: str, gates: Child) -> RunSummary | State:
    logger = get_run_logger()
    folder, manifest = prepared.folder, prepared.manifest
    ingest, errors = ingest_all(prepared, config, times, stages, base)
    if errors:
        return fail_run(folder, manifest, times, errors)
    ingested = fingerprint(base, "ingested", prepared.hashes)
    standardising: PrefectFuture | None = None
    workbook: PrefectFuture | None = None
    staging: Future | None = None
    cases: Future[CaseFacts] | None = None
    try:
        # The records are standardised while the input gate runs in its own process: its verdict is needed
        # before anything is linked, not before anything is read.
        standardising = stages.submit(standardise_records, fingerprint(ingested, "standardise"), folder.root,
                                      config.without_secrets(), date.fromisoformat(manifest.reference_date))
        with times.measure("gate inputs"):
            previous_manifest = prepared.previous_output("manifest.json")
            gate = stages.run(gate_inputs, fingerprint(ingested, "gate", file_fingerprint(previous_manifest)),
                              folder.root, config, date.fromisoformat(manifest.reference_date), previous_manifest,
                              gates)
        _require(gate, manifest)

        def start_case_facts() -> None:
            nonlocal cases
            cases = case_facts_alongside(prepared, config,
                                         ingest["la_cases"].rows_ingested if "la_cases" in ingest else 0)

        linkage, linked = link_persons(prepared, config, times, stages, ingested, standardising, start_case_facts)
        workbook = stages.submit(review_workbook, fingerprint(linked, "workbook"), folder.root)  # alongside the rest
        criteria, assessed = assess(prepared, config, times, stages, linked)
        if config.settings.submission.enabled:
            staging, staged = stage_cohort(prepared, config, times, stages, assessed, gates)
        outcomes, tracked = track(prepared, config, times, stages, assessed, cases)
        with times.measure("report"):
            stages.run(match_report, fingerprint(tracked, "report"), folder.root, folder.run_id,
                       linkage.linkage_model, linkage.model.trained_in_run, linkage.standardised, linkage.blocking,
                       linkage.parts, linkage.resolved, criteria, outcomes)
        manifest.outputs["match_report"] = "match_report.html"
        submission, published = (
            submit(prepared, config, times, criteria, stages, staging, staged,
                   tracked if outcomes is not None else None, gates)
            if staging is not None else (None, None))
        with times.measure("review workbook"):  # only as long as the run had to wait for it at the end
            workbook.result()
        stages.note({review_workbook.name: workbook.state})
        if outcomes is not None:  # the claims are made once the run has done everything else
            record_claims(folder.root, config, folder.run_id, date.fromisoformat(manifest.reference_date))
    except SfmatchError as error:
        logger.error("%s", error)
        manifest.cache_hits = stages.hits
        return fail_run(folder, manifest, times, [str(error)])
    finally:
        for future in (standardising, workbook):  # the run ends only once what it started has
            if future is not None:
                future.wait()
        wait_for_all([future for future in (staging, cases) if future is not None])

    manifest.cache_hits = stages.hits
    manifest.finish("completed", times)
    manifest.write(folder.manifest)
    summary = RunSummary(folder.run_id, folder.root, folder.manifest, ingest, dict(times.seconds),
                         linkage.resolved.stats, linkage.model, criteria, submission, published, outcomes,
                         list(manifest.warnings))
    publish_artifacts(summary, manifest)
    if summary.warnings:
        # A scheduler sees a flow run's state and tags, not its log: the tag lets an automation alert on it.
        tag_flow_run(WARNINGS_TAG)
        logger.warning("run %s completed with %d warning(s) from the quality gates; see quality/*.md",
                       folder.run_id, len(summary.warnings))
    logger.info("run %s complete; counts reconcile: %s; %d stages reused from an earlier run",
                folder.run_id, manifest.reconciles, len(stages.hits))
    return summary


WARNINGS_TAG = "warnings"


def tag_flow_run(tag: str) -> None:
    """Add a tag to this flow run on the Prefect server, before its final state is set, so that the
    flow run's Completed event carries it."""
    run_id = flow_run.get_id()
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        current = client.read_flow_run(run_id)
        client.update_flow_run(run_id, tags=sorted({*current.tags, tag}))


def publish_artifacts(summary: RunSummary, manifest: RunManifest) -> None:
    """Counts and rates only: the run summary, the match summary (data quality has its own, from the gates)."""
    create_table_artifact(
        key="sfmatch-run-summary",
        table=[{"source": source, "rows read": s.rows_read, "ingested": s.rows_ingested,
                "quarantined": s.rows_quarantined, "reconciles": s.reconciles} for source, s in summary.ingest.items()],
        description=f"run {summary.run_id}: rows per source",
    )
    linkage = summary.linkage
    if linkage is None:
        return
    records = max(linkage.records, 1)
    lines = [
        f"# Match summary, run {summary.run_id}", "",
        "| measure | value |", "|---|---:|",
        f"| records | {linkage.records:,} |",
        f"| persons | {linkage.persons:,} ({linkage.persons / records:.1%} of records) |",
        f"| links kept | {linkage.links_kept:,} |",
        f"| links left out by constraints | {linkage.links_left_out:,} |",
        f"| pairs for review | {linkage.pairs_for_review:,} |",
        f"| model | {summary.model.model_id if summary.model else ''} |",
    ]
    if summary.criteria is not None:
        criteria = summary.criteria
        lines += [f"| families assessed | {criteria.families_assessed:,} |",
                  f"| families eligible | {criteria.families_eligible:,} |"]
    if summary.outcomes is not None:
        outcomes = summary.outcomes
        lines += [f"| families taken on | {outcomes.families_taken_on:,} |",
                  *(f"| families {stage} | {count:,} |" for stage, count in outcomes.families_by_stage.items()),
                  f"| claims this period | {outcomes.claims_this_period:,} |",
                  f"| needs within {outcomes.close_to_months} months of sustained | "
                  f"{outcomes.needs_close_to_sustained:,} |",
                  f"| families held back by a case-record problem | {outcomes.families_with_case_problems:,} |"]
    create_markdown_artifact(key="sfmatch-match-summary", markdown="\n".join(lines) + "\n",
                             description="linkage and eligibility counts")
