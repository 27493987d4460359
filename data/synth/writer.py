"""Write each extract in the shape such files arrive in, so that the demo exercises the readers.

Column order and names come from the source contracts (the canonical layout);
only the spelling of headers, the encoding, the date format and the file type
vary with the style.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from data.contract import Contract
from data.workbooks import without_timestamps

Style = Literal["varied", "canonical"]


@dataclass(frozen=True)
class FileFormat:
    suffix: Literal["csv", "xlsx"] = "csv"
    encoding: str = "utf-8"
    date_format: str = "%Y-%m-%d"
    datetime_format: str | None = None
    headers: Literal["canonical", "upper", "spaced"] = "canonical"
    mixed_dates: float = 0.0
    """Share of rows whose dates use the other accepted format."""
    trailing_blank_lines: int = 0


VARIED = {
    "la_cases": FileFormat(encoding="utf-8-sig"),
    "dwp_benefits": FileFormat(date_format="%d/%m/%Y", headers="upper"),
    "housing": FileFormat(suffix="xlsx", headers="spaced"),
    "police": FileFormat(
        encoding="cp1252", date_format="%d/%m/%Y", datetime_format="%d/%m/%Y %H:%M", headers="spaced",
        trailing_blank_lines=2,
    ),
    "education": FileFormat(mixed_dates=0.3),
}


def file_format(source: str, style: Style) -> FileFormat:
    return VARIED.get(source, FileFormat()) if style == "varied" else FileFormat()


def _header(name: str, style: str) -> str:
    if style == "upper":
        return name.upper()
    if style == "spaced":
        return name.replace("_", " ").title().replace("Nhs", "NHS").replace("Nino", "NI Number")
    return name


def _fold_for(encoding: str, values: pd.Series) -> pd.Series:
    """What a legacy system does with letters its code page lacks: drop the accent, keep the letter."""
    if encoding != "cp1252":
        return values

    def fold(text: str) -> str:
        try:
            text.encode("cp1252")
            return text
        except UnicodeEncodeError:
            decomposed = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
            stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
            return stripped.encode("cp1252", errors="replace").decode("cp1252")

    unique = pd.Series(values.dropna().unique())
    mapping = dict(zip(unique, unique.map(fold)))
    return values.map(mapping, na_action="ignore")


def _date_text(values: pd.Series, fmt: str, alternative: str, mixed: float, rng: np.random.Generator) -> pd.Series:
    stamps = pd.to_datetime(values)
    text = stamps.dt.strftime(fmt)
    if mixed:
        other = rng.random(len(text)) < mixed
        text = text.where(~other, stamps.dt.strftime(alternative))
    return text.where(stamps.notna(), None)


def render(frame: pd.DataFrame, contract: Contract, fmt: FileFormat, rng: np.random.Generator) -> pd.DataFrame:
    """The extract's columns in contract order, as the text the file will hold."""
    out = pd.DataFrame(index=frame.index)
    for name, spec in contract.fields.items():
        values = frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)
        if spec.type == "date" and fmt.suffix == "csv":
            has_time = name == "incident_date" and fmt.datetime_format
            pattern = fmt.datetime_format if has_time else fmt.date_format
            alternative = "%d/%m/%Y" if pattern == "%Y-%m-%d" else "%Y-%m-%d"
            values = _date_text(values, pattern, alternative, fmt.mixed_dates, rng)
            if name == "dob" and "dob_text_override" in frame:
                override = frame["dob_text_override"]
                values = values.where(override.isna(), override)
        elif spec.type == "integer":
            values = values.astype("Int64").astype(str).replace("<NA>", None)
        elif values.dtype == object:
            values = _fold_for(fmt.encoding, values)
        out[_header(name, fmt.headers)] = values
    return out


def write_extract(frame: pd.DataFrame, contract: Contract, fmt: FileFormat, directory: Path, rng) -> Path:
    rendered = render(frame, contract, fmt, rng)
    path = directory / f"{contract.source}.{fmt.suffix}"
    if fmt.suffix == "xlsx":
        _write_xlsx(rendered, path)
        return path
    text = rendered.to_csv(index=False, lineterminator="\r\n" if fmt.encoding == "cp1252" else "\n")
    text += ("\r\n" if fmt.encoding == "cp1252" else "\n") * fmt.trailing_blank_lines
    path.write_bytes(text.encode(fmt.encoding))
    return path


def _write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Extract")
    sheet.append(list(frame.columns))
    columns = []
    for name in frame.columns:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            columns.append([None if pd.isna(v) else v.to_pydatetime() for v in values])
        else:
            columns.append([None if pd.isna(v) else v for v in values.astype(object)])
    for row in zip(*columns):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    path.write_bytes(without_timestamps(buffer.getvalue()))
