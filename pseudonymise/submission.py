"""The cohort file for the national evaluation: one row per person in an eligible family.

It carries pseudonyms (keyed with the council's key), generalised attributes
(birth year and month, postcode district, sex, role), the family's needs, and
match keys (keyed with the evaluation key) so that the evaluation can link the
cohort to national data without ever seeing an identifier. What it must never
carry is in `../shared/spec/submission.md`, and the tests scan for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from criteria.framework import Framework
from data.identifiers import postcode_district
from data.tables import STRING, text_isin
from pseudonymise.pseudonyms import Pseudonymiser

SOURCE_PRIORITY = {"la_cases": 0, "education": 1, "dwp_benefits": 2, "housing": 3, "police": 4}
MATCH_KEYS = ("mk_nino", "mk_nhs_number", "mk_name_dob")
SENT_ROLES = ("adult", "child")
"""The roles the spec allows. A member with no date of birth anywhere has the role `unknown`: they are held out
of the file (and counted), since their role cannot be stated and their birth month is unknown anyway; their
family's eligibility, decided without counting them as a dependent child, is unchanged."""
RECORD_COLUMNS = ("source", "record_id", "forename", "surname", "dob", "nino", "nhs_number", "postcode")
"""What the cohort reads of the standardised linkage records (opt-outs are matched on some of these too)."""


@dataclass(frozen=True)
class RunContext:
    la_code: str
    run_id: str
    reference_date: str
    framework_version: str


def person_attributes(records: pd.DataFrame, linked: pd.DataFrame, sexes: pd.DataFrame,
                      dates_of_birth: pd.Series | None = None, persons: pd.Series | None = None) -> pd.DataFrame:
    """One row per person, every value taken from records that agree with each other.

    A person's name, date of birth, sex and postcode come from one record: their principal record, the
    council's first, then the other sources, among those that give the date of birth the family assessment
    decided roles on. Their NINO and NHS number come from the first record, in the same order, whose date of
    birth does not contradict that one. So the name-and-birth match key is one record's, never a name from one
    record and a date from another, and a child's row never carries an adult's NINO through a chained link.

    `records` are the standardised linkage records (valid identifiers only); `sexes` gives the recorded
    M/F/U/X sex by source and record_id; `dates_of_birth` (by person_id), where given, are the ones the family
    assessment decided roles on; `persons`, where given, are the only people wanted (those in the cohort).
    """
    link = linked[["source", "record_id", "person_id"]]
    if persons is not None:
        link = link[text_isin(link["person_id"], persons)]
    link = link.astype({"source": str, "record_id": str})
    frame = records[list(RECORD_COLUMNS)]
    frame = frame[text_isin(frame["record_id"], link["record_id"])].astype({"source": str, "record_id": str})
    frame = frame.merge(link, on=["source", "record_id"])
    frame = frame.merge(sexes.astype({"source": str, "record_id": str}), on=["source", "record_id"], how="left")
    frame["priority"] = frame["source"].map(SOURCE_PRIORITY).fillna(len(SOURCE_PRIORITY))
    frame = frame.sort_values(["person_id", "priority", "record_id"], kind="stable").reset_index(drop=True)
    frame["dob"] = pd.to_datetime(frame["dob"])
    chosen = (pd.to_datetime(frame["person_id"].map(dates_of_birth)) if dates_of_birth is not None
              else pd.Series(pd.NaT, index=frame.index))
    agrees = chosen.isna() | (frame["dob"] == chosen)
    principal = frame[agrees].groupby("person_id").head(1)
    without = frame[~text_isin(frame["person_id"], principal["person_id"])].groupby("person_id").head(1)
    people = pd.concat([principal, without]).set_index("person_id").sort_index()
    people = people[["forename", "surname", "dob", "sex", "postcode"]].copy()
    consistent = frame[frame["dob"].isna() | chosen.isna() | (frame["dob"] == chosen)]
    for column in ("nino", "nhs_number"):
        people[column] = consistent.dropna(subset=[column]).groupby("person_id")[column].first().reindex(people.index)
    if dates_of_birth is not None:
        decided = pd.to_datetime(dates_of_birth.reindex(people.index))
        people["dob"] = decided.where(decided.notna(), people["dob"])
    return people


def match_key_inputs(people: pd.DataFrame) -> dict[str, tuple[str, pd.Series]]:
    """Each match-key column (MATCH_KEYS), with the field label its key is made under and the values it is
    made from. The submission and key rotation both take them from here, so a rotation maps exactly the
    keys that were sent."""
    return dict(zip(MATCH_KEYS, (("nino", people["nino"]), ("nhs_number", people["nhs_number"]),
                                 ("surname_initial_dob_sex", name_dob_keys(people)))))


def name_dob_keys(people: pd.DataFrame) -> pd.Series:
    """SURNAME|I|YYYYMMDD|S for the evaluation's own linkage; empty without a surname, forename or birth date."""
    dob = pd.to_datetime(people["dob"]).dt.strftime("%Y%m%d")
    sex = people["sex"].fillna("U").astype(str)
    initial = people["forename"].astype("string").str.slice(0, 1)
    key = people["surname"].astype("string") + "|" + initial + "|" + dob.astype("string") + "|" + sex
    return key.where(people["surname"].notna() & people["forename"].notna() & people["dob"].notna())


def build_submission(
    framework: Framework, families: pd.DataFrame, members: pd.DataFrame, people: pd.DataFrame,
    opted_out: set[str], council: Pseudonymiser, evaluation: Pseudonymiser, context: RunContext,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """The cohort rows, the internal crosswalk (person and family ids to the pseudonyms sent) and counts."""
    eligible = families[families["eligible"].astype(bool)]
    chosen = members[["family_id", "person_id", "role"]].merge(eligible[["family_id", "needs_count"]], on="family_id")
    in_several = int(chosen["person_id"].duplicated(keep=False).groupby(chosen["person_id"]).any().sum())
    # One row per person: a person in two eligible families goes with the one with more needs.
    chosen = chosen.sort_values(["person_id", "needs_count", "family_id"], ascending=[True, False, True], kind="stable")
    chosen = chosen.drop_duplicates("person_id")
    excluded = chosen["person_id"].isin(opted_out)
    role_unknown = ~excluded & ~chosen["role"].isin(SENT_ROLES)
    chosen = chosen[~excluded & ~role_unknown].drop(columns="needs_count")
    rows = chosen.merge(eligible, on="family_id").join(people, on="person_id")

    codes = framework.headline_codes
    cohort = pd.DataFrame({
        "la_code": context.la_code, "run_id": context.run_id, "reference_date": context.reference_date,
        "framework_version": context.framework_version,
        "family_pseudo_id": council.column("family", context.la_code + ":" + rows["family_id"].astype(str)).to_numpy(),
        "person_pseudo_id": council.column("person", rows["person_id"].astype(str)).to_numpy(),
        "role": rows["role"].to_numpy(),
        "sex": rows["sex"].fillna("U").astype(str).to_numpy(),
        "birth_year_month": pd.to_datetime(rows["dob"]).dt.strftime("%Y-%m").fillna("").to_numpy(),
        "postcode_district": postcode_district(rows["postcode"]).fillna("").to_numpy(),
    })
    for code in codes:
        cohort[f"need_{code}"] = rows[f"need_{code}"].astype(np.int8).to_numpy()
    cohort["needs_count"] = rows["needs_count"].astype(int).to_numpy()
    cohort["eligible"] = rows["eligible"].astype(np.int8).to_numpy()
    for column, (label, values) in match_key_inputs(rows).items():
        cohort[column] = pd.Series(evaluation.column(label, values).to_numpy()).astype(STRING).fillna("")
    sent_pseudonyms = cohort[["family_pseudo_id", "person_pseudo_id"]]  # still in the order of `rows`
    cohort = cohort.sort_values(["family_pseudo_id", "person_pseudo_id"], kind="stable").reset_index(drop=True)

    crosswalk = pd.DataFrame({
        "family_id": rows["family_id"].astype(str).to_numpy(), "person_id": rows["person_id"].astype(str).to_numpy(),
        "family_pseudo_id": sent_pseudonyms["family_pseudo_id"].astype(str).to_numpy(),
        "person_pseudo_id": sent_pseudonyms["person_pseudo_id"].astype(str).to_numpy(),
    })
    counts = {
        "rows": len(cohort), "families": int(cohort["family_pseudo_id"].nunique()),
        "persons_in_several_eligible_families": in_several, "persons_left_out_by_opt_out": int(excluded.sum()),
        "persons_held_out_role_unknown": int(role_unknown.sum()),
    }
    return cohort, crosswalk, counts
