"""Programme frameworks as versioned YAML: headlines, descriptors, conditions, eligibility.

A framework version is data: a council adds a local version (its own
descriptors under the national headlines) by adding a file, not by changing
code. A version is checked when it is loaded, against its own schema and
against the source contracts, so that a descriptor naming an unknown source, a
field the source does not have, or a code its field cannot hold is refused
with a message that says where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from data.contract import Contract
from data.documents import load_versioned
from data.errors import SfmatchError

FRAMEWORKS_DIR = Path(__file__).parent / "frameworks"
Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "is_true", "is_false", "present", "absent"]
VALUELESS = {"is_true", "is_false", "present", "absent"}
ORDERED = {"lt", "le", "gt", "ge"}


class FrameworkError(SfmatchError):
    """A framework version that cannot be used as written."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ratio(_Strict):
    """The sum of some fields over another field (missed sessions over possible sessions)."""

    of: tuple[str, ...] = Field(min_length=1)
    to: str


class Condition(_Strict):
    """One test on a record: a field, a sum of fields or a ratio, an operator and (usually) a value."""

    field: str | None = None
    sum: tuple[str, ...] | None = None
    ratio: Ratio | None = None
    op: Operator
    value: Any = None

    @model_validator(mode="after")
    def _shape(self) -> Condition:
        given = [name for name in ("field", "sum", "ratio") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'field', 'sum' or 'ratio'")
        if self.op in VALUELESS and self.value is not None:
            raise ValueError(f"operator '{self.op}' takes no value")
        if self.op not in VALUELESS and self.value is None:
            raise ValueError(f"operator '{self.op}' needs a value")
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"operator '{self.op}' needs a list of values")
        if (self.sum is not None or self.ratio is not None) and self.op not in ORDERED | {"eq", "ne"}:
            raise ValueError(f"a sum or ratio can only be compared (lt, le, gt, ge, eq, ne), not '{self.op}'")
        return self

    def fields(self) -> tuple[str, ...]:
        if self.field is not None:
            return (self.field,)
        if self.sum is not None:
            return self.sum
        assert self.ratio is not None
        return (*self.ratio.of, self.ratio.to)


class PeriodRule(_Strict):
    """How a record must fall in the run's period.

    - `event`: its date is within the period;
    - `spell`: its start..end (end empty = ongoing) overlaps the period;
    - `whole_record`: the record describes the period itself (a census return);
    - `current`: the record is the council's current view (case flags, assessment); `date`, if given,
      names the field it dates from (the assessment date), which dates the evidence but does not filter.
    """

    rule: Literal["event", "spell", "whole_record", "current"]
    date: str | None = None
    start: str | None = None
    end: str | None = None

    @model_validator(mode="after")
    def _fields_for_rule(self) -> PeriodRule:
        needed = {"event": {"date"}, "spell": {"start", "end"}, "whole_record": set(), "current": set()}[self.rule]
        optional = {"date"} if self.rule == "current" else set()
        given = {name for name in ("date", "start", "end") if getattr(self, name) is not None}
        if not needed <= given <= needed | optional:
            wanted = ", ".join(sorted(needed)) or ("at most a date" if optional else "no date fields")
            raise ValueError(f"period rule '{self.rule}' takes {wanted}")
        return self

    def fields(self) -> tuple[str, ...]:
        return tuple(f for f in (self.date, self.start, self.end) if f is not None)


class Descriptor(_Strict):
    """What evidences a need.

    `aggregate: per_person` tests a person's records in the period together
    (numbers summed, flags true if any record's is), for sources that split
    one person's period over several rows: a pupil who moved school has a
    census row per school, and their attendance is over all of them.
    """

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    description: str
    source: str
    applies_to: Literal["child", "adult", "any"]
    period: PeriodRule
    conditions: tuple[Condition, ...] = Field(min_length=1)
    aggregate: Literal["record", "per_person"] = "record"


class Headline(_Strict):
    code: str = Field(pattern=r"^[A-Z0-9][A-Z0-9\-]*$")
    name: str
    descriptors: tuple[Descriptor, ...] = Field(min_length=1)


class Eligibility(_Strict):
    rule: Literal["distinct_headlines", "needs"] = "distinct_headlines"
    minimum: int = Field(ge=1)
    requires_dependent_child: bool = True


class DependentChild(_Strict):
    """A child is dependent up to `max_age`, or up to `in_education_max_age` while in full-time education."""

    max_age: int = Field(15, ge=0)
    in_education_max_age: int = Field(18, ge=0)


class Framework(_Strict):
    framework: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    version: int = Field(ge=1)
    title: str
    eligibility: Eligibility
    dependent_child: DependentChild = DependentChild()
    headlines: tuple[Headline, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_reachable(self) -> Framework:
        codes = [h.code for h in self.headlines]
        if len(set(codes)) != len(codes):
            raise ValueError("a headline code appears twice")
        ids = [d.id for h in self.headlines for d in h.descriptors]
        if len(set(ids)) != len(ids):
            raise ValueError("a descriptor id appears twice")
        available = len(codes) if self.eligibility.rule == "distinct_headlines" else len(ids)
        if self.eligibility.minimum > available:
            raise ValueError(f"eligibility needs {self.eligibility.minimum} but the framework has only {available}")
        return self

    @property
    def headline_codes(self) -> tuple[str, ...]:
        return tuple(h.code for h in self.headlines)

    def descriptors(self) -> list[tuple[Headline, Descriptor]]:
        return [(headline, descriptor) for headline in self.headlines for descriptor in headline.descriptors]


@dataclass(frozen=True)
class LoadedFramework:
    framework: Framework
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.framework.framework} v{self.framework.version}"


def check_condition(where: str, condition: Condition, contract: Contract) -> list[str]:
    """What is wrong with a condition on a source, worded with where it is (empty when nothing is)."""
    problems = []
    known = contract.fields
    for name in condition.fields():
        if name not in known:
            problems.append(f"{where}: field '{name}' is not a field of source '{contract.source}' "
                            f"(its fields: {', '.join(known)})")
    if problems:
        return problems
    if condition.field is not None:
        spec = known[condition.field]
        op = condition.op
        if op in ORDERED and spec.type not in ("integer", "date"):
            problems.append(f"{where}: '{op}' needs a number or a date, but '{condition.field}' is {spec.type}")
        if op in ("is_true", "is_false") and spec.type != "flag":
            problems.append(f"{where}: '{op}' needs a Y/N flag, but '{condition.field}' is {spec.type}")
        if op == "contains" and spec.type not in ("string", "name"):
            problems.append(f"{where}: 'contains' needs a text field, but '{condition.field}' is {spec.type}")
        if spec.type == "code" and op in ("eq", "ne", "in", "not_in"):
            values = condition.value if isinstance(condition.value, list) else [condition.value]
            unknown = [str(v) for v in values if v not in (spec.codes or ())]
            if unknown:
                problems.append(f"{where}: {', '.join(unknown)} is not a code of '{condition.field}' "
                                f"({', '.join(spec.codes or ())})")
        if op in ORDERED and spec.type == "integer" and not isinstance(condition.value, (int, float)):
            problems.append(f"{where}: '{condition.field}' is a number, so its value must be a number")
    else:
        for name in condition.fields():
            if known[name].type != "integer":
                problems.append(f"{where}: a sum or ratio needs numbers, but '{name}' is {known[name].type}")
        if not isinstance(condition.value, (int, float)):
            problems.append(f"{where}: a sum or ratio is compared with a number")
    return problems


def check_against_contracts(framework: Framework, contracts: dict[str, Contract]) -> list[str]:
    """Every problem a framework has with the sources it reads, worded with where it is."""
    problems = []
    for headline, descriptor in framework.descriptors():
        where = f"headline {headline.code}, descriptor {descriptor.id}"
        contract = contracts.get(descriptor.source)
        if contract is None:
            problems.append(f"{where}: unknown source '{descriptor.source}' (sources: {', '.join(contracts)})")
            continue
        for name in descriptor.period.fields():
            if name not in contract.fields:
                problems.append(f"{where}, period: field '{name}' is not a field of source '{descriptor.source}'")
            elif contract.fields[name].type != "date":
                problems.append(f"{where}, period: '{name}' is not a date field")
        for number, condition in enumerate(descriptor.conditions, start=1):
            problems.extend(check_condition(f"{where}, condition {number}", condition, contract))
            if descriptor.aggregate == "per_person":
                problems.extend(
                    f"{where}, condition {number}: per_person adds records up, so it needs numbers or flags, "
                    f"but '{name}' is {contract.fields[name].type}"
                    for name in condition.fields()
                    if name in contract.fields and contract.fields[name].type not in ("integer", "flag"))
    return problems


def load_framework(name_or_path: str | Path, contracts: dict[str, Contract],
                   frameworks_dir: Path = FRAMEWORKS_DIR) -> LoadedFramework:
    """Read, validate and check a framework version by name (in `frameworks_dir`) or by path."""
    return LoadedFramework(*load_versioned(name_or_path, frameworks_dir, "framework", Framework, FrameworkError,
                                           lambda framework: check_against_contracts(framework, contracts),
                                           "does not fit the source contracts"))
