"""Outcome plans as versioned YAML: what a positive outcome is for each headline, and how long it must last.

A council sets its own outcome plan, so a plan is data, like the eligibility
frameworks: per headline, one or more tests on a source, all of which must hold
for the outcome to be met, and a sustain rule for the whole plan. A plan is
checked when it is loaded, against its own schema, against the framework whose
headlines it covers (every headline needs an outcome, or a family with that need
at entry could never be claimed) and against the source contracts, so that a test
naming an unknown source or a field the source does not have is refused with a
message that says where.

The tests:
- `no_record`: no record of the source meeting the conditions for a family member since the outcome was met
  (no offence, no homelessness event, no out-of-work benefit). The outcome is met from the day after the last
  such record (or the end of the last such spell), or from the day the family was taken on if that is later.
- `every_record`: every family member with records in the latest return meets the conditions (attendance at
  90 % or better, no suspension); met over the period the return covers.
- `cleared`: none of the family's council records has an open flag (child in need, child protection), met
  since the latest date a plan ended.
- `recorded`: the keyworker recorded the outcome as met, with a date (`CODE:date` items in a text field).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from criteria.framework import Condition, Framework, check_condition
from data.contract import Contract
from data.documents import load_versioned
from data.errors import SfmatchError

PLANS_DIR = Path(__file__).parent / "outcomes"


class OutcomePlanError(SfmatchError):
    """An outcome plan that cannot be used as written."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Spell(_Strict):
    start: str
    end: str


class NoRecord(_Strict):
    rule: Literal["no_record"]
    source: str
    applies_to: Literal["child", "adult", "any"] = "any"
    date: str | None = Field(None, description="an event's date field")
    spell: Spell | None = Field(None, description="a spell's start and end fields (end empty = still going)")
    conditions: tuple[Condition, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _dated(self) -> NoRecord:
        if (self.date is None) == (self.spell is None):
            raise ValueError("a no_record test gives either 'date' (events) or 'spell' (start and end)")
        return self

    def date_fields(self) -> tuple[str, ...]:
        return (self.date,) if self.date else (self.spell.start, self.spell.end)  # type: ignore[union-attr]


class EveryRecord(_Strict):
    rule: Literal["every_record"]
    source: str
    applies_to: Literal["child", "adult", "any"] = "any"
    aggregate: Literal["record", "per_person"] = "per_person"
    conditions: tuple[Condition, ...] = Field(min_length=1)

    def date_fields(self) -> tuple[str, ...]:
        return ()


class Cleared(_Strict):
    rule: Literal["cleared"]
    source: Literal["la_cases"] = "la_cases"
    applies_to: Literal["child", "adult", "any"] = "child"
    open: tuple[str, ...] = Field(min_length=1, description="Y/N flags: any true means still open")
    cleared_on: str = Field(description="the date field a plan ended on")

    def date_fields(self) -> tuple[str, ...]:
        return (self.cleared_on,)


class Recorded(_Strict):
    rule: Literal["recorded"]
    source: Literal["la_cases"] = "la_cases"
    field: str = Field(description="a text field of `CODE:date` items")

    def date_fields(self) -> tuple[str, ...]:
        return ()


OutcomeTest = Annotated[Union[NoRecord, EveryRecord, Cleared, Recorded], Field(discriminator="rule")]


class HeadlineOutcome(_Strict):
    code: str
    description: str
    tests: tuple[OutcomeTest, ...] = Field(min_length=1)


class Sustain(_Strict):
    """How long an outcome must last, and from when: the closure (the 2022 framework) or the outcome itself."""

    months: int = Field(6, ge=1, le=36)
    counted_from: Literal["closure", "outcome"] = "closure"
    close_to_months: int = Field(2, ge=0, description="a need this close to sustained is reported as nearly there")


class OutcomePlan(_Strict):
    plan: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    version: int = Field(ge=1)
    title: str
    framework: str
    sustain: Sustain = Sustain()
    headlines: tuple[HeadlineOutcome, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> OutcomePlan:
        codes = [h.code for h in self.headlines]
        if len(set(codes)) != len(codes):
            raise ValueError("a headline appears twice")
        return self

    def outcome(self, code: str) -> HeadlineOutcome:
        return next(h for h in self.headlines if h.code == code)


@dataclass(frozen=True)
class LoadedPlan:
    plan: OutcomePlan
    path: Path
    sha256: str

    @property
    def label(self) -> str:
        return f"{self.plan.plan} v{self.plan.version}"


def _field_problems(where: str, names: tuple[str, ...], wanted: str, contract: Contract) -> list[str]:
    problems = []
    for name in names:
        spec = contract.fields.get(name)
        if spec is None:
            problems.append(f"{where}: field '{name}' is not a field of source '{contract.source}'")
        elif wanted and spec.type != wanted:
            problems.append(f"{where}: '{name}' must be a {wanted} field, but it is {spec.type}")
    return problems


def check_plan(plan: OutcomePlan, framework: Framework, contracts: dict[str, Contract]) -> list[str]:
    """Every problem a plan has with its framework and the sources it reads, worded with where it is."""
    problems = []
    if plan.framework != framework.framework:
        problems.append(f"the plan is for framework '{plan.framework}', but the run applies '{framework.framework}'")
    known = set(framework.headline_codes)
    for headline in plan.headlines:
        if headline.code not in known:
            problems.append(f"headline {headline.code}: not a headline of {framework.framework} "
                            f"({', '.join(framework.headline_codes)})")
    missing = [code for code in framework.headline_codes if code not in {h.code for h in plan.headlines}]
    if missing:
        problems.append(f"no outcome for headline(s) {', '.join(missing)}: a family with such a need at entry "
                        "could never be claimed")
    for headline in plan.headlines:
        for number, test in enumerate(headline.tests, start=1):
            where = f"headline {headline.code}, test {number} ({test.rule})"
            contract = contracts.get(test.source)
            if contract is None:
                problems.append(f"{where}: unknown source '{test.source}' (sources: {', '.join(contracts)})")
                continue
            problems += _field_problems(where, test.date_fields(), "date", contract)
            if isinstance(test, Cleared):
                problems += _field_problems(where, test.open, "flag", contract)
            if isinstance(test, Recorded):
                problems += _field_problems(where, (test.field,), "string", contract)
            for index, condition in enumerate(getattr(test, "conditions", ()), start=1):
                problems += check_condition(f"{where}, condition {index}", condition, contract)
    return problems


def load_outcome_plan(name_or_path: str | Path, framework: Framework, contracts: dict[str, Contract],
                      plans_dir: Path = PLANS_DIR) -> LoadedPlan:
    """Read, validate and check an outcome plan by name (in `plans_dir`) or by path."""
    return LoadedPlan(*load_versioned(name_or_path, plans_dir, "outcome plan", OutcomePlan, OutcomePlanError,
                                      lambda plan: check_plan(plan, framework, contracts),
                                      "does not fit its framework and the source contracts"))
