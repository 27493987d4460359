"""Housekeeping: run folders hold personal data, so they are kept only as long as the council's policy says.

A run folder (or a training folder) whose run finished more than
`retention_days` ago is deleted, except the latest completed run, whose person
index and needs history the next run reads, and any run still in progress
(its lock is held). The published folder, which holds only what was sent, is
left alone; leftovers of an interrupted publish are cleared.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from filelock import FileLock, Timeout
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from data.errors import SfmatchError
from flows.locks import shared_lock
from flows.process_guard import claim_flow_run
from flows.runs import expired_runs, previous_run
from flows.settings import load_settings
from flows.tasks import bounded


@dataclass(frozen=True)
class PurgeSummary:
    examined: int
    deleted: list[str]
    kept_latest: str | None
    in_progress: list[str]
    dry_run: bool
    publish_debris: list[str] = field(default_factory=list)
    """Half-written publication folders (relative to published/) a killed publish left, cleared."""


def _locked(folder: Path) -> bool:
    lock = FileLock(str(folder / ".run.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return True
    lock.release()
    return False


@task(name="purge run folders", cache_policy=NO_CACHE)
def purge_run_folders(out_dir: Path, retention_days: int, dry_run: bool) -> PurgeSummary:
    now = datetime.now(timezone.utc)
    latest = previous_run(out_dir, run_id="")
    folders = [p for kind in ("runs", "training") for p in sorted((out_dir / kind).glob("*")) if p.is_dir()]
    expired = expired_runs(folders, now - timedelta(days=retention_days))
    deleted, busy = [], []
    for folder in expired:
        if latest is not None and folder == latest:
            continue
        if _locked(folder):
            busy.append(folder.name)
            continue
        if not dry_run:
            shutil.rmtree(folder)
        deleted.append(f"{folder.parent.name}/{folder.name}")
    debris = publish_debris(out_dir, dry_run)
    logger = get_run_logger()
    logger.info("%s %d of %d run folders older than %d days, and %d unfinished publication folder(s)",
                "would delete" if dry_run else "deleted", len(deleted), len(folders), retention_days, len(debris))
    return PurgeSummary(len(folders), deleted, latest.name if latest else None, busy, dry_run, debris)


def publish_debris(out_dir: Path, dry_run: bool) -> list[str]:
    """Publication folders a killed publish left half-written (`published/<period>/.v<n>.partial`).

    Taken under the lock a publish holds, so a publish in progress is never disturbed."""
    published = out_dir / "published"
    if not published.is_dir():
        return []
    with shared_lock(published / "latest.json"):
        found = sorted([*published.glob(".*.partial"), *published.glob("*/.v*.partial")])
        if not dry_run:
            for leftover in found:
                shutil.rmtree(leftover, ignore_errors=True)
    return [str(path.relative_to(published)) for path in found]


@flow(name="sfmatch-housekeeping", log_prints=False, validate_parameters=True)
def housekeeping(
    out_dir: Path | None = None, config_file: Path | None = None, retention_days: int | None = None,
    dry_run: bool = False,
) -> PurgeSummary | State:
    """Delete run folders past the retention period."""
    claim_flow_run()
    try:
        settings = load_settings(config_file, out_dir=out_dir, retention_days=retention_days)
    except SfmatchError as error:
        get_run_logger().error("%s", error)
        return Failed(message=str(error))
    return bounded(purge_run_folders, settings)(settings.out_dir, settings.orchestration.retention_days, dry_run)
