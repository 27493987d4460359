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
from matching.pairs import distinct, pack, unpack

ADULT_AGE = 18


def age_at(born: pd.Series, on: date | pd.Series) -> pd.Series:
    """Whole years of age on a date (or on each row's own date), without a per-row loop."""
    born = pd.to_datetime(born)
    on = pd.to_datetime(on).dt if isinstance(on, pd.Series) else on
    years = on.year - born.dt.year
    before_birthday = (born.dt.month > on.month) | ((born.dt.month == on.month) & (born.dt.day > on.day))
    return (years - before_birthday.astype("Int64")).astype("Int64")


def person_dates_of_birth(tables: dict[str, pd.DataFrame], persons: RecordPersons) -> np.ndarray:
    """Each person's date of birth, by person code: the council record's if it has one, else the commonest of their others.

    Ties go to the earliest date; NaT for a person no record gives one. The
    counting runs on integer codes for the persons and the dates: grouping
    millions of person_id strings costs several times as much.
    """
    person_parts, council_parts, dob_parts = [], [], []
    for source, table in tables.items():
        if "dob" in table:
            person_parts.append(persons.codes(source, table["record_id"]))
            dob_parts.append(pd.to_datetime(table["dob"]).to_numpy())
            council_parts.append(np.full(len(table), source == "la_cases"))
    by_person = np.full(len(persons.names), np.datetime64("NaT"), dtype="datetime64[ns]")
    if not person_parts:
        return by_person
    person_code = np.concatenate(person_parts)
    dob = np.concatenate(dob_parts)
    known = (person_code >= 0) & ~np.isnat(dob)
    # as integers: pandas factorises datetimes one Python object at a time
    dob_code, dob_days = pd.factorize(dob[known].view(np.int64), sort=True)
    dob_values = np.asarray(dob_days, dtype=np.int64).view(dob.dtype)  # in the unit the records gave
    counts = pd.DataFrame({"person": person_code[known], "council": np.concatenate(council_parts)[known],
                           "dob": dob_code}).value_counts(sort=False)
    person, is_council, dob_index = (counts.index.get_level_values(level).to_numpy() for level in range(3))
    # the last key sorts first: person, then council records first, then the commonest, then the earliest date
    order = np.lexsort((dob_index, -counts.to_numpy(), ~is_council, person))
    chosen = order[np.unique(person[order], return_index=True)[1]]
    by_person = by_person.astype(dob_values.dtype)
    by_person[person[chosen]] = dob_values[dob_index[chosen]]
    return by_person


def family_members(
    la_cases: pd.DataFrame, persons: RecordPersons, dates_of_birth: np.ndarray, in_education: pd.Index,
    reference_date: date, rule: DependentChild,
) -> pd.DataFrame:
    """One row per (family, person), in that order: date of birth, age, role (child / adult / unknown), whether a dependent child.

    The date of birth is kept so that everything downstream (the cohort file's
    birth month and match key) uses the same one the role was decided on.
    `dates_of_birth` is by person code (`person_dates_of_birth`).
    """
    codes = persons.codes("la_cases", la_cases["record_id"])
    linked = (codes >= 0) & la_cases["family_id"].notna().to_numpy()
    family_code, family_names = pd.factorize(la_cases["family_id"].astype(object).to_numpy()[linked], sort=True)
    # Each (family, person) once, sorted by family, then person: packed into one key, as `np.unique` over rows
    # costs seconds on a county's families.
    base = len(persons.names) + 1
    pairs = np.stack(unpack(distinct(pack(family_code, codes[linked], base)), base), axis=1)
    members = pd.DataFrame({"family_id": family_names[pairs[:, 0]], "person_id": persons.names[pairs[:, 1]]})
    members["dob"] = dates_of_birth[pairs[:, 1]]
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
    return members
