"""The monthly cohort run: the stages in order, each a thin Prefect task over a library call.

A stage that a later piece of work adds is simply appended here; nothing is
stubbed. An expected failure (a bad extract, a bad setting) ends the run in a
Failed state whose message says what to fix, with no traceback, and the
manifest records it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from dateutil.relativedelta import relativedelta
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from data.contract import load_contracts
from data.errors import SfmatchError
from data.ingest import IngestStats, ingest_extract, write_ingest_outputs
from data.readers import file_sha256, locate_extracts
from flows.manifest import RunManifest, StageTimes, utc_now
from flows.runs import RunFolder, code_version, run_id_for
from flows.settings import Settings, load_settings


class _NoEmptyTraceback(logging.Filter):
    """Prefect logs a failed state with exc_info even when no exception exists, printing 'NoneType: None'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is None:
            record.exc_info = None
        return True


for _name in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_name).addFilter(_NoEmptyTraceback())


@dataclass(frozen=True)
class RunSummary:
    """What the caller needs to report a finished run; counts only."""

    run_id: str
    run_dir: Path
    manifest: Path
    ingest: dict[str, IngestStats]
    stages: dict[str, float]


@dataclass(frozen=True)
class PreparedRun:
    folder: RunFolder
    extracts: dict[str, Path]
    manifest: RunManifest


def reporting_period(reference_date: date, months: int) -> tuple[date, date]:
    """The period a record must fall in to count: the `months` up to and including the reference date."""
    return reference_date - relativedelta(months=months) + relativedelta(days=1), reference_date


@task(name="prepare run", cache_policy=NO_CACHE)
def prepare_run(extracts_dir: Path, settings: Settings, run_id: str | None) -> PreparedRun:
    """Find one extract per source, hash them, and open the run's folder and manifest."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    extracts = locate_extracts(extracts_dir, contracts)
    hashes = {source: file_sha256(path) for source, path in extracts.items()}
    reference_date = settings.resolved_reference_date()
    folder = RunFolder(settings.out_dir, run_id or run_id_for(reference_date, hashes, settings.public_dump()))
    start, end = reporting_period(reference_date, settings.period_months)
    manifest = RunManifest(
        run_id=folder.run_id, started_at=utc_now(), reference_date=reference_date.isoformat(),
        period_start=start.isoformat(), period_end=end.isoformat(),
        settings=settings.public_dump(), code=code_version(),
    )
    folder.create()
    get_run_logger().info("run %s: %d extracts found", folder.run_id, len(extracts))
    return PreparedRun(folder, extracts, manifest)


@task(name="ingest", task_run_name="ingest-{source}", cache_policy=NO_CACHE)
def ingest_source(source: str, path: Path, settings: Settings, run_root: Path) -> IngestStats | State:
    """Read one extract by its contract; write its typed table, quarantine and field issues."""
    logger = get_run_logger()
    try:
        contract = load_contracts(settings.contracts_dir, [source])[source]
        result = ingest_extract(path, contract)
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    write_ingest_outputs(result, contract, run_root)
    stats = result.stats
    logger.info(
        "%s: %d rows read, %d ingested, %d quarantined, %d values unusable",
        source, stats.rows_read, stats.rows_ingested, stats.rows_quarantined, sum(stats.field_issues.values()),
    )
    return stats


@flow(name="sfmatch-cohort", log_prints=False, validate_parameters=True)
def cohort_run(
    extracts_dir: Path,
    out_dir: Path | None = None,
    config_file: Path | None = None,
    run_id: str | None = None,
    reference_date: date | None = None,
) -> RunSummary | State:
    """Ingest every extract by contract, then write the run manifest."""
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
    with times.measure("ingest"):
        futures = {
            source: ingest_source.submit(source, path, settings, folder.root)
            for source, path in prepared.extracts.items()
        }
        for future in futures.values():
            future.wait()
    states = {source: future.state for source, future in futures.items()}
    errors = [state.message for state in states.values() if state.is_failed()]
    ingest = {source: futures[source].result() for source, state in states.items() if not state.is_failed()}
    for stats in ingest.values():
        manifest.record_ingest(stats)
    for source in ingest:
        manifest.outputs[f"ingested/{source}"] = f"ingested/{source}.parquet"
        manifest.outputs[f"quarantine/{source}"] = f"quarantine/{source}.rows.csv"

    if errors:
        manifest.errors.extend(errors)
        manifest.finish("failed", times)
        manifest.write(folder.manifest)
        return Failed(message="; ".join(errors))

    manifest.finish("completed", times)
    manifest.write(folder.manifest)
    logger.info("run %s complete; counts reconcile: %s", folder.run_id, manifest.reconciles)
    return RunSummary(folder.run_id, folder.root, folder.manifest, ingest, dict(times.seconds))
