"""Builders the tests share: small ingested tables, person records, a flat model, extract files.

Everything here is synthetic and built in the test that uses it.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from matching import pipeline
from matching.comparisons import Comparison, PairView
from matching.model import ComparisonParameters, LevelParameters, LinkageModel, Thresholds, TrainingRecord
from matching.spec import PROGRAMME_SPEC, LinkageSpec
from matching.standardise import PersonRecords

REFERENCE = date(2026, 9, 30)
PERSON_FIELDS = ("forename", "surname", "dob", "sex", "nino", "nhs_number", "upn", "postcode")
NO_EVIDENCE = -1


def table(*rows: dict, prefix: str = "R", **extra_columns) -> pd.DataFrame:
    """An ingested-style table: one dict per row, any person field may be left out."""
    frame = pd.DataFrame([{field: row.get(field) for field in PERSON_FIELDS} | {k: row.get(k) for k in extra_columns}
                          for row in rows])
    frame.insert(0, "record_id", [f"{prefix}{i}" for i in range(len(rows))])
    frame["dob"] = pd.to_datetime(frame["dob"])
    return frame


def records(spec: LinkageSpec = PROGRAMME_SPEC, **tables: pd.DataFrame) -> PersonRecords:
    """Person records of the programme's linkage from named tables (the name is the source)."""
    return pipeline.person_records(spec, tables, REFERENCE)


def pair_level(comparison: Comparison, left: dict, right: dict) -> str | int:
    """The label of the level one comparison gives a pair of single records (-1 when missing)."""
    built = records(a=table(left, right))
    level = int(comparison.compute(PairView(built, np.array([0]), np.array([1])))[0])
    return level if level < 0 else comparison.labels[level]


def flat_model(spec: LinkageSpec = PROGRAMME_SPEC, prior: float = 1e-4) -> LinkageModel:
    """Every level: m falling, u rising, so strong levels carry positive weight and weak ones negative."""
    comparisons = []
    for comparison in spec.comparisons:
        k = len(comparison.levels)
        m = np.linspace(0.9, 0.01, k)
        u = np.linspace(0.001, 0.9, k)
        comparisons.append(ComparisonParameters(
            name=comparison.name,
            levels=tuple(LevelParameters(label=label, m=float(m[i] / m.sum()), u=float(u[i] / u.sum()))
                         for i, label in enumerate(comparison.labels)),
            tf_levels=tuple(level.label for level in comparison.levels if level.term_frequency is not None),
        ))
    return LinkageModel(
        prior=prior, comparisons=tuple(comparisons), thresholds=Thresholds(accept=0.99, review=0.6),
        blocking_rules=(), training=TrainingRecord(trained_at="t", code_version={}, data_sha256="x", records=1,
                                                   candidate_pairs=1, random_pairs=1, sessions=()),
    )


DWP_HEADER = "record_id,claim_id,nino,forename,surname,dob,postcode,benefit_type,start_date,end_date"


def dwp_file(tmp_path: Path, rows: list[str], *, header: str = DWP_HEADER, name: str = "dwp_benefits.csv",
             encoding: str = "utf-8", newline: str = "\n", final_newline: bool = True) -> Path:
    """A DWP extract file with these data lines."""
    text = newline.join([header, *rows]) + (newline if final_newline else "")
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def reorder_extracts(source: Path, target: Path, seed: int) -> Path:
    """The same extracts with their data rows in another order, each file in its own format and encoding."""
    from openpyxl import Workbook, load_workbook

    rng = np.random.default_rng(seed)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.suffix == ".xlsx":
            rows = list(load_workbook(path, read_only=True).active.iter_rows(values_only=True))
            order = rng.permutation(len(rows) - 1) + 1
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("Extract")
            for row in [rows[0], *(rows[i] for i in order)]:
                sheet.append(row)
            workbook.save(target / path.name)
            continue
        content = path.read_bytes()
        newline = b"\r\n" if b"\r\n" in content else b"\n"
        header, *lines = content.split(newline)
        rows = [line for line in lines if line]
        blank = len(lines) - len(rows)  # the final newline and any trailing blank lines stay at the end
        shuffled = [rows[i] for i in rng.permutation(len(rows))]
        (target / path.name).write_bytes(newline.join([header, *shuffled]) + newline * blank)
    return target


def deliver_in_parts(extracts: Path, file_name: str, *, repeat_a_row: bool = False) -> tuple[int, int]:
    """The extract `file_name` (a CSV with one line per row) moved into a folder named for its source, as two
    files, each with the header; with `repeat_a_row` the second file repeats the first's first row. Returns the
    number of data rows in each file."""
    path = extracts / file_name
    newline = b"\r\n" if b"\r\n" in path.read_bytes() else b"\n"
    header, *rows = path.read_bytes().rstrip(b"\r\n").split(newline)
    path.unlink()
    folder = extracts / path.stem
    folder.mkdir()
    half = len(rows) // 2
    second = rows[half:] + (rows[:1] if repeat_a_row else [])
    for suffix, part in (("north", rows[:half]), ("south", second)):
        (folder / f"{path.stem}_{suffix}{path.suffix}").write_bytes(newline.join([header, *part]) + newline)
    return half, len(second)
