"""Saving and loading the linkage stage's intermediate tables, so each step can run as its own task."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.tables import read_parquet
from matching.blocking import CandidatePairs, RuleReport
from matching.first_pass import FirstPass
from matching.standardise import PersonRecords
from matching.tables import CANDIDATE_PAIRS, CATEGORY_COLUMNS, PERSON_RECORDS


# Records are written in row groups of this many, the slices a Dask worker reads on its own.
RECORDS_ROW_GROUP = 131_072

WORKING_FILES = {"compression": "lz4"}
"""How the linkage's working tables (records, candidate pairs, scored pairs) are written: they are read back
within the run, and LZ4 writes them more than twice as fast as the default Snappy, at about the same size."""


def save_records(records: PersonRecords, directory: Path) -> Path:
    PERSON_RECORDS.write(records.frame, directory / "records.parquet", row_group_size=RECORDS_ROW_GROUP,
                         **WORKING_FILES)
    pq.write_table(pa.table({"word": pa.array(records.vocabulary.tolist(), pa.string())}), directory / "vocabulary.parquet")
    return directory


def row_groups(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


_loaded: dict[tuple[str, int], PersonRecords] = {}
_loading = threading.Lock()


def load_records(directory: Path) -> PersonRecords:
    """The saved records, read once per process however many tasks ask for them at once.

    Records are never modified after standardisation, so concurrent scoring tasks
    can share one copy instead of each holding its own.
    """
    path = directory / "records.parquet"
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    with _loading:
        if key not in _loaded:
            _loaded.clear()
            _loaded[key] = _read_records(directory)
        return _loaded[key]


def read_record_columns(directory: Path, columns: Iterable[str]) -> pd.DataFrame:
    """Some columns of the saved records, read on their own, for a step after the linkage that needs neither
    the rest nor what the linkage derives from them."""
    return read_parquet(directory / "records.parquet", columns=list(columns))


def _read_records(directory: Path) -> PersonRecords:
    frame = read_parquet(directory / "records.parquet")
    for column in CATEGORY_COLUMNS:
        frame[column] = frame[column].astype(str).astype("category")
    vocabulary = pq.read_table(directory / "vocabulary.parquet").column("word").to_numpy(zero_copy_only=False)
    return PersonRecords(frame, np.asarray(vocabulary, dtype=object))


def save_candidates(candidates: CandidatePairs, path: Path) -> Path:
    table = CANDIDATE_PAIRS.conform(pd.DataFrame({"left": candidates.left, "right": candidates.right,
                                                  "rules": candidates.rules}))
    metadata = {
        b"rule_names": "\x1f".join(candidates.rule_names).encode(),
        b"report": json.dumps([dataclasses.asdict(r) for r in candidates.report]).encode(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(metadata), path, row_group_size=CANDIDATE_ROW_GROUP,
                   **WORKING_FILES)
    return path


# Candidates are read a partition at a time: each reads only the row groups its slice touches.
CANDIDATE_ROW_GROUP = 1 << 18


def load_candidates(path: Path, rows: slice | None = None) -> CandidatePairs:
    file = pq.ParquetFile(path)
    metadata = file.schema_arrow.metadata or {}
    names = tuple(metadata[b"rule_names"].decode().split("\x1f")) if metadata.get(b"rule_names") else ()
    reports = tuple(RuleReport(**row) for row in json.loads(metadata[b"report"])) if metadata.get(b"report") else ()
    if rows is None:
        table = file.read()
    else:
        groups, first, offset = [], None, 0
        for group in range(file.num_row_groups):
            size = file.metadata.row_group(group).num_rows
            if offset < rows.stop and offset + size > rows.start:
                groups.append(group)
                first = offset if first is None else first
            offset += size
        table = file.read_row_groups(groups) if groups else file.schema_arrow.empty_table()
        table = table.slice(rows.start - (first or 0), rows.stop - rows.start)
    return CandidatePairs(
        table.column("left").to_numpy(), table.column("right").to_numpy(), table.column("rules").to_numpy(), names, reports,
    )


def candidate_count(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


FIRST_PASS = "first_pass.parquet"


_first_passes: dict[tuple[str, int], FirstPass] = {}


def save_first_pass(first: FirstPass, directory: Path) -> Path:
    """Written for the scoring tasks of other processes; this process keeps the one it made, as rebuilding it
    from the labels (its households and twins) costs seconds at a county's scale."""
    path = directory / FIRST_PASS
    pq.write_table(pa.table({"person": first.labels}), path)
    with _loading:
        _first_passes.clear()
        _first_passes[(str(path.resolve()), path.stat().st_mtime_ns)] = first
    return path


def forget_loaded() -> None:
    """Let go of the records and first pass this process keeps for the linkage's tasks, once the linkage is
    done: at a county's scale they hold over a gigabyte that the assessment, outcomes and submission would
    otherwise carry on top of their own."""
    with _loading:
        _loaded.clear()
        _first_passes.clear()


def load_first_pass(directory: Path, records: PersonRecords) -> FirstPass:
    """The first pass's persons, rebuilt once per process however many scoring tasks ask at once."""
    path = directory / FIRST_PASS
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    with _loading:
        if key not in _first_passes:
            _first_passes.clear()
            labels = pq.read_table(path).column("person").to_numpy()
            _first_passes[key] = FirstPass.of(labels, records.codes("event_code"), records.codes("dob_int"))
        return _first_passes[key]
