"""Source contracts: what each extract must contain and how to read it.

A contract is the only place that knows a source's own headers, encoding and
date formats, so that a council whose extract differs edits YAML, not code.
The field names in a contract are the canonical names every later stage uses.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.documents import read_yaml, validation_problems
from data.errors import ContractError

CONTRACTS_DIR = Path(__file__).parent / "contracts"

FieldType = Literal[
    "string", "name", "date", "integer", "flag", "sex", "code", "nino", "nhs_number", "upn", "postcode"
]
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
DEFAULT_NULL_VALUES = ("", "NULL", "N/A", "#N/A")


def normalise_header(header: str) -> str:
    """Compare headers the way a person reads them: case, spacing and hyphens do not matter."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One canonical field: where it is in the file and what a usable value looks like."""

    header: str | None = Field(None, description="the file's own header; the canonical name when omitted")
    aliases: tuple[str, ...] = Field((), description="other headers accepted for this field")
    type: FieldType = "string"
    required: bool = Field(True, description="the column must be present in the file")
    nullable: bool = Field(True, description="a row may leave the value empty")
    codes: tuple[str, ...] | None = Field(None, description="allowed values, for type 'code'")
    date_formats: tuple[str, ...] | None = Field(None, description="overrides the contract's date formats")

    @model_validator(mode="after")
    def _codes_only_for_code_fields(self) -> FieldSpec:
        if self.type == "code" and not self.codes:
            raise ValueError("a field of type 'code' must list its allowed 'codes'")
        if self.type != "code" and self.codes is not None:
            raise ValueError(f"'codes' is only allowed on fields of type 'code', not '{self.type}'")
        if self.date_formats is not None and self.type != "date":
            raise ValueError(f"'date_formats' is only allowed on fields of type 'date', not '{self.type}'")
        return self


class Contract(_Strict):
    """The contract for one source extract."""

    source: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    version: int = Field(ge=1)
    description: str = ""
    file_patterns: tuple[str, ...] = Field(min_length=1)
    encoding: Literal["auto", "utf-8", "utf-8-sig", "cp1252"] = "auto"
    delimiter: Literal["auto", ",", ";", "\t", "|"] = "auto"
    sheet: str | int = 0
    header_row: int | None = Field(None, ge=1, le=50, description=(
        "the row holding the column headers, counted from 1 as a spreadsheet shows it; rows above it (a title, "
        "an export date) are skipped. Unset: the first line of a CSV, the first non-empty row of a sheet"))
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    null_values: tuple[str, ...] = DEFAULT_NULL_VALUES
    key: str = "record_id"
    fields: dict[str, FieldSpec] = Field(min_length=1)

    @field_validator("date_formats")
    @classmethod
    def _formats_round_trip(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        probe = datetime(2014, 3, 7, 13, 45, 10)
        for fmt in formats:
            if "%" not in fmt:
                raise ValueError(f"date format {fmt!r} has no directives")
            try:
                datetime.strptime(probe.strftime(fmt), fmt)
            except ValueError as exc:
                raise ValueError(f"date format {fmt!r} cannot be parsed back: {exc}") from None
        return formats

    @model_validator(mode="after")
    def _key_and_headers(self) -> Contract:
        if self.key not in self.fields:
            raise ValueError(f"the key '{self.key}' is not one of the fields")
        key_spec = self.fields[self.key]
        if key_spec.nullable or not key_spec.required:
            raise ValueError(f"the key '{self.key}' must be required and not nullable")
        for name in self.fields:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"field name '{name}' must be lower case letters, digits and underscores")
        seen: dict[str, str] = {}
        for name in self.fields:
            for header in self.headers_for(name):
                if header in seen and seen[header] != name:
                    raise ValueError(f"header '{header}' is mapped to both '{seen[header]}' and '{name}'")
                seen[header] = name
        return self

    def headers_for(self, name: str) -> tuple[str, ...]:
        """The normalised headers that may carry a field in the file."""
        spec = self.fields[name]
        return tuple(dict.fromkeys(normalise_header(h) for h in (spec.header or name, *spec.aliases)))

    def formats_for(self, name: str) -> tuple[str, ...]:
        return self.fields[name].date_formats or self.date_formats

    def matches(self, file_name: str) -> bool:
        lowered = file_name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.file_patterns)


def load_contract(path: Path) -> Contract:
    """Read and validate one contract file, with an error that says what to fix."""
    document = read_yaml(path, "contract", ContractError)
    if not isinstance(document, dict):
        raise ContractError(f"contract {path.name}: expected a mapping at the top level")
    try:
        contract = Contract.model_validate(document)
    except ValidationError as exc:
        raise ContractError("\n".join([f"contract {path.name} is not valid:",
                                       *(f"  - {p}" for p in validation_problems(exc))])) from None
    if contract.source != path.stem:
        raise ContractError(f"contract {path.name}: 'source' is '{contract.source}' but the file is named for '{path.stem}'")
    return contract


def load_contracts(directory: Path = CONTRACTS_DIR, sources: list[str] | None = None) -> dict[str, Contract]:
    """Every contract in a folder, or the named ones, keyed by source."""
    paths = sorted(directory.glob("*.yaml"))
    available = {p.stem: p for p in paths}
    if not available:
        raise ContractError(f"no contracts (*.yaml) in {directory}")
    wanted = sources if sources is not None else list(available)
    unknown = [s for s in wanted if s not in available]
    if unknown:
        raise ContractError(
            f"no contract for source(s) {', '.join(unknown)} in {directory}; known: {', '.join(available)}"
        )
    return {source: load_contract(available[source]) for source in wanted}
