"""The run manifest: what went in, what came out, and whether the counts reconcile.

It holds counts, hashes, settings and timings, never a value from the data, so
it can be shared with anyone who needs to audit a run.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil

from data.ingest import IngestStats
from data.memory import return_freed_memory

MANIFEST_VERSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _PeakMemory:
    """Samples this process's resident memory in the background and keeps the highest reading."""

    def __init__(self, interval: float = 0.1):
        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, name="peak-memory", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


@dataclass
class StageTimes:
    """Wall time and peak resident memory per stage, in the order the stages began.

    Stages may overlap (one run on a thread alongside the others): each is measured from its own start to end,
    and the memory is this process's whole.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def measure(self, stage: str):
        started = time.perf_counter()
        self.seconds.setdefault(stage, 0.0)
        with _PeakMemory() as memory:
            try:
                yield
            finally:
                self.seconds[stage] = round(self.seconds[stage] + time.perf_counter() - started, 3)
        self.peak_mb[stage] = round(max(self.peak_mb.get(stage, 0.0), memory.peak / 2**20), 1)
        return_freed_memory()


@dataclass
class RunManifest:
    run_id: str
    started_at: str
    reference_date: str
    period_start: str
    period_end: str
    settings: dict[str, object]
    code: dict[str, object]
    status: str = "running"
    finished_at: str | None = None
    inputs: dict[str, dict[str, object]] = field(default_factory=dict)
    ingest: dict[str, dict[str, object]] = field(default_factory=dict)
    linkage: dict[str, object] = field(default_factory=dict)
    criteria: dict[str, object] = field(default_factory=dict)
    outcomes: dict[str, object] = field(default_factory=dict)
    submission: dict[str, object] = field(default_factory=dict)
    quality: dict[str, object] = field(default_factory=dict)
    cache_hits: list[str] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)
    stages_peak_mb: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """The gates' warnings, one line each (counts only): a run that completed with any is tagged `warnings`."""
    manifest_version: int = MANIFEST_VERSION

    def record_ingest(self, stats: IngestStats) -> None:
        self.inputs[stats.source] = {
            "file": stats.file_name, "sha256": stats.sha256, "size_bytes": stats.size_bytes,
            "encoding": stats.encoding,
        }
        if stats.parts:
            # An extract in parts: its digest covers the parts; each file is listed with its own hash and counts.
            self.inputs[stats.source]["parts"] = [
                {"file": part.file_name, "sha256": part.sha256, "size_bytes": part.size_bytes,
                 "encoding": part.encoding, "rows_read": part.rows_read}
                for part in stats.parts]
        self.ingest[stats.source] = {
            "rows_read": stats.rows_read,
            "rows_ingested": stats.rows_ingested,
            "rows_quarantined": stats.rows_quarantined,
            "reconciles": stats.reconciles,
            "quarantine_reasons": stats.quarantine_reasons,
            "field_issues": stats.field_issues,
            "unmapped_headers": list(stats.unmapped_headers),
            "absent_optional_columns": list(stats.absent_optional_columns),
        }

    def input_files(self) -> dict[str, str]:
        """Every file the run read and its content hash: an extract's file, or each of its parts."""
        return {part["file"]: part["sha256"] for entry in self.inputs.values()
                for part in entry.get("parts", [entry])}

    @property
    def reconciles(self) -> bool:
        """Every row read is ingested or quarantined, and every ingested record has a person."""
        ingest_ok = all(entry["reconciles"] for entry in self.ingest.values())
        linked = self.linkage.get("linked_records")
        ingested = sum(int(entry["rows_ingested"]) for entry in self.ingest.values())
        return ingest_ok and (linked is None or linked == ingested)

    def finish(self, status: str, stages: StageTimes) -> None:
        self.status = status
        self.finished_at = utc_now()
        self.stages = dict(stages.seconds)
        self.stages_peak_mb = dict(stages.peak_mb)

    def write(self, path: Path) -> Path:
        document = asdict(self)
        document["reconciles"] = self.reconciles
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
        return path
