"""The tasks the flows compose that every flow shares: preparing a run, ingest, the gates, the assessment.

Each task reads its inputs from the run folder, calls the library, writes its output back to the run folder
and returns counts: no business logic here. The linkage's tasks are in `flows.linkage_tasks`, the
submission's in `flows.submission_tasks`.
"""

from __future__ import annotations

import errno
import json
import logging
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import TypeVar

import pandas as pd
from prefect import Task, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import task_run
from prefect.states import Failed, State

from criteria.assess import COUNTED, assess
from criteria.progress import update_history
from criteria.report import CriteriaSummary, summarise
from data.errors import SfmatchError
from data.ingest import (
    IngestStats, combine_parts, ingest_file, part_folder, read_and_ingest, read_part, readable_path,
    write_ingest_outputs, write_part,
)
from data.readers import extract_sha256, locate_extracts
from data.tables import read_parquet, write_parquet
from expectations.inputs import ingest_expectations, input_expectations
from expectations.gate_job import GateJob, results_from
from expectations.report import failure_message, gate_markdown, write_gate_report
from expectations.runner import Outcome
from expectations.submission import aggregate_expectations, cohort_expectations, quarterly_expectations, read_cohort
from flows.child_process import Child, call_in_child
from flows.configuration import RunConfiguration
from flows.manifest import RunManifest, utc_now
from flows.runs import RunFolder, code_version, previous_run, run_id_for
from flows.settings import Settings
from criteria.conditions import reporting_period

T = TypeVar("T")


class _NoEmptyTraceback(logging.Filter):
    """Prefect logs a failed state with exc_info even when no exception exists, printing 'NoneType: None'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is None:
            record.exc_info = None
        return True


for _name in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_name).addFilter(_NoEmptyTraceback())


# What a second try can fix: a network share or disk that failed for a moment. A missing file, a
# permission, a read-only or full disk, a bad path fail the same way every time.
TRANSIENT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.EINTR, errno.EBUSY, errno.ETIMEDOUT, errno.ESTALE,
                              errno.ECONNRESET, errno.ECONNABORTED, errno.ENETUNREACH, errno.EHOSTUNREACH,
                              errno.ENETDOWN, errno.EHOSTDOWN})


def is_transient(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno in TRANSIENT_ERRNOS


def transient_io(task, task_run, state) -> bool:
    """Retry what a second try can fix (a file system that failed for a moment), never a bad extract, a
    permission or a path that does not exist."""
    return is_transient(state.data if isinstance(state.data, BaseException) else None)


def os_error_message(error: OSError) -> str:
    """One line naming the path and what is wrong with it, without Python's exception text."""
    where = f"{error.filename}" + (f" -> {error.filename2}" if error.filename2 else "") if error.filename else "a file"
    return f"{where}: {(error.strerror or type(error).__name__).lower()}"


def bounded(task: Task, settings: Settings) -> Task:
    """The task with the stage timeout the settings give: every stage has one."""
    return task.with_options(timeout_seconds=settings.orchestration.stage_timeout_minutes * MINUTES)


class _ThreadTimeoutNotice(logging.Filter):
    """Drops Prefect's notice, repeated for every stage on the thread pool, that a task's timeout cannot
    interrupt it mid-call. The stage's limit still fails the run once the call returns, and the run's own
    limit (kept on the flow's main thread) stops a stage that never returns."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout of %s seconds configured for this task, but the task is "
                                              "running in a worker thread")


logging.getLogger("prefect.task_runs").addFilter(_ThreadTimeoutNotice())


# Reading extracts from a share, copying to the published folder: I/O that can fail for a moment.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [5, 30], "retry_condition_fn": transient_io}
MINUTES = 60


@dataclass(frozen=True)
class PreparedRun:
    folder: RunFolder
    extracts: dict[str, Path]
    manifest: RunManifest
    hashes: dict[str, str]
    previous: Path | None = None
    """The latest completed run before this one, chosen once so that every stage reads the same run."""

    def previous_output(self, name: str) -> Path | None:
        """A file of the previous run (its person index, needs history, manifest), if it has one."""
        return self.previous / name if self.previous is not None and (self.previous / name).exists() else None


@task(name="prepare run", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES, **IO_RETRIES)
def prepare_run(extracts_dir: Path, config: RunConfiguration, run_id: str | None, kind: str = "runs") -> PreparedRun:
    """Find each source's extract (a file or a folder of parts), hash them, and open the run's folder and
    manifest."""
    settings = config.settings
    extracts = locate_extracts(extracts_dir, config.contracts)
    if settings.submission.enabled and kind == "runs":
        config.submission_keys()  # a missing key fails before the work (training publishes nothing, so needs none)
    if kind == "runs":
        settings.require_model()  # a missing model fails before the work too
    hashes = {source: extract_sha256(path) for source, path in extracts.items()}
    reference_date = settings.resolved_reference_date()
    folder = RunFolder(settings.out_dir, run_id or run_id_for(reference_date, hashes, settings.public_dump()), kind)
    start, end = reporting_period(reference_date, settings.period_months)
    manifest = RunManifest(
        run_id=folder.run_id, started_at=utc_now(), reference_date=reference_date.isoformat(),
        period_start=start.isoformat(), period_end=end.isoformat(),
        settings=settings.public_dump(), code=code_version(),
    )
    folder.create()
    get_run_logger().info("run %s: %d extracts found", folder.run_id, len(extracts))
    return PreparedRun(folder, extracts, manifest, hashes, previous_run(settings.out_dir, folder.run_id))


# Ingest and scoring run on worker threads (or Dask workers), where Prefect cannot interrupt a task and
# only warns that a timeout was set; the tasks run in the flow's own thread keep theirs.
@task(name="ingest", task_run_name="ingest-{source}", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_source(source: str, path: Path, config: RunConfiguration, run_root: Path) -> IngestStats | State:
    """Read one extract file by its contract; write its typed table, quarantine and field issues."""
    contract = config.contracts[source]
    ingest = partial(ingest_file, path, contract, run_root)
    if path.suffix.lower() == ".xlsx":
        # calamine makes a Python object of every cell, which holds the interpreter: in a process of its own,
        # the workbook is read on the other core while this process reads the CSV extracts.
        ingest = partial(call_in_child, ingest, what=f"the ingest of {path.name}")
    stats = _ingesting(ingest, path.name, ingest_source.retries)
    if isinstance(stats, State):
        return stats
    _log_ingest(stats)
    return stats


@task(name="ingest part", task_run_name="ingest-{source}-part-{number}", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_part(source: str, number: int, path: Path, file_name: str, config: RunConfiguration,
                run_root: Path) -> IngestStats | State:
    """Read one file of an extract delivered in parts; its tables wait in the run folder to be combined."""
    contract = config.contracts[source]
    result = _ingesting(partial(read_and_ingest, path, contract, file_name), file_name, ingest_part.retries)
    if isinstance(result, State):
        return result
    write_part(result, contract, part_folder(run_root, source, number))
    return result.stats


@task(name="combine parts", task_run_name="combine-{source}", cache_policy=NO_CACHE)
def combine_source_parts(source: str, parts: list[IngestStats], folder_name: str, config: RunConfiguration,
                         run_root: Path) -> IngestStats:
    """One extract from its parts: keys checked across the files, one typed table, one quarantine."""
    contract = config.contracts[source]
    ingested = [read_part(stats, part_folder(run_root, source, number)) for number, stats in enumerate(parts)]
    result = combine_parts(ingested, contract, folder_name)
    write_ingest_outputs(result, contract, run_root)
    _log_ingest(result.stats)
    return result.stats


def _ingesting(work: Callable[[], T], file_name: str, retries: int) -> T | State:
    """`work()`, or the failed state that names the file and what is wrong with it."""
    try:
        return work()
    except SfmatchError as error:
        get_run_logger().error("%s", error)
        return Failed(message=str(error))
    except OSError as error:
        if is_transient(error) and task_run.run_count <= retries:
            raise  # retried after a pause: shares and network drives fail for a moment
        tries = f", after {task_run.run_count} tries" if task_run.run_count > 1 else ""
        message = f"{file_name}: cannot be read ({(error.strerror or type(error).__name__).lower()}){tries}"
        get_run_logger().error("%s", message)
        return Failed(message=message)


def _log_ingest(stats: IngestStats) -> None:
    in_parts = f" from {len(stats.parts)} files" if stats.parts else ""
    get_run_logger().info(
        "%s: %d rows read%s, %d ingested, %d quarantined, %d values unusable", stats.source, stats.rows_read,
        in_parts, stats.rows_ingested, stats.rows_quarantined, sum(stats.field_issues.values()),
    )


def ingested_tables(run_root: Path, sources: tuple[str, ...]) -> dict[str, pd.DataFrame]:
    return {source: read_parquet(run_root / "ingested" / f"{source}.parquet") for source in sources}


@task(name="assess families", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def assess_families(run_root: Path, config: RunConfiguration, period: tuple[date, date], previous_history: Path | None,
                    ) -> CriteriaSummary:
    """Needs, evidence and eligibility for every family; the needs history and this month's changes."""
    loaded = config.framework
    linked = read_parquet(run_root / "linked_records.parquet")
    pending = read_parquet(run_root / "linkage" / "pending_pairs.parquet")
    assessment = assess(loaded.framework, ingested_tables(run_root, config.sources), linked, pending, period)
    write_parquet(assessment.families, run_root / "families.parquet")
    write_parquet(assessment.evidence, run_root / "evidence.parquet")
    write_parquet(assessment.members, run_root / "criteria" / "family_members.parquet")
    counted = assessment.evidence[assessment.evidence["status"] == COUNTED]
    previous = read_parquet(previous_history) if previous_history else None
    history, changes = update_history(counted, previous, period[1])
    write_parquet(history, run_root / "needs_history.parquet")
    changes.to_csv(run_root / "needs_changes.csv", index=False)
    summary = summarise(loaded, assessment, (period[0].isoformat(), period[1].isoformat()), changes)
    get_run_logger().info(
        "criteria %s: %d families assessed, %d eligible, %d held back for review",
        loaded.label, summary.families_assessed, summary.families_eligible, summary.families_held_for_review,
    )
    return summary


@dataclass(frozen=True)
class GateSummary:
    gate: str
    passed: bool
    suites: dict[str, dict[str, object]]
    report: Path
    failures: str

    def manifest_entry(self) -> dict[str, object]:
        return {"passed": self.passed, "report": str(self.report), "suites": self.suites}

    @property
    def warnings(self) -> list[str]:
        """Each warning outcome as one line of counts, named by its suite."""
        return [f"{name}: {Outcome(**outcome).describe()}" for name, suite in self.suites.items()
                for outcome in suite.get("warnings", [])]

    def counts(self) -> dict[str, object]:
        return {"passed": self.passed, "suites": {
            name: {k: suite[k] for k in ("rows", "evaluated", "passed")} for name, suite in self.suites.items()}}


_idle_gates: list[Child] = []
_idle_lock = threading.Lock()


def start_gates() -> Child:
    """The process that will run the run's gates, started as the run begins so that Great Expectations is
    loaded, on the other core, by the time the first gate's tables are ready (`flows.gate_worker`).

    A process that runs one month after another (tests, a notebook) hands each run the gates' process the
    last one finished with, as it would have kept GX loaded in itself."""
    with _idle_lock:
        while _idle_gates:
            gates = _idle_gates.pop()
            if gates.running():
                return gates
    return Child("flows.gate_worker", what="the quality gates' results")


def finish_with_gates(gates: Child) -> None:
    """Keep the gates' process for this process's next run; it ends with this process (its input closes)."""
    if gates.running():
        with _idle_lock:
            _idle_gates.append(gates)
    else:
        gates.stop()


def _gate(run_root: Path, gate: str, title: str, batches: dict, gates: Child) -> GateSummary:
    """Run a gate's suites in the gates' process; keep its report and Data Docs in the run folder, publish
    counts as an artifact."""
    # Tables are named by path and each suite's expectations made in the gates' process, where GX is loaded.
    results = results_from(gates.ask(pickle.dumps(GateJob(title, run_root / "data_docs" / gate, batches)))
                           .decode("utf-8"))
    markdown = gate_markdown(title, results)
    report = write_gate_report(run_root / "quality", gate, markdown, results)
    create_markdown_artifact(key=f"sfmatch-quality-{gate}", markdown=markdown, description=f"{title}: counts only")
    logger = get_run_logger()
    for name, result in results.items():
        for outcome in result.warnings:
            logger.warning("%s: %s", name, outcome.describe())
    passed = all(result.passed for result in results.values())
    logger.info("%s: %s (%d suites)", title, "passed" if passed else "FAILED", len(results))
    return GateSummary(gate, passed, {name: result.summary() for name, result in results.items()}, report,
                       failure_message(results))


@task(name="gate inputs", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def gate_inputs(run_root: Path, config: RunConfiguration, reference_date: date, previous_manifest: Path | None,
                gates: Child) -> GateSummary:
    """The input suites on every ingested extract, run by the run's gates process (`start_gates`); a blocking
    failure stops the run before any linking."""
    previous_rows: dict[str, int] = {}
    if previous_manifest is not None:
        previous = json.loads(previous_manifest.read_text(encoding="utf-8"))
        previous_rows = {s: int(e["rows_ingested"]) for s, e in previous.get("ingest", {}).items()}
    batches = {}
    for source in config.sources:
        contract, thresholds = config.contracts[source], config.thresholds[source]
        batches[f"input_{source}"] = (
            partial(read_parquet, run_root / "ingested" / f"{source}.parquet"),
            partial(input_expectations, contract, thresholds, reference_date, previous_rows.get(source)),
        )
        batches[f"ingest_{source}"] = (partial(read_parquet, readable_path(run_root, source)),
                                       partial(ingest_expectations, contract, thresholds))
    return _gate(run_root, "inputs", "Input data quality", batches, gates)


_TEXT = {"dtype": str, "keep_default_na": False}
"""Small staged CSVs read as their recipient would: every value as text, nothing taken for a missing value."""


@task(name="gate submission", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def gate_submission(run_root: Path, config: RunConfiguration, gates: Child) -> GateSummary:
    """The submission suite on the staged cohort file (as the recipient will read it) and the aggregates."""
    framework = config.framework.framework
    staging = run_root / "submission"
    batches = {
        "cohort": (partial(read_cohort, staging / "cohort" / "cohort.csv"),
                   partial(cohort_expectations, framework.headline_codes, framework.eligibility.minimum)),
        "aggregates": (partial(pd.read_csv, staging / "aggregates" / "aggregates.csv", **_TEXT), aggregate_expectations),
    }
    return _gate(run_root, "submission", "Submission data quality", batches, gates)


@task(name="gate quarterly return", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES)
def gate_quarterly_return(run_root: Path, config: RunConfiguration, gates: Child) -> GateSummary:
    """The quarterly return's suite: a gate of its own, as the return is staged only once the outcomes it
    counts are known, after the cohort's gate has run."""
    batches = {"quarterly": (partial(pd.read_csv, run_root / "submission" / "progress" / "quarterly_return.csv",
                                     **_TEXT),
                             partial(quarterly_expectations, config.framework.framework.headline_codes))}
    return _gate(run_root, "quarterly", "Quarterly return data quality", batches, gates)
