"""Per-council data-quality thresholds: YAML, merged over the shipped defaults, validated on load."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class EventDatesPlausible(Check):
    years_back: int = Field(ge=1)
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
    event_dates_plausible: EventDatesPlausible
    identifier_format: IdentifierFormats


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def _read(path: Path) -> dict:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ThresholdsError(f"thresholds {path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError:
        raise ThresholdsError(f"thresholds {path.name}: not valid YAML") from None
    if not isinstance(document, dict):
        raise ThresholdsError(f"thresholds {path.name}: expected a mapping")
    return document


def load_thresholds(sources: list[str], council_file: Path | None = None) -> dict[str, SourceThresholds]:
    """Each source's thresholds: shipped defaults, the shipped per-source values, then the council's file."""
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
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            raise ThresholdsError(f"thresholds for {source} are not valid: {problems}") from None
    return result
