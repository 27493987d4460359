"""The month's cohort package, built from the assessment: who is sent, as what, and the aggregates.

People who opted out are found through the linkage and left out; their
families are reassessed without them, so that nothing about them shapes what
is sent. The cohort rows, the pseudonym crosswalk (internal) and the
disclosure-controlled aggregates come from the same reassessed families.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from criteria.assess import reassess_without
from criteria.framework import Framework
from criteria.persons import RecordPersons
from data.contract import Contract
from data.tables import arrow_text, read_parquet, text_isin, write_parquet
from pseudonymise.aggregates import disclosure_controlled, family_counts
from pseudonymise.optouts import OPT_OUT_FIELDS, OptOutRegister, OptOutStats, match_opt_outs
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise import submission
from pseudonymise.submission import RunContext, person_attributes

COHORT_FILES = ("cohort.csv", "cohort.parquet")
AGGREGATE_FILES = ("aggregates.csv",)
"""What the submission folder stages for encryption, one package each: `cohort/` (pseudonymised personal data,
for the evaluation under the data-sharing agreement) and `aggregates/` (the disclosure-controlled return). They
are never in one package: counts from the rows would undo the aggregates' suppression."""
OPTED_OUT = "opted_out_persons.parquet"


def recorded_sexes(ingested_dir: Path, contracts: dict[str, Contract], sources: Sequence[str]) -> pd.DataFrame:
    """The recorded M/F/U/X sex of every record of the sources that have one: source, record_id, sex."""
    return pd.concat([
        read_parquet(ingested_dir / f"{source}.parquet", columns=["record_id", "sex"]).assign(source=source)
        for source in sources if "sex" in contracts[source].fields
    ], ignore_index=True)


def cohort_people(records: pd.DataFrame, linked: pd.DataFrame, sexes: pd.DataFrame, members: pd.DataFrame,
                  persons: pd.Series) -> pd.DataFrame:
    """The attributes of some people (those sent), as the cohort file takes them.

    Key rotation rebuilds its match keys from this too, so its mapping covers
    exactly the values that were sent.
    """
    member_dob = members.drop_duplicates("person_id").set_index("person_id")["dob"]
    return person_attributes(records, linked, sexes, member_dob, persons)


def members_rows(records: pd.DataFrame, linked: pd.DataFrame, members: pd.DataFrame) -> np.ndarray:
    """Which linkage records are the families' members': the only people who can be sent, or shape what is sent.

    Opt-outs are matched on keyed hashes of every identifier of these records; hashing the partner records of
    everyone else (over half the records in a county) would only find people the cohort never holds.
    """
    wanted_ids = members["person_id"].astype(str).unique()
    if _same_records(records, linked):  # as the linkage writes them: row for row, nothing to look up
        return text_isin(linked["person_id"], wanted_ids)
    persons = RecordPersons(linked)
    wanted = pd.Index(persons.names).get_indexer(wanted_ids)  # codes, not text
    keep = np.zeros(len(records), dtype=bool)
    sources = records["source"].astype(str).to_numpy()
    for source in pd.unique(sources):
        rows = sources == source
        keep[rows] = np.isin(persons.codes(source, records.loc[rows, "record_id"]), wanted)
    return keep


def _same_records(records: pd.DataFrame, linked: pd.DataFrame) -> bool:
    if len(records) != len(linked):
        return False
    return all(arrow_text(records[column]).equals(arrow_text(linked[column])) for column in ("source", "record_id"))


@dataclass(frozen=True)
class CohortInputs:
    framework: Framework
    families: pd.DataFrame
    members: pd.DataFrame
    records: pd.DataFrame
    """The standardised linkage records (valid identifiers only)."""
    linked: pd.DataFrame
    sexes: pd.DataFrame
    evidence: Callable[[], pd.DataFrame]
    """The assessment's evidence (family_id, headline, descriptor, person_id, status), read only if someone opted out."""
    opt_outs: OptOutRegister | None = None


@dataclass(frozen=True)
class CohortPackage:
    cohort: pd.DataFrame
    crosswalk: pd.DataFrame
    aggregates: pd.DataFrame
    """Families by headline and eligibility under the 10-5 rule: what may leave the council."""
    aggregates_internal: pd.DataFrame
    counts: dict[str, int]
    opt_outs: OptOutStats | None
    opted_out: frozenset[str] = frozenset()
    """The persons left out because they opted out: a publication withdraws what was sent of them before."""

    def opt_out_counts(self) -> dict[str, int] | None:
        if self.opt_outs is None:
            return None
        return {**dataclasses.asdict(self.opt_outs), "unmatched": self.opt_outs.unmatched}


def build_cohort_package(inputs: CohortInputs, council: Pseudonymiser, evaluation: Pseudonymiser,
                         context: RunContext) -> CohortPackage:
    families = inputs.families
    opted_out: set[str] = set()
    opt_out_stats = None
    families_left_out = 0
    if inputs.opt_outs is not None:
        theirs = inputs.records.loc[members_rows(inputs.records, inputs.linked, inputs.members), OPT_OUT_FIELDS]
        opted_out, opt_out_stats = match_opt_outs(inputs.opt_outs, theirs, inputs.linked)
    if opted_out:
        before = set(families.loc[families["eligible"].astype(bool), "family_id"])
        families = reassess_without(inputs.framework, inputs.members, inputs.evidence(), opted_out)
        families_left_out = len(before - set(families.loc[families["eligible"].astype(bool), "family_id"]))
    eligible = families.loc[families["eligible"].astype(bool), "family_id"]
    members = inputs.members
    people = cohort_people(inputs.records, inputs.linked, inputs.sexes, members,
                           members.loc[members["family_id"].isin(eligible), "person_id"])
    cohort, crosswalk, counts = submission.build_submission(
        inputs.framework, families, members, people, opted_out, council, evaluation, context,
    )
    counts["families_no_longer_eligible_without_opt_outs"] = families_left_out
    table = family_counts(inputs.framework, families)
    return CohortPackage(cohort, crosswalk, disclosure_controlled(table), table, counts, opt_out_stats,
                         frozenset(opted_out))


def write_cohort_package(package: CohortPackage, staging: Path, internal: Path) -> None:
    """The files to send in `staging/cohort/` and `staging/aggregates/`; never sent, in `internal`: the
    unsuppressed aggregates, the crosswalk and the persons who opted out."""
    cohort, aggregates = staging / "cohort", staging / "aggregates"
    for folder in (cohort, aggregates, internal):
        folder.mkdir(parents=True, exist_ok=True)
    package.cohort.to_csv(cohort / "cohort.csv", index=False, encoding="utf-8")
    write_parquet(package.cohort, cohort / "cohort.parquet")
    package.aggregates.to_csv(aggregates / "aggregates.csv")
    package.aggregates_internal.to_csv(internal / "aggregates_internal.csv")
    write_parquet(package.crosswalk, internal / "submission_crosswalk.parquet")
    write_parquet(pd.DataFrame({"person_id": sorted(package.opted_out)}, dtype="string"), internal / OPTED_OUT)
