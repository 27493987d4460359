"""Skipping stages whose inputs have not changed.

Each cached stage gets a fingerprint: a hash of everything it depends on (the
input files' hashes, the settings, the contents of the configuration files,
the code version, and the fingerprints of the stages before it), chained like
a build system's. The task's cache key is its name and that fingerprint, and
its result is kept in the run folder's `.cache/`, beside the outputs the task
wrote, so the two cannot part: deleting a run folder removes its cache too.

A rerun of the same month with the same settings therefore finds every stage
cached and rewrites nothing (so its outputs stay byte-identical, the encrypted
files included); a changed extract, setting, framework file, key or model
recomputes the stages that depend on it and only those.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prefect import Task
from prefect.cache_policies import CacheKeyFnPolicy

from data.readers import file_sha256
from flows.runs import code_version


def fingerprint(*parts: object) -> str:
    """A hash of JSON-able parts: the same parts, in the same order, give the same fingerprint."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def file_fingerprint(path: Path | None) -> str | None:
    """The content hash of an optional input file, or of every file in a folder."""
    if path is None or not path.exists():
        return None
    if path.is_dir():
        return fingerprint(*[(p.name, file_sha256(p)) for p in sorted(path.iterdir()) if p.is_file()])
    return file_sha256(path)


def base_fingerprint(settings_dump: dict[str, object], config_files: list[Path | None]) -> str:
    """What every stage depends on: the settings, the configuration files' contents, the code."""
    return fingerprint(settings_dump, [file_fingerprint(p) for p in config_files], code_version())


def cached(task: Task, run_root: Path, key: str, refresh: bool = False) -> Task:
    """The task, cached under `key` with its result kept in the run folder."""
    name = task.name.replace(" ", "-")
    return task.with_options(
        cache_policy=CacheKeyFnPolicy(cache_key_fn=lambda context, parameters: f"{name}-{key}"),
        result_storage=run_root / ".cache",
        persist_result=True,
        refresh_cache=refresh,
    )
