"""Read an extract file, CSV or XLSX, into a table of raw strings under canonical names.

Only the columns the contract names are read: the rest of a partner's file is
not ours to hold (data minimisation), and is reported by header only.

Row numbers (`source_row`) count the header as row 1, as a spreadsheet shows
them; a record with a line break inside a quoted value counts once, and blank
lines in a CSV are not rows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from python_calamine import CalamineError, CalamineWorkbook

from data.contract import Contract, normalise_header
from data.errors import ExtractError
from data.tables import STRING

_CANDIDATE_DELIMITERS = (",", ";", "\t", "|")


@dataclass(frozen=True)
class MappedColumns:
    """Which file column carries each canonical field."""

    positions: dict[str, int]
    absent_optional: tuple[str, ...]
    unmapped_headers: tuple[str, ...]


@dataclass(frozen=True)
class RawExtract:
    """An extract's rows as strings, before any field is parsed."""

    frame: pd.DataFrame
    """Canonical columns (strings, null where empty) plus `source_row`."""
    malformed: pd.DataFrame
    """Rows that do not fit the header: `source_row`, `reason`, `raw_text`."""
    columns: MappedColumns
    encoding: str | None
    file_name: str
    sha256: str
    size_bytes: int


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _visible_files(directory: Path) -> list[Path]:
    """The files a person put in a folder: not hidden, not an open workbook's lock file."""
    return sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))


def locate_extracts(directory: Path, contracts: dict[str, Contract]) -> dict[str, Path]:
    """Each source's extract in a folder: the one file its contract's patterns pick out, or a folder named after
    the source holding the extract in parts (each council's file of a region, a month delivered weekly), which
    is read as one extract. Every problem is reported at once, before any file is read."""
    if not directory.is_dir():
        raise ExtractError(str(directory), "the extracts folder does not exist")
    files = _visible_files(directory)
    folders = {p.name: p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")}
    located: dict[str, Path] = {}
    problems: list[str] = []
    for source, contract in contracts.items():
        matches = [p for p in files if contract.matches(p.name)]
        folder = folders.get(source)
        if folder is not None and matches:
            problems.append(f"both a file ({matches[0].name}) and a folder of parts ({source}/) for '{source}'; "
                            "leave one")
        elif folder is not None:
            problem = _parts_problem(folder, contract)
            if problem:
                problems.append(problem)
            else:
                located[source] = folder
        elif not matches:
            problems.append(f"no extract for '{source}' (expected a file matching {', '.join(contract.file_patterns)}"
                            f" or a folder {source}/ of such files)")
        elif len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            problems.append(f"more than one extract for '{source}' ({names}); leave exactly one in the folder, or "
                            f"put the parts of one extract in a folder {source}/")
        else:
            located[source] = matches[0]
    if problems:
        raise ExtractError(str(directory), "; ".join(problems))
    return located


def _parts_problem(folder: Path, contract: Contract) -> str | None:
    parts = _visible_files(folder)
    if not parts:
        return f"the folder {folder.name}/ holds no files; put the parts of the {contract.source} extract in it"
    strays = [p.name for p in parts if not contract.matches(p.name)]
    if strays:
        return (f"{folder.name}/ holds {', '.join(strays)}, which do(es) not match the {contract.source} contract's "
                f"file patterns ({', '.join(contract.file_patterns)}); every file in it is read as a part")
    return None


def extract_parts(path: Path) -> list[tuple[Path, str]]:
    """The files of an extract with the name each goes by in lineage and messages: the file itself, or each
    part of a folder as `folder/part`, in name order (the order their rows are kept in)."""
    if path.is_dir():
        return [(part, f"{path.name}/{part.name}") for part in _visible_files(path)]
    return [(path, path.name)]


def parts_digest(part_hashes: list[tuple[str, str]]) -> str:
    """One digest for an extract in parts, from each part's name and content hash: any part added, removed,
    renamed or changed changes it."""
    digest = hashlib.sha256()
    for name, sha256 in part_hashes:
        digest.update(f"{name}\t{sha256}\n".encode())
    return digest.hexdigest()


def extract_sha256(path: Path) -> str:
    """The content hash of an extract: its file's, or its parts' together."""
    if path.is_dir():
        return parts_digest([(name, file_sha256(part)) for part, name in extract_parts(path)])
    return file_sha256(path)


def _line_of(raw: bytes, offset: int) -> int:
    return raw.count(b"\n", 0, offset) + 1


def decode_text(raw: bytes, declared: str, file_name: str) -> tuple[str, str]:
    """Decode strictly: a byte that does not fit is an error, never a silent replacement.

    With `auto`, a BOM means UTF-8, valid UTF-8 is UTF-8, and anything else is
    tried as Windows-1252, the encoding of most legacy case-management exports.
    """
    has_bom = raw.startswith(codecs.BOM_UTF8)
    body = raw[len(codecs.BOM_UTF8):] if has_bom else raw
    if declared == "auto":
        candidates = ["utf-8"] if has_bom else ["utf-8", "cp1252"]
    else:
        candidates = ["utf-8" if declared == "utf-8-sig" else declared]
    failure: UnicodeDecodeError | None = None
    for encoding in candidates:
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError as exc:
            failure = failure or exc
            continue
        return text, ("utf-8-sig" if has_bom else encoding)
    assert failure is not None
    offset = failure.start + (len(codecs.BOM_UTF8) if has_bom else 0)
    tried = " or ".join("UTF-8" if c == "utf-8" else "Windows-1252" if c == "cp1252" else c for c in candidates)
    raise ExtractError(
        file_name,
        f"cannot be read as {tried}: byte 0x{raw[offset]:02X} does not fit (line {_line_of(raw, offset)}); "
        "re-export the file as UTF-8 or declare its encoding in the contract",
    )


HEADER_SEARCH_ROWS = 10
"""How far down a file whose headers do not match the contract to look for them, to say where they are."""


def _header_hint(rows: list[list[str]], contract: Contract, header_at: int) -> str:
    """Where the contract's headers are, when they are not on the row it expects (a title row above them)."""
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if index == header_at:
            continue
        try:
            map_headers([str(cell or "") for cell in row], contract, "")
        except ExtractError:
            continue
        return f"; the headers look to be on row {index + 1}: set header_row: {index + 1} in the {contract.source} contract"
    return ""


def _mapped(headers: list[str], contract: Contract, file_name: str, first_rows: Callable[[], list[list[str]]],
            header_at: int) -> MappedColumns:
    """The headers mapped; if required ones are missing, the error says where the headers seem to be."""
    try:
        return map_headers(headers, contract, file_name)
    except ExtractError as error:
        hint = _header_hint(first_rows(), contract, header_at) if error.problem.startswith("missing required") else ""
        if not hint:
            raise
        raise ExtractError(file_name, error.problem + hint, row=header_at + 1) from None


def map_headers(headers: list[str], contract: Contract, file_name: str) -> MappedColumns:
    """Find each contract field among the file's headers, ignoring case and spacing."""
    normalised = [normalise_header(h) for h in headers]
    positions: dict[str, int] = {}
    missing: list[str] = []
    absent_optional: list[str] = []
    for name, spec in contract.fields.items():
        found = [i for i, header in enumerate(normalised) if header in contract.headers_for(name)]
        if len(found) > 1:
            raise ExtractError(file_name, f"the header for '{name}' appears {len(found)} times", field=name)
        if found:
            positions[name] = found[0]
        elif spec.required:
            missing.append(name if (spec.header or name) == name else f"{name} (header '{spec.header}')")
        else:
            absent_optional.append(name)
    if missing:
        raise ExtractError(file_name, f"missing required column(s): {', '.join(missing)}")
    used = set(positions.values())
    unmapped = tuple(h for i, h in enumerate(headers) if i not in used and h.strip())
    return MappedColumns(positions, tuple(absent_optional), unmapped)


def _detect_delimiter(first_line: str, contract: Contract) -> str:
    """The delimiter that splits the header into the most contract headers.

    The header is the one line whose content is known in advance, which makes
    this more reliable than a general dialect sniffer on messy data rows.
    """
    known = {h for name in contract.fields for h in contract.headers_for(name)}

    def hits(delimiter: str) -> int:
        row = next(csv.reader([first_line], delimiter=delimiter), [])
        return sum(normalise_header(cell) in known for cell in row)

    return max(_CANDIDATE_DELIMITERS, key=hits)


def _null_out(frame: pd.DataFrame, null_values: tuple[str, ...]) -> pd.DataFrame:
    """Stray whitespace trimmed, and empty strings and null markers made null."""
    nulls = {v.upper() for v in null_values}
    for column in frame.columns:
        values = frame[column].astype(STRING).str.strip()
        frame[column] = values.mask(values.str.upper().isin(nulls) | values.isna())
    return frame


def _finish(
    data: dict[str, pd.Series], rows: pd.Series, contract: Contract, columns: MappedColumns,
    malformed: pd.DataFrame, encoding: str | None, file_name: str, raw: bytes,
) -> RawExtract:
    frame = pd.DataFrame(data)
    for name in columns.absent_optional:
        frame[name] = pd.Series(pd.NA, index=frame.index, dtype=STRING)
    frame = _null_out(frame[list(contract.fields)], contract.null_values)
    frame["source_row"] = rows.to_numpy()
    return RawExtract(
        frame.reset_index(drop=True), malformed, columns, encoding,
        file_name=file_name, sha256=hashlib.sha256(raw).hexdigest(), size_bytes=len(raw),
    )


def _read_csv(file_name: str, raw: bytes, contract: Contract) -> RawExtract:
    text, encoding = decode_text(raw, contract.encoding, file_name)
    # Lines above the header (a title, an export date) are dropped; row numbers still count them.
    skipped = (contract.header_row or 1) - 1
    title_end = 0  # found line by line: splitting a county's extract into lines copies the whole of it
    for _ in range(skipped):
        line_end = text.find("\n", title_end)
        if line_end < 0:
            raise ExtractError(file_name, f"has fewer than {skipped + 1} lines; its contract puts the headers on "
                                          f"row {skipped + 1}")
        title_end = line_end + 1
    title, text = text[:title_end], text[title_end:]
    first_line = text.split("\n", 1)[0].rstrip("\r")
    delimiter = contract.delimiter if contract.delimiter != "auto" else _detect_delimiter(first_line, contract)
    headers = next(csv.reader(io.StringIO(text), delimiter=delimiter), [])
    if not any(h.strip() for h in headers):
        raise ExtractError(file_name, "the header row is empty; expected the column headers"
                           + _header_hint(_first_rows(title + text, delimiter), contract, skipped), row=skipped + 1)
    columns = _mapped(headers, contract, file_name, lambda: _first_rows(title + text, delimiter), skipped)

    if encoding == "cp1252" or skipped:
        body = text.encode("utf-8")
    else:
        body = raw[len(codecs.BOM_UTF8):] if encoding == "utf-8-sig" else raw
    # Counted in the UTF-8 bytes (a quote is one byte there, and no other character's bytes include it): many
    # times faster than in the text, which a single character beyond Latin-1 makes two or four bytes wide.
    if body.count(b'"') % 2:
        opened_at = text.rfind('"')
        raise ExtractError(
            file_name,
            "a quoted value is never closed; the file looks truncated or malformed",
            row=text.count("\n", 0, opened_at) + 1 + skipped,
        )

    invalid: list[tuple[int, int, str]] = []

    def keep_invalid(row: pa_csv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    names = [f"c{i}" for i in range(len(headers))]
    wanted = sorted(set(columns.positions.values()))
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(use_threads=False, column_names=names, skip_rows=1, block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=keep_invalid
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={names[i]: pa.string() for i in wanted},
                include_columns=[names[i] for i in wanted],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        # Arrow's message quotes the offending row, which is personal data.
        raise ExtractError(file_name, "is not readable as delimited text") from None

    invalid = [(number + skipped, count, text_) for number, count, text_ in invalid]
    total_rows = table.num_rows + len(invalid)
    if total_rows == 0:
        raise ExtractError(file_name, "has a header but no data rows")
    last_row = total_rows + 1 + skipped
    ends_mid_line = not body.endswith((b"\n", b"\r"))
    if invalid and invalid[-1][0] == last_row and ends_mid_line and invalid[-1][1] < len(headers):
        raise ExtractError(
            file_name,
            f"the last row has {invalid[-1][1]} of {len(headers)} fields and no line ending; "
            "the file looks truncated",
            row=last_row,
        )

    invalid_rows = {number for number, _, _ in invalid}
    all_rows = pd.RangeIndex(2 + skipped, last_row + 1)
    rows = pd.Series(all_rows[~all_rows.isin(invalid_rows)])
    data = {
        name: _as_text(table.column(names[position])) for name, position in columns.positions.items()
    }
    malformed = pd.DataFrame(
        {
            "source_row": [number for number, _, _ in invalid],
            "reason": [f"row has {count} fields; the header has {len(headers)}" for _, count, _ in invalid],
            "raw_text": [text_ for _, _, text_ in invalid],
        }
    )
    return _finish(data, rows, contract, columns, malformed, encoding, file_name, raw)


def _first_rows(text: str, delimiter: str) -> list[list[str]]:
    """The first few rows of a delimited text, for looking for its headers."""
    head = "\n".join(text.split("\n", HEADER_SEARCH_ROWS)[:HEADER_SEARCH_ROWS])
    try:
        return list(csv.reader(io.StringIO(head), delimiter=delimiter))
    except csv.Error:
        return []


def _as_text(column: pa.ChunkedArray) -> pd.Series:
    """An Arrow text column as a pandas string column, without a copy through Python objects."""
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    return pd.Series(pd.arrays.ArrowStringArray(column))


def _cell_text(value: object) -> str | None:
    """Excel cells as the text a CSV export would have held."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") if value.time() != time(0) else value.strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_xlsx(file_name: str, raw: bytes, contract: Contract) -> RawExtract:
    """Read the contract's sheet with calamine, a Rust reader about ten times faster than openpyxl."""
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(raw))
    except CalamineError:
        raise ExtractError(file_name, "cannot be opened as an Excel workbook; it may be truncated or not .xlsx") from None
    names = workbook.sheet_names
    if isinstance(contract.sheet, int):
        if contract.sheet >= len(names):
            raise ExtractError(file_name, f"has no sheet number {contract.sheet + 1}")
        sheet_name = names[contract.sheet]
    elif contract.sheet in names:
        sheet_name = contract.sheet
    else:
        raise ExtractError(file_name, f"has no sheet named '{contract.sheet}'")
    try:
        # Keeping the empty area in front of the data keeps list positions equal to sheet row numbers.
        cells = workbook.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
    except CalamineError:
        raise ExtractError(file_name, "the workbook is damaged or truncated part-way through") from None
    header_at = next((i for i, row in enumerate(cells) if any(str(c).strip() for c in row)), None)
    if header_at is None:
        raise ExtractError(file_name, "the sheet is empty")
    if contract.header_row is not None:
        header_at = contract.header_row - 1
        if header_at >= len(cells):
            raise ExtractError(file_name, f"has fewer than {contract.header_row} rows; its contract puts the headers "
                                          f"on row {contract.header_row}")
    headers = [_cell_text(c) or "" for c in cells[header_at]]
    columns = _mapped(headers, contract, file_name,
                      lambda: [[_cell_text(c) or "" for c in row] for row in cells[:HEADER_SEARCH_ROWS]], header_at)
    grid = pd.DataFrame(cells[header_at + 1:], dtype=object)
    grid.index = pd.RangeIndex(header_at + 2, header_at + 2 + len(grid))
    data = {
        name: (grid[i].map(_cell_text) if i in grid else pd.Series(None, index=grid.index, dtype=object))
        for name, i in columns.positions.items()
    }
    frame = pd.DataFrame(data, index=grid.index)
    # Rows with nothing in any cell are formatting Excel keeps beyond the data, not rows. A row with
    # something only in columns the contract does not use is a row: it reaches quarantine as blank.
    unused = [i for i in grid.columns if i not in set(columns.positions.values())]
    has_content = frame.notna().any(axis=1)
    if unused:
        has_content |= grid[unused].map(_cell_text).notna().any(axis=1)
    frame = frame[has_content.to_numpy()]
    if frame.empty:
        raise ExtractError(file_name, "has a header but no data rows")
    typed = {name: frame[name].astype(STRING) for name in frame.columns}
    malformed = pd.DataFrame({"source_row": pd.Series([], dtype="int64"), "reason": [], "raw_text": []})
    return _finish(typed, pd.Series(frame.index), contract, columns, malformed, None, file_name, raw)


def read_extract(path: Path, contract: Contract, file_name: str | None = None) -> RawExtract:
    """Read one extract file as strings under canonical names, or stop with a clear error.

    `file_name` is how the file is named in lineage and messages: its own name, or `folder/part` for a part of
    an extract delivered as a folder of files. A file-system error (the share dropped, the file is locked)
    propagates as OSError, so the caller can try again; everything about the content is an ExtractError.
    """
    file_name = file_name or path.name
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractError(file_name, "is empty")
    if path.suffix.lower() == ".xlsx":
        return _read_xlsx(file_name, raw, contract)
    if raw.startswith(b"PK\x03\x04"):
        raise ExtractError(file_name, "is an Excel workbook or zip archive but is named as CSV")
    return _read_csv(file_name, raw, contract)
