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


def write_review_queue(queue: pd.DataFrame, csv_path: Path, queue_file: Path) -> tuple[Path, Path]:
    """Write the queue as CSV, and as Parquet for its workbook to be made from (`workbook_from`), which
    takes long enough to be worth a process of its own; returns both paths."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    queue.to_csv(csv_path, index=False)
    queue_file.parent.mkdir(parents=True, exist_ok=True)
    queue.to_parquet(queue_file, index=False)
    return csv_path, queue_file


def workbook_from(queue_file: Path, path: Path) -> Path:
    """The workbook of a queue saved by `write_review_queue`: the same cells as from the queue itself."""
    return write_workbook(pd.read_parquet(queue_file), path)


def _shade(weight: float) -> str:
    if pd.isna(weight) or weight == 0:
        return NO_EVIDENCE
    return AGREE if weight > 0 else DISAGREE


def write_workbook(queue: pd.DataFrame, path: Path) -> Path:
    """Written with xlsxwriter, column by column: a queue of thousands of pairs takes a fraction of a second
    (building it cell by cell in openpyxl took seconds at a county's scale)."""
    import datetime

    import xlsxwriter
    from xlsxwriter.utility import xl_col_to_name

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    workbook.set_properties({"created": datetime.datetime(2026, 1, 1)})
    sheet = workbook.add_worksheet(SHEET)
    columns = list(queue.columns)
    bold = workbook.add_format({"bold": True})
    shades = {colour: workbook.add_format({"bg_color": f"#{colour}", "pattern": 1}) for colour in
              (AGREE, DISAGREE, NO_EVIDENCE)}
    for position, name in enumerate(columns):
        sheet.write_string(0, position, str(name), bold)
        weight_column = name.removesuffix("_level") + "_weight" if name.endswith("_level") else None
        shading = ([shades[_shade(w)] for w in queue[weight_column].to_numpy()]
                   if weight_column is not None and weight_column in queue else None)
        for row, value in enumerate(queue[name].tolist(), start=1):
            cell_format = shading[row - 1] if shading is not None else None
            if value is None or (isinstance(value, float) and value != value):
                if cell_format is not None:
                    sheet.write_blank(row, position, None, cell_format)
            elif isinstance(value, bool):
                sheet.write_boolean(row, position, value, cell_format)
            elif isinstance(value, (int, float)):
                sheet.write_number(row, position, value, cell_format)
            else:
                sheet.write_string(row, position, str(value), cell_format)
        sheet.set_column(position, position, max(10, min(len(name) + 2, 32)))
    sheet.freeze_panes(1, 0)
    last_row = len(queue)
    if columns:
        sheet.autofilter(0, 0, last_row, len(columns) - 1)
    if "decision" in columns:
        letter = xl_col_to_name(columns.index("decision"))
        sheet.data_validation(f"{letter}2:{letter}{max(last_row + 1, 2)}", {
            "validate": "list", "source": list(DECISIONS), "ignore_blank": True, "show_error": True,
            "error_title": "decision", "error_message": "Choose link or no link, or leave the cell empty.",
        })
    workbook.close()
    path.parent.mkdir(parents=True, exist_ok=True)
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


if __name__ == "__main__":  # python -m matching.review_workbook <queue.parquet> <review_queue.xlsx>
    import sys

    workbook_from(Path(sys.argv[1]), Path(sys.argv[2]))
