"""The review queue as analysts open it: a CSV, and beside it an Excel workbook made for deciding.

The workbook has the same columns as the CSV, with the header frozen and
filterable, a drop-down on `decision` (link / no link), and each field's
level shaded by its weight: green where the two records agree, red where they
disagree, grey where one has no value. `sfmatch review apply` reads either
file.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from data.workbooks import without_timestamps

DECISIONS = ("link", "no link")
AGREE, DISAGREE, NO_EVIDENCE = "C8E6C9", "FFCDD2", "EEEEEE"
SHEET = "review queue"


def write_review_queue(queue: pd.DataFrame, csv_path: Path, workbook_path: Path) -> tuple[Path, Path]:
    """Write the queue as CSV and as a workbook; returns both paths."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    queue.to_csv(csv_path, index=False)
    write_workbook(queue, workbook_path)
    return csv_path, workbook_path


def _shade(weight: float) -> str:
    if pd.isna(weight) or weight == 0:
        return NO_EVIDENCE
    return AGREE if weight > 0 else DISAGREE


def write_workbook(queue: pd.DataFrame, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    columns = list(queue.columns)
    sheet.append(columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in queue.itertuples(index=False):
        sheet.append([None if pd.isna(value) else value for value in row])
    sheet.freeze_panes = "A2"
    last_row = len(queue) + 1
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last_row}"
    if "decision" in columns:
        letter = get_column_letter(columns.index("decision") + 1)
        choice = DataValidation(type="list", formula1='"' + ",".join(DECISIONS) + '"', allow_blank=True,
                                showErrorMessage=True, errorTitle="decision",
                                error="Choose link or no link, or leave the cell empty.")
        sheet.add_data_validation(choice)
        choice.add(f"{letter}2:{letter}{max(last_row, 2)}")
    fills: dict[str, PatternFill] = {}
    for position, name in enumerate(columns):
        if not name.endswith("_level") or name.removesuffix("_level") + "_weight" not in queue:
            continue
        weights = queue[name.removesuffix("_level") + "_weight"].to_numpy()
        for row, weight in enumerate(weights, start=2):
            colour = _shade(weight)
            fill = fills.setdefault(colour, PatternFill("solid", start_color=colour, end_color=colour))
            sheet.cell(row=row, column=position + 1).fill = fill
    for position, name in enumerate(columns, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = max(10, min(len(name) + 2, 32))
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(without_timestamps(buffer.getvalue()))
    return path


def read_workbook(path: Path) -> pd.DataFrame:
    """A filled-in review workbook's rows, every cell as text ('' for empty), as the CSV would give them."""
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    name = SHEET if SHEET in book.sheet_names else book.sheet_names[0]
    rows = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
    if not rows:
        return pd.DataFrame()
    header = [str(cell).strip() for cell in rows[0]]

    def text(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    body = [[text(cell) for cell in row] + [""] * (len(header) - len(row)) for row in rows[1:]]
    frame = pd.DataFrame(body, columns=header, dtype=str) if body else pd.DataFrame(columns=header, dtype=str)
    return frame.loc[:, [c for c in frame.columns if c]]
