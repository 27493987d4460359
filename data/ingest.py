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
from data.readers import RawExtract, extract_parts, parts_digest, read_extract
from data.tables import STRING, read_parquet, write_parquet

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
    parts: tuple[IngestStats, ...] = ()
    """For an extract delivered as a folder of files: each file's own counts, before rows repeated across
    files were set aside."""

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

    def add_at(self, positions: np.ndarray, mask: np.ndarray, reason: str | np.ndarray, label: str) -> None:
        """`add` for the rows at `positions` where `mask` holds (`mask` and an array `reason` run along
        `positions`)."""
        chosen = np.zeros(len(self.text), dtype=bool)
        chosen[positions[mask]] = True
        if isinstance(reason, np.ndarray):
            spread = np.full(len(self.text), "", dtype=object)
            spread[positions] = reason
            reason = spread
        self.add(chosen, reason, label)

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
    positions = np.flatnonzero(has_key)
    repeats, conflict, first = _shared_key_rule(candidates, contract, ["source_row"])
    reasons.add_at(positions, repeats, ("repeats row " + first["source_row"].astype(str)).to_numpy(), "duplicate row")
    reasons.add_at(positions, conflict, CONFLICT.format(key=contract.key), f"duplicate {contract.key}")


def _shared_key_rule(candidates: pd.DataFrame, contract: Contract, lineage: list[str],
                     ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Among rows that may share a key: those repeating an earlier row exactly, those sharing a key with a row
    that differs once the repeats are set aside, and each row's first identical row (its `lineage` columns)."""
    fields = list(contract.fields)
    repeats = candidates[fields].duplicated(keep="first").to_numpy()
    first = candidates.groupby(fields, dropna=False, sort=False)[lineage].transform("first")
    conflict = np.zeros(len(candidates), dtype=bool)
    conflict[~repeats] = candidates[~repeats][contract.key].duplicated(keep=False).to_numpy()
    return repeats, conflict, first


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
    """Read and ingest one extract, a file or a folder of parts; raises ExtractError when a file as a whole is
    unusable."""
    parts = [read_and_ingest(part, contract, name) for part, name in extract_parts(path)]
    return combine_parts(parts, contract, f"{path.name}/") if path.is_dir() else parts[0]


def read_and_ingest(path: Path, contract: Contract, file_name: str) -> IngestResult:
    """One file read and ingested, named `file_name` in lineage and messages (`folder/part` for a part)."""
    return ingest_raw(read_extract(path, contract, file_name), contract)


def combine_parts(parts: list[IngestResult], contract: Contract, folder_name: str) -> IngestResult:
    """One source's extract from its parts, each ingested on its own (in any process), in name order.

    A key must be unique across the whole extract, as within one file: a row that repeats a row of an earlier
    part exactly is set aside and the first kept; rows of different parts that share a key but differ are all
    set aside. Those rows were typed when their part was ingested, so the quarantine shows their values as
    read (dates as YYYY-MM-DD). Quarantine and field issues name each row's file.
    """
    records = pd.concat([part.records for part in parts], ignore_index=True)
    conflicted = {value for part in parts for value in _conflicted_keys(part.quarantine, contract)}
    across = _duplicates_across_parts(records, contract, conflicted)
    records = records[across.text == ""].reset_index(drop=True)
    fields = list(contract.fields)
    set_aside = across.frame(contract)
    quarantine = pd.concat(
        [_with_file(part.quarantine, part.stats.file_name) for part in parts] + [set_aside], ignore_index=True)
    quarantine = _in_part_order(quarantine, parts)
    field_issues = pd.concat([_with_file(part.field_issues, part.stats.file_name) for part in parts], ignore_index=True)
    readable = pd.concat([_with_file(part.readable, part.stats.file_name) for part in parts], ignore_index=True)
    if len(set_aside):
        moved = pd.MultiIndex.from_frame(set_aside[["source_file", "source_row"]])
        readable.loc[pd.MultiIndex.from_frame(readable[["source_file", "source_row"]]).isin(moved), "kept"] = False
    reasons: dict[str, int] = {}
    issue_counts: dict[str, int] = {}
    for part in parts:
        for name, count in part.stats.quarantine_reasons.items():
            reasons[name] = reasons.get(name, 0) + count
        for name, count in part.stats.field_issues.items():
            issue_counts[name] = issue_counts.get(name, 0) + count
    for name, count in across.counts.items():
        reasons[name] = reasons.get(name, 0) + count
    stats = [part.stats for part in parts]
    encodings = sorted({s.encoding for s in stats if s.encoding})
    combined = IngestStats(
        source=contract.source, file_name=folder_name,
        sha256=parts_digest([(s.file_name, s.sha256) for s in stats]),
        size_bytes=sum(s.size_bytes for s in stats), encoding=", ".join(encodings) or None,
        rows_read=sum(s.rows_read for s in stats), rows_ingested=len(records), rows_quarantined=len(quarantine),
        quarantine_reasons=dict(sorted(reasons.items())), field_issues=issue_counts,
        unmapped_headers=tuple(dict.fromkeys(h for s in stats for h in s.unmapped_headers)),
        absent_optional_columns=tuple(dict.fromkeys(c for s in stats for c in s.absent_optional_columns)),
        parts=tuple(stats),
    )
    if not combined.reconciles:
        raise AssertionError(f"{folder_name}: ingest counts do not reconcile across its parts")
    ordered = ["source_file", "source_row", "reason", *fields]
    quarantine = quarantine[ordered + (["raw_text"] if "raw_text" in quarantine else [])]
    return IngestResult(combined, records, quarantine, field_issues, readable.drop(columns="source_file"))


def _with_file(frame: pd.DataFrame, file_name: str) -> pd.DataFrame:
    framed = frame.copy()
    framed.insert(0, "source_file", file_name)
    return framed


def _in_part_order(frame: pd.DataFrame, parts: list[IngestResult]) -> pd.DataFrame:
    order = {part.stats.file_name: position for position, part in enumerate(parts)}
    position = frame["source_file"].map(order)
    return frame.assign(_part=position).sort_values(["_part", "source_row"], kind="stable") \
        .drop(columns="_part").reset_index(drop=True)


class _AcrossParts(_Reasons):
    """Rows of the combined records set aside because their key is repeated in another part."""

    def __init__(self, records: pd.DataFrame):
        super().__init__(len(records))
        self.records = records

    def frame(self, contract: Contract) -> pd.DataFrame:
        rejected = self.rejected
        chosen = self.records.loc[rejected, ["source_file", "source_row", *contract.fields]]
        text = chosen[list(contract.fields)].apply(lambda column: column.astype(STRING))
        return pd.concat([chosen[["source_file", "source_row"]].reset_index(drop=True),
                          pd.DataFrame({"reason": self.text[rejected]}),
                          text.reset_index(drop=True)], axis=1).astype({"source_file": object, "source_row": "int64"})


CONFLICT = "{key} shared with other rows of different content"
"""The reason a row is set aside when rows of one file share its key but differ."""
CONFLICT_ACROSS = "{key} shared with rows of other files of different content"


def _conflicted_keys(quarantine: pd.DataFrame, contract: Contract) -> set[str]:
    if contract.key not in quarantine or not len(quarantine):
        return set()
    marked = quarantine["reason"].astype(str).str.contains(CONFLICT.format(key=contract.key), regex=False)
    return set(quarantine.loc[marked, contract.key].dropna().astype(str))


def _duplicates_across_parts(records: pd.DataFrame, contract: Contract, conflicted: set[str]) -> _AcrossParts:
    """Keys shared between parts (each part's kept keys are already unique), by the rule one file follows: a
    key some part set aside for rows that differ is set aside in every part, as one file would have."""
    reasons = _AcrossParts(records)
    key = contract.key
    in_conflict = records[key].astype(str).isin(conflicted).to_numpy() & records[key].notna().to_numpy()
    reasons.add(in_conflict, CONFLICT_ACROSS.format(key=key), f"duplicate {key} across files")
    shared = ~in_conflict & records[key].notna().to_numpy() & records[key].duplicated(keep=False).to_numpy()
    if not shared.any():
        return reasons
    positions = np.flatnonzero(shared)
    repeats, conflict, first = _shared_key_rule(records[shared], contract, ["source_file", "source_row"])
    repeat_text = ("repeats " + first["source_file"].astype(str) + " row " + first["source_row"].astype(str)).to_numpy()
    reasons.add_at(positions, repeats, repeat_text, "duplicate row across files")
    reasons.add_at(positions, conflict, CONFLICT_ACROSS.format(key=key), f"duplicate {key} across files")
    return reasons


@dataclass(frozen=True)
class IngestOutputs:
    records: Path
    quarantine: Path
    field_issues: Path
    readable: Path


def ingest_file(path: Path, contract: Contract, run_dir: Path) -> IngestStats:
    """One extract file read, parsed and written to the run folder: its whole ingest, which a process of its
    own can do (`flows.child_process.call_in_child`), giving back counts."""
    result = ingest_extract(path, contract)
    write_ingest_outputs(result, contract, run_dir)
    return result.stats


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


def part_folder(run_dir: Path, source: str, number: int) -> Path:
    """Where one part of an extract delivered in parts is kept, ingested, until its parts are combined."""
    return run_dir / "ingested" / "parts" / source / f"part-{number:04d}"


def write_part(result: IngestResult, contract: Contract, folder: Path) -> None:
    """One part's tables, so that the parts can be ingested by different processes and combined by another."""
    write_parquet(result.records, folder / "records.parquet", arrow_schema(contract))
    for name in ("quarantine", "field_issues", "readable"):
        getattr(result, name).to_parquet(folder / f"{name}.parquet", index=False)


def read_part(stats: IngestStats, folder: Path) -> IngestResult:
    return IngestResult(stats, read_parquet(folder / "records.parquet"),
                        *(pd.read_parquet(folder / f"{name}.parquet") for name in ("quarantine", "field_issues", "readable")))
