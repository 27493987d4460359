"""Per-council data-quality thresholds: YAML, merged over the shipped defaults, validated on load."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from data.contract import Contract
from data.documents import read_yaml, validation_problems
from data.errors import SfmatchError

DEFAULT_THRESHOLDS = Path(__file__).parent / "thresholds.yaml"
Severity = Literal["blocking", "warning"]


class ThresholdsError(SfmatchError):
    """A thresholds file that cannot be used as written."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    severity: Severity


class RowCountChange(Check):
    max_drop: float = Field(ge=0, le=1)
    max_rise: float = Field(ge=0)


class DobPlausible(Check):
    earliest: date
    mostly: float = Field(gt=0, le=1)
    blocking_mostly: float | None = Field(None, gt=0, le=1)
    """Below this share of plausible dates of birth the run stops, whatever `severity` says for a few."""


class Rate(Check):
    max_rate: float = Field(ge=0, le=1)


class UnreadableValues(_Strict):
    """Present values ingest could not read (it nulled them, or set the row aside), by kind of field."""

    linkage: Rate
    """Identifiers and dates of birth: what decides who is linked."""
    codes: Rate
    """Coded fields (sex, event and benefit types): what decides who is counted."""
    other: Rate


class DatesNotFuture(Check):
    mostly: float = Field(gt=0, le=1)


class EventDatesRecent(Check):
    years_back: int = Field(ge=1)
    fields: tuple[str, ...] = ()
    mostly: float = Field(gt=0, le=1)


class FormatRate(Check):
    mostly: float = Field(ge=0, le=1)


class IdentifierFormats(_Strict):
    nino: FormatRate
    nhs_number: FormatRate
    upn: FormatRate
    postcode: FormatRate


class SourceThresholds(_Strict):
    columns_present: Check
    key_unique: Check
    required_values: Check
    codes_in_set: Check
    row_count_change: RowCountChange
    dob_plausible: DobPlausible
    dates_not_future: DatesNotFuture
    event_dates_recent: EventDatesRecent
    identifier_format: IdentifierFormats
    unreadable_values: UnreadableValues
    rows_set_aside: Rate


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _read(path: Path) -> dict:
    document = read_yaml(path, "thresholds", ThresholdsError) or {}
    if not isinstance(document, dict):
        raise ThresholdsError(f"thresholds {path.name}: expected a mapping")
    return document


def load_thresholds(sources: list[str], council_file: Path | None = None,
                    contracts: dict[str, Contract] | None = None) -> dict[str, SourceThresholds]:
    """Each source's thresholds: shipped defaults, the shipped per-source values, then the council's file.

    With `contracts`, the event date fields each source lists are checked to be date fields of it.
    """
    document = _read(DEFAULT_THRESHOLDS)
    if council_file is not None:
        document = _merge(document, _read(council_file))
    unknown = set(document) - {"version", "defaults", "sources"}
    if unknown:
        raise ThresholdsError(f"thresholds: unknown section(s) {', '.join(sorted(unknown))}")
    result = {}
    for source in sources:
        values = _merge(document.get("defaults", {}), (document.get("sources") or {}).get(source, {}))
        try:
            result[source] = SourceThresholds.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(validation_problems(exc, limit=5))
            raise ThresholdsError(f"thresholds for {source} are not valid: {problems}") from None
        contract = (contracts or {}).get(source)
        if contract is not None:
            wrong = [name for name in result[source].event_dates_recent.fields
                     if name not in contract.fields or contract.fields[name].type != "date"]
            if wrong:
                raise ThresholdsError(f"thresholds for {source}: event_dates_recent lists {', '.join(wrong)}, "
                                      f"which {'is' if len(wrong) == 1 else 'are'} not a date field of {source}")
    return result
