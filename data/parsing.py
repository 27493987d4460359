"""Turn raw strings into typed values, a whole column at a time.

A value that is present but cannot be read is reported as unusable, never
guessed: "07/03/14" is not a date here, because a two-digit year is a guess.
Identifiers are only cleaned at this point; whether they pass their rules is
decided when records are standardised for linkage, and kept for audit either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from data.contract import FieldSpec
from data.identifiers import clean_identifier, normalise_postcode
from data.tables import STRING, arrow_text


SEX_CODES = {
    "M": "M", "MALE": "M", "F": "F", "FEMALE": "F",
    "U": "U", "UNKNOWN": "U", "NOT KNOWN": "U", "NOT SPECIFIED": "U",
    "X": "X", "INDETERMINATE": "X",
}
FLAG_VALUES = {"Y": True, "YES": True, "TRUE": True, "1": True, "N": False, "NO": False, "FALSE": False, "0": False}


@dataclass(frozen=True)
class ParsedField:
    values: pd.Series
    """Typed values; null where the input was empty or unusable."""
    unusable: np.ndarray
    """Present in the input but not readable as this field's type."""
    problem: str
    """How an unusable value fails, in words that quote no value."""


def _describe_formats(formats: tuple[str, ...]) -> str:
    readable = {"%Y": "YYYY", "%m": "MM", "%d": "DD", "%H": "HH", "%M": "MM", "%S": "SS"}
    described = []
    for fmt in formats:
        for directive, shown in readable.items():
            fmt = fmt.replace(directive, shown)
        described.append(fmt)
    return ", ".join(described)


def parse_dates(values: pd.Series, formats: tuple[str, ...]) -> pd.Series:
    """Try each accepted format in turn on the values still unparsed; the first that reads a value wins.

    Each distinct text is parsed once: a column of event dates holds a few hundred distinct days. Arrow's
    dictionary encoding finds the distinct texts and where each occurs in one pass in C++, where a pandas
    index built over the texts and looked up again cost seconds for the millions of dates of a county.
    """
    encoded = pc.dictionary_encode(arrow_text(values))
    distinct = encoded.dictionary.to_numpy(zero_copy_only=False)
    parsed = pd.Series(pd.NaT, index=range(len(distinct)), dtype="datetime64[ns]")
    remaining = np.ones(len(distinct), dtype=bool)
    for fmt in formats:
        if not remaining.any():
            break
        attempt = pd.to_datetime(pd.Series(distinct[remaining], dtype=object), format=fmt, errors="coerce")
        parsed.iloc[np.flatnonzero(remaining)] = attempt.to_numpy()
        remaining &= parsed.isna().to_numpy()
    positions = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    days = np.r_[parsed.dt.normalize().to_numpy(), np.datetime64("NaT", "ns")]  # position -1: no text
    return pd.Series(days[positions], index=values.index, dtype="datetime64[ns]")


MAX_WHOLE_NUMBER = 2**53


def _lookup(values: pd.Series, table: dict[str, object], dtype: str | pd.api.extensions.ExtensionDtype) -> pd.Series:
    return values.str.upper().map(table).astype(dtype)


def parse_field(values: pd.Series, spec: FieldSpec, date_formats: tuple[str, ...]) -> ParsedField:
    """Parse one raw column (strings, null where empty) according to its field spec."""
    present = values.notna().to_numpy()
    kind = spec.type
    problem = ""
    if kind in ("string", "name"):
        parsed = values.str.replace(r"\s+", " ", regex=True) if kind == "name" else values
    elif kind == "date":
        parsed = parse_dates(values, date_formats)
        problem = f"not a date in an accepted format ({_describe_formats(date_formats)})"
    elif kind == "integer":
        numbers = pd.to_numeric(values.astype(object), errors="coerce")
        # Beyond 2**53 a float no longer holds every whole number, and beyond 2**63 Int64 overflows.
        whole = numbers.notna() & (numbers % 1 == 0) & (numbers >= 0) & (numbers <= MAX_WHOLE_NUMBER)
        parsed = numbers.where(whole).astype("Int64")
        problem = f"not a whole number from 0 to {MAX_WHOLE_NUMBER:,}"
    elif kind == "flag":
        parsed = _lookup(values, FLAG_VALUES, "boolean")
        problem = "not a Y/N flag"
    elif kind == "sex":
        parsed = _lookup(values, SEX_CODES, STRING)
        problem = "not a sex code (M, F, U, X, Male, Female)"
    elif kind == "code":
        assert spec.codes is not None
        parsed = _lookup(values, {code.upper(): code for code in spec.codes}, STRING)
        problem = f"not one of the codes {', '.join(spec.codes)}"
    elif kind == "postcode":
        parsed = normalise_postcode(values)
    else:  # nino, nhs_number, upn
        parsed = clean_identifier(values)
    parsed = parsed.astype(parsed.dtype)  # detach from the raw column
    unusable = present & parsed.isna().to_numpy()
    return ParsedField(parsed, unusable, problem or "no usable value")
