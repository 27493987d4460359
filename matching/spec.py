"""What a linkage compares, how it blocks and trains, and which rules protect people: one `LinkageSpec`.

The spec is data about the linkage; `matching.pipeline` runs it. Nothing
below the pipeline has a default spec: every function is told which
comparisons, rules and sessions it works with. `PROGRAMME_SPEC` is the spec
for the programme's five sources; the FEBRL benchmark brings its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeVar

from matching.blocking import NAME_BLOCK_SPLIT, BlockingRule
from matching.comparisons import (
    Comparison,
    DateOfBirthComparison,
    ForenameComparison,
    HouseholdComparison,
    IdentifierComparison,
    PostcodeComparison,
    SexComparison,
    SurnameComparison,
    level_column,
)


C = TypeVar("C", bound=Comparison)


@dataclass(frozen=True)
class TrainingSession:
    """EM on the pairs one blocking rule found, leaving out the comparisons that rule forces to agree
    (pairs found on surname and date of birth cannot say how often a person's surname is recorded right)."""

    rule: str


@dataclass(frozen=True)
class IdentifierRules:
    """Which comparisons are identifiers.

    Agreement on an `agreeing` one overrides the household contradictions; a
    difference on a `conflicting` one means two people; a person may hold only
    one value of each `one_per_person` record column (a code, -1 for none).
    """

    agreeing: tuple[str, ...] = ()
    conflicting: tuple[str, ...] = ()
    one_per_person: tuple[str, ...] = ()


@dataclass(frozen=True)
class NameComparisons:
    """The comparisons of forename and surname, for the whole-name frequency and the household rules."""

    forename: str = "forename"
    surname: str = "surname"


@dataclass(frozen=True)
class HouseholdRules:
    """Contradictions for data about families: twins differ only in forename, a father and the son named after
    him only in birth year. Summed independent weights would link them; these pairs are rejected unless an
    identifier agrees."""

    generation_gap_years: int = 12


LinkType = Literal["dedupe_and_link", "link_only"]


@dataclass(frozen=True)
class LinkageSpec:
    comparisons: tuple[Comparison, ...]
    blocking_rules: tuple[BlockingRule, ...]
    training_sessions: tuple[TrainingSession, ...]
    identifiers: IdentifierRules = IdentifierRules()
    names: NameComparisons | None = None
    households: HouseholdRules | None = None
    distinct_within: tuple[tuple[str, str], ...] = ()
    """(source, event column): an event that lists each person once, so its records are different people."""
    link_type: LinkType = "dedupe_and_link"
    """`link_only`: each source holds each person at most once, so records of one source are never linked."""
    second_pass: bool = False
    """Score again with the first pass's persons: each record against its candidate person's records, and
    the household comparison (`matching.first_pass`)."""

    def __post_init__(self) -> None:
        names = [c.name for c in self.comparisons]
        problems = []
        if len(set(names)) != len(names):
            problems.append("a comparison name appears twice")
        rule_names = [r.name for r in self.blocking_rules]
        problems += [f"training session on unknown blocking rule '{s.rule}'"
                     for s in self.training_sessions if s.rule not in rule_names]
        problems += [f"blocking rule '{r.name}' keeps pairs alike in unknown comparison '{name}'"
                     for r in self.blocking_rules for name in r.alike_in if name not in names]
        for name in (*self.identifiers.agreeing, *self.identifiers.conflicting):
            if not isinstance(self.comparisons_by_name.get(name), IdentifierComparison):
                problems.append(f"identifier rule names '{name}', which is not an identifier comparison")
        if self.names is not None:
            if not isinstance(self.comparisons_by_name.get(self.names.forename), ForenameComparison):
                problems.append(f"'{self.names.forename}' is not a forename comparison")
            if not isinstance(self.comparisons_by_name.get(self.names.surname), SurnameComparison):
                problems.append(f"'{self.names.surname}' is not a surname comparison")
        if self.households is not None and self.names is None:
            problems.append("household rules need the name comparisons")
        if any(isinstance(c, HouseholdComparison) for c in self.comparisons) and not self.second_pass:
            problems.append("the household comparison has evidence only in a second pass")
        if problems:
            raise ValueError("linkage spec: " + "; ".join(problems))

    @property
    def comparisons_by_name(self) -> dict[str, Comparison]:
        return {c.name: c for c in self.comparisons}

    def comparison(self, name: str) -> Comparison:
        return self.comparisons_by_name[name]

    @property
    def level_columns(self) -> list[str]:
        return [level_column(c.name) for c in self.comparisons]

    @property
    def household(self) -> HouseholdComparison | None:
        return self.comparison_of(HouseholdComparison)

    def comparison_of(self, kind: type[C]) -> C | None:
        """The spec's comparison of a kind (its date of birth, its postcode), if it has one."""
        return next((c for c in self.comparisons if isinstance(c, kind)), None)

    def fixed_by(self, rule_name: str) -> tuple[str, ...]:
        """The comparisons a blocking rule forces to agree: those reading any column the rule blocks on."""
        rule = next(r for r in self.blocking_rules if r.name == rule_name)
        return tuple(c.name for c in self.comparisons if set(c.agreement_columns) & set(rule.columns))

    @property
    def event_columns(self) -> dict[str, str]:
        return dict(self.distinct_within)


PROGRAMME_SPEC = LinkageSpec(
    comparisons=(
        ForenameComparison(),
        SurnameComparison(),
        DateOfBirthComparison(),
        IdentifierComparison(name="nino", column="nino"),
        IdentifierComparison(name="nhs_number", column="nhs_number"),
        IdentifierComparison(name="upn", column="upn"),
        PostcodeComparison(),
        SexComparison(),
        HouseholdComparison(),
    ),
    blocking_rules=(
        BlockingRule("nino", ("nino_code",), why="the strongest identifier, where valid"),
        BlockingRule("nhs_number", ("nhs_number_code",), why="health and council records"),
        BlockingRule("upn", ("upn_code",), why="pupils across council and school records"),
        BlockingRule("surname+dob", ("sn", "dob_int"), why="identifier missing or mistyped"),
        BlockingRule("forename+dob", ("nick1", "dob_int"),
                     why="surname changed or mistyped; nicknames meet their full name"),
        BlockingRule("dob+postcode", ("dob_int", "postcode_code"), why="both names mistyped"),
        BlockingRule(
            "phonetic surname+birth year+initial", ("sn_phonetic", "birth_year", "initial_code"),
            split_by=("postcode_district_code",), split_above=NAME_BLOCK_SPLIT // 2,
            alike_in=("forename", "surname"),
            why="surname misspelt and date of birth mistyped",
        ),
        BlockingRule("sorted names+birth year", ("name_pair", "birth_year"),
                     why="forename and surname swapped, or the day or month of birth mistyped"),
        BlockingRule(
            "forename+surname", ("nick1", "sn"), split_by=("postcode_district_code",), split_above=NAME_BLOCK_SPLIT,
            only_where_missing="dob_int", why="date of birth missing (police, housing)",
        ),
        BlockingRule(
            "sorted names", ("name_pair",), split_by=("postcode_district_code",), split_above=NAME_BLOCK_SPLIT,
            only_where_missing="dob_int", why="names swapped and date of birth missing",
        ),
        BlockingRule(
            "forename+phonetic surname", ("nick1", "sn_phonetic"), split_by=("postcode_district_code",),
            split_above=NAME_BLOCK_SPLIT, only_where_missing="dob_int", alike_in=("surname",),
            why="surname misspelt, date of birth and postcode missing",
        ),
        BlockingRule("forename+postcode", ("nick1", "postcode_code"), why="surname misspelt, date of birth missing"),
        BlockingRule("surname+postcode", ("sn", "postcode_code"), why="forename misspelt, date of birth missing"),
        BlockingRule(
            "phonetic surname+initial+sector", ("sn_phonetic", "initial_code", "postcode_sector_code"),
            alike_in=("forename", "surname"), why="surname misspelt and date of birth missing",
        ),
        BlockingRule("dob+either name", ("dob_int",), any_of=("fn", "sn"),
                     why="names swapped and one of them changed or mistyped"),
        BlockingRule("forename+surname+birthday", ("nick1", "sn", "birthday"), why="year of birth mistyped"),
        BlockingRule("dob+initial", ("dob_int", "initial_code"), alike_in=("forename",),
                     why="surname changed (a step-parent's) and the forename mistyped or given as an initial"),
    ),
    training_sessions=tuple(TrainingSession(rule) for rule in
                            ("nino", "upn", "surname+dob", "forename+postcode", "dob+postcode")),
    identifiers=IdentifierRules(
        agreeing=("nino", "nhs_number", "upn"), conflicting=("nino", "nhs_number", "upn"),
        one_per_person=("nino_code", "nhs_number_code"),
    ),
    names=NameComparisons(),
    households=HouseholdRules(),
    # A council family, a housing event or a police incident lists each person once: two records of one are
    # two people.
    distinct_within=(("la_cases", "family_id"), ("housing", "event_id"), ("police", "incident_id")),
    second_pass=True,
)
"""The programme's linkage: council case records and the four partner extracts, people in families."""
