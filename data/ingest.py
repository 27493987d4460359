"""Ingest one extract by its contract: typed records with lineage, and a quarantine for the rest.

Nothing is dropped silently. Every data row of the file ends as exactly one of:
an ingested record, or a quarantined row with its reasons. A value that is
unusable in a column that may be empty is nulled, the row is kept, and the
problem is listed in the field issues. The counts reconcile by construction
and are checked before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from data.contract import Contract
from data.parsing import parse_field
from data.readers import RawExtract, read_extract
from data.tables import STRING, write_parquet

LINEAGE_COLUMNS = ("source", "source_file", "source_sha256", "source_row")
_ARROW_TYPES = {
    "date": pa.date32(), "integer": pa.int64(), "flag": pa.bool_(),
}


@dataclass(frozen=True)
class IngestStats:
    """Counts for the manifest: no values, only how many and why."""

    source: str
    file_name: str
    sha256: str
    size_bytes: int
    encoding: str | None
    rows_read: int
    rows_ingested: int
    rows_quarantined: int
    quarantine_reasons: dict[str, int]
    field_issues: dict[str, int]
    unmapped_headers: tuple[str, ...]
    absent_optional_columns: tuple[str, ...]

    @property
    def reconciles(self) -> bool:
        return self.rows_read == self.rows_ingested + self.rows_quarantined


@dataclass(frozen=True)
class IngestResult:
    stats: IngestStats
    records: pd.DataFrame
    quarantine: pd.DataFrame
    field_issues: pd.DataFrame = field(repr=False)
    readable: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    """Per row read: `source_row`, `kept` (not set aside) and, per field, whether ingest could read its value
    (a blank is readable; a present value it had to null, or a required one missing, is not). Flags only, no
    values: the input gate checks these rates, since a field that became unreadable is null by the time it
    looks at the typed table, and a row set aside is not in it at all."""


def arrow_schema(contract: Contract) -> pa.Schema:
    """The typed layout of a source's ingested table, fixed by its contract."""
    columns = [pa.field("source", pa.string(), nullable=False)]
    columns += [pa.field(name, _ARROW_TYPES.get(spec.type, pa.string())) for name, spec in contract.fields.items()]
    columns += [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("source_sha256", pa.string(), nullable=False),
        pa.field("source_row", pa.int64(), nullable=False),
    ]
    return pa.schema(columns)


class _Reasons:
    """Reasons per row, gathered column by column without a per-row loop."""

    def __init__(self, n_rows: int):
        self.text = np.full(n_rows, "", dtype=object)
        self.counts: dict[str, int] = {}

    def add(self, mask: np.ndarray, reason: str | np.ndarray, label: str) -> None:
        if not mask.any():
            return
        separator = np.where(self.text[mask] == "", "", "; ")
        self.text[mask] = self.text[mask] + separator + (reason[mask] if isinstance(reason, np.ndarray) else reason)
        self.counts[label] = self.counts.get(label, 0) + int(mask.sum())

    @property
    def rejected(self) -> np.ndarray:
        return self.text != ""


def _duplicate_keys(raw: pd.DataFrame, contract: Contract, non_blank: np.ndarray, reasons: _Reasons) -> None:
    """Quarantine rows whose key is not unique.

    A row that repeats an earlier row exactly is set aside and the first kept;
    rows that share a key but differ are all set aside, because nothing says
    which of them is right.
    """
    key = raw[contract.key]
    has_key = non_blank & key.notna().to_numpy()
    candidates = raw[has_key]
    shared = candidates[contract.key].duplicated(keep=False).to_numpy()
    if not shared.any():
        return
    fields = list(contract.fields)
    repeats = candidates[fields].duplicated(keep="first").to_numpy() & shared
    first_row = candidates.groupby(fields, dropna=False, sort=False)["source_row"].transform("first")
    repeat_text = ("repeats row " + first_row.astype(str)).to_numpy()
    still_shared = candidates[~repeats][contract.key].duplicated(keep=False)
    conflict = np.zeros(len(candidates), dtype=bool)
    conflict[np.flatnonzero(~repeats)] = still_shared.to_numpy()

    positions = np.flatnonzero(has_key)
    repeat_mask = np.zeros(len(raw), dtype=bool)
    repeat_mask[positions[repeats]] = True
    full_repeat_text = np.full(len(raw), "", dtype=object)
    full_repeat_text[positions] = repeat_text
    reasons.add(repeat_mask, full_repeat_text, "duplicate row")
    conflict_mask = np.zeros(len(raw), dtype=bool)
    conflict_mask[positions[conflict]] = True
    reasons.add(conflict_mask, f"{contract.key} shared with other rows of different content", f"duplicate {contract.key}")


def ingest_raw(raw: RawExtract, contract: Contract) -> IngestResult:
    """Parse a raw extract into typed records, quarantine and field issues."""
    frame = raw.frame
    fields = list(contract.fields)
    reasons = _Reasons(len(frame))
    blank = frame[fields].isna().all(axis=1).to_numpy()
    reasons.add(blank, "blank row", "blank row")

    typed: dict[str, pd.Series] = {}
    readable: dict[str, np.ndarray] = {}
    issues: list[pd.DataFrame] = []
    issue_counts: dict[str, int] = {}
    for name, spec in contract.fields.items():
        parsed = parse_field(frame[name], spec, contract.formats_for(name))
        typed[name] = parsed.values
        readable[name] = ~np.asarray(parsed.unusable, dtype=bool)
        if not spec.nullable:
            missing = ~blank & frame[name].isna().to_numpy()
            readable[name] &= ~missing
            reasons.add(missing, f"{name}: missing", f"{name} missing")
            reasons.add(parsed.unusable, f"{name}: {parsed.problem}", f"{name} unusable")
        elif parsed.unusable.any():
            count = int(parsed.unusable.sum())
            issue_counts[name] = count
            issues.append(pd.DataFrame({
                "source_row": frame["source_row"].to_numpy()[parsed.unusable],
                contract.key: frame[contract.key].to_numpy()[parsed.unusable],
                "field": name,
                "problem": parsed.problem,
            }))
    _duplicate_keys(frame, contract, ~blank, reasons)

    kept = ~reasons.rejected
    records = pd.DataFrame({name: values[kept] for name, values in typed.items()}).reset_index(drop=True)
    records.insert(0, "source", contract.source)
    records["source_file"] = raw.file_name
    records["source_sha256"] = raw.sha256
    records["source_row"] = frame["source_row"].to_numpy()[kept]
    records = records.astype({"source": STRING, "source_file": STRING, "source_sha256": STRING})

    set_aside = frame[reasons.rejected].copy()
    set_aside.insert(1, "reason", reasons.text[reasons.rejected])
    malformed = raw.malformed.copy()
    quarantine = pd.concat([set_aside, malformed], ignore_index=True)
    quarantine["source_row"] = quarantine["source_row"].astype("int64")
    quarantine = quarantine.sort_values("source_row", kind="stable").reset_index(drop=True)
    ordered = ["source_row", "reason", *fields]
    quarantine = quarantine[ordered + (["raw_text"] if "raw_text" in quarantine else [])]
    if len(malformed):
        reasons.counts["wrong number of fields"] = len(malformed)

    field_issues = (
        pd.concat(issues, ignore_index=True).sort_values("source_row", kind="stable")
        if issues else pd.DataFrame(columns=["source_row", contract.key, "field", "problem"])
    )
    # A row too short or too long to read has no fields to judge: it counts against `kept` alone.
    flags = pd.DataFrame({"source_row": frame["source_row"].to_numpy(np.int64), "kept": kept, **readable})
    if len(malformed):
        flags = pd.concat([flags, pd.DataFrame({
            "source_row": malformed["source_row"].to_numpy(np.int64), "kept": False,
            **{name: True for name in readable}})], ignore_index=True)
    stats = IngestStats(
        source=contract.source, file_name=raw.file_name, sha256=raw.sha256, size_bytes=raw.size_bytes,
        encoding=raw.encoding, rows_read=len(frame) + len(malformed),
        rows_ingested=len(records), rows_quarantined=len(quarantine),
        quarantine_reasons=dict(sorted(reasons.counts.items())), field_issues=issue_counts,
        unmapped_headers=raw.columns.unmapped_headers, absent_optional_columns=raw.columns.absent_optional,
    )
    if not stats.reconciles:
        raise AssertionError(f"{raw.file_name}: ingest counts do not reconcile")
    return IngestResult(stats, records, quarantine, field_issues.reset_index(drop=True),
                        flags.sort_values("source_row", kind="stable").reset_index(drop=True))


def ingest_extract(path: Path, contract: Contract) -> IngestResult:
    """Read and ingest one extract file; raises ExtractError when the file as a whole is unusable."""
    return ingest_raw(read_extract(path, contract), contract)


@dataclass(frozen=True)
class IngestOutputs:
    records: Path
    quarantine: Path
    field_issues: Path
    readable: Path


def write_ingest_outputs(result: IngestResult, contract: Contract, run_dir: Path) -> IngestOutputs:
    """Typed records as Parquet; quarantine and field issues as CSV for the data team to open."""
    source = contract.source
    outputs = IngestOutputs(
        records=run_dir / "ingested" / f"{source}.parquet",
        quarantine=run_dir / "quarantine" / f"{source}.rows.csv",
        field_issues=run_dir / "quarantine" / f"{source}.fields.csv",
        readable=readable_path(run_dir, source),
    )
    outputs.quarantine.parent.mkdir(parents=True, exist_ok=True)
    write_parquet(result.records, outputs.records, arrow_schema(contract))
    result.quarantine.to_csv(outputs.quarantine, index=False)
    result.field_issues.to_csv(outputs.field_issues, index=False)
    write_parquet(result.readable, outputs.readable)
    return outputs


def readable_path(run_dir: Path, source: str) -> Path:
    """Where a source's per-row readability flags are kept for the input gate."""
    return run_dir / "ingested" / "readable" / f"{source}.parquet"
