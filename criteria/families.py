"""Families from the council's case records, and who in them is a child, an adult or a dependant.

Families come from la_cases (`family_id`); each member is a person of the
linkage. A member's date of birth is the one on their council record, or,
where that is missing, the one their other linked records most often give.
Ages are taken at the run's reference date.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from criteria.framework import DependentChild
from criteria.persons import RecordPersons

ADULT_AGE = 18


def age_at(born: pd.Series, on: date) -> pd.Series:
    """Whole years of age on a date, without a per-row loop."""
    born = pd.to_datetime(born)
    years = on.year - born.dt.year
    before_birthday = (born.dt.month > on.month) | ((born.dt.month == on.month) & (born.dt.day > on.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")


def person_dates_of_birth(tables: dict[str, pd.DataFrame], persons: RecordPersons) -> pd.Series:
    """Each person's date of birth: the council record's if it has one, else the commonest of their others."""
    frames = []
    for source, table in tables.items():
        if "dob" in table:
            frames.append(pd.DataFrame({
                "person_id": persons.persons(source, table["record_id"]), "council": source == "la_cases",
                "dob": pd.to_datetime(table["dob"]).to_numpy(),
            }).dropna(subset=["person_id", "dob"]))
    dobs = pd.concat([f for f in frames if not f.empty] or frames, ignore_index=True)
    counts = dobs.groupby(["person_id", "council", "dob"]).size().rename("n").reset_index()
    counts = counts.sort_values(["person_id", "council", "n", "dob"], ascending=[True, False, False, True], kind="stable")
    return counts.drop_duplicates("person_id").set_index("person_id")["dob"]


def family_members(
    la_cases: pd.DataFrame, persons: RecordPersons, dates_of_birth: pd.Series, in_education: pd.Index,
    reference_date: date, rule: DependentChild,
) -> pd.DataFrame:
    """One row per (family, person): date of birth, age, role (child / adult / unknown), whether a dependent child.

    The date of birth is kept so that everything downstream (the cohort file's
    birth month and match key) uses the same one the role was decided on.
    """
    members = pd.DataFrame({"family_id": la_cases["family_id"].to_numpy(),
                            "person_id": persons.persons("la_cases", la_cases["record_id"])})
    members = members.dropna(subset=["person_id"]).drop_duplicates()
    members["dob"] = members["person_id"].map(dates_of_birth)
    members["age"] = age_at(members["dob"], reference_date)
    members["role"] = np.select(
        [members["age"].isna().to_numpy(), (members["age"] < ADULT_AGE).fillna(False).to_numpy()],
        ["unknown", "child"], "adult",
    )
    age = members["age"]
    studying = members["person_id"].isin(in_education)
    members["dependent"] = (
        ((age >= 0) & (age <= rule.max_age)) | ((age > rule.max_age) & (age <= rule.in_education_max_age) & studying)
    ).fillna(False).astype(bool)
    return members.sort_values(["family_id", "person_id"], kind="stable").reset_index(drop=True)
