"""The output suite: the Gate section of the submission spec, every one of its checks blocking.

The file is published only if all of these hold: the schema, no empty
pseudonym, the pseudonym format, one row per person, codes in range, and no
value in any column that looks like a NINO, NHS number, UPN, full postcode or
full date. The run's own metadata columns (its code, id, reference date and
framework) are the same on every row and describe the run, not a person; the
reference date is the one full date the file carries, so the identifier scan
looks at every other column.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from expectations.identifiers import identifier_expectation
from expectations.runner import expectation, gx_expectations
from pseudonymise.submission import MATCH_KEYS, SENT_ROLES

RUN_COLUMNS = ["la_code", "run_id", "reference_date", "framework_version"]
PERSON_COLUMNS = ["family_pseudo_id", "person_pseudo_id", "role", "sex", "birth_year_month", "postcode_district"]
PSEUDONYMS = ["family_pseudo_id", "person_pseudo_id"]
HEX64 = r"^[0-9a-f]{64}$"
BLOCKING = "blocking"


def read_cohort(path: Path) -> pd.DataFrame:
    """The staged cohort file as the recipient will read it: text throughout, except the need flags and counts,
    and an empty pseudonym read as a missing one, so that the not-null check is the one that catches it."""
    cohort = pd.read_csv(path, dtype=str, keep_default_na=False)
    pseudonyms = [c for c in PSEUDONYMS if c in cohort]
    cohort[pseudonyms] = cohort[pseudonyms].replace("", pd.NA)
    for column in [c for c in cohort.columns if c.startswith("need_")] + ["needs_count", "eligible"]:
        if column in cohort:
            cohort[column] = pd.to_numeric(cohort[column], errors="coerce")
    return cohort


def cohort_columns(headline_codes: tuple[str, ...]) -> list[str]:
    return [*RUN_COLUMNS, *PERSON_COLUMNS, *(f"need_{c}" for c in headline_codes), "needs_count", "eligible", *MATCH_KEYS]


def cohort_expectations(headline_codes: tuple[str, ...], minimum_needs: int) -> list:
    gxe = gx_expectations()
    columns = cohort_columns(headline_codes)

    def check(kind, name, why, **kwargs):
        return expectation(kind, name, BLOCKING, why, **kwargs)

    checks = [
        check(gxe.ExpectTableColumnsToMatchOrderedList, "schema", "the columns of the spec, in order", column_list=columns),
        # Not in the spec's gate: an empty month is odd, not unsafe, so it warns rather than blocks.
        expectation(gxe.ExpectTableRowCountToBeBetween, "not_empty", "warning",
                    "a month with no eligible family usually means an upstream problem", min_value=1),
        check(gxe.ExpectColumnValuesToBeUnique, "one_row_per_person", "each person appears once",
              column="person_pseudo_id"),
        check(gxe.ExpectColumnValuesToBeInSet, "codes_in_range",
              "role is adult or child, as the spec allows (a member of unknown age is held out)", column="role",
              value_set=list(SENT_ROLES)),
        check(gxe.ExpectColumnValuesToBeInSet, "codes_in_range", "sex is M, F, U or X", column="sex",
              value_set=["M", "F", "U", "X"]),
        check(gxe.ExpectColumnValuesToMatchRegex, "codes_in_range", "birth year and month only",
              column="birth_year_month", regex=r"^(?:\d{4}-(?:0[1-9]|1[0-2]))?$"),
        check(gxe.ExpectColumnValuesToMatchRegex, "codes_in_range", "postcode district (outward code) only",
              column="postcode_district", regex=r"^(?:[A-Z]{1,2}[0-9][A-Z0-9]?)?$"),
        check(gxe.ExpectColumnValuesToBeBetween, "codes_in_range", "needs count within the framework",
              column="needs_count", min_value=minimum_needs, max_value=len(headline_codes) * 10),
        check(gxe.ExpectColumnValuesToBeInSet, "codes_in_range", "only eligible families are sent",
              column="eligible", value_set=[1]),
    ]
    for column in PSEUDONYMS:
        checks.append(check(gxe.ExpectColumnValuesToNotBeNull, "pseudonyms_present", "every row has its pseudonyms",
                            column=column))
        checks.append(check(gxe.ExpectColumnValuesToMatchRegex, "pseudonym_format", "64 hex digits of HMAC-SHA-256",
                            column=column, regex=HEX64))
    for column in MATCH_KEYS:
        checks.append(check(gxe.ExpectColumnValuesToMatchRegex, "pseudonym_format",
                            "64 hex digits, or empty where the input lacked the identifier", column=column,
                            regex=r"^(?:[0-9a-f]{64})?$"))
    for code in headline_codes:
        checks.append(check(gxe.ExpectColumnValuesToBeInSet, "codes_in_range", "need flags are 0 or 1",
                            column=f"need_{code}", value_set=[0, 1]))
    numeric = {f"need_{c}" for c in headline_codes} | {"needs_count", "eligible"}  # already held to 0/1 or a count
    for column in columns:
        if column not in RUN_COLUMNS and column not in numeric:
            checks.append(check(identifier_expectation(), "no_identifiers",
                                "no value looks like a NINO, NHS number, UPN, full postcode or full date",
                                column=column))
    return checks


def aggregate_expectations() -> list:
    gxe = gx_expectations()
    checks = []
    for column in ("eligible", "not_eligible", "all"):
        checks.append(expectation(
            gxe.ExpectColumnValuesToMatchRegex, "disclosure_control", BLOCKING,
            "each count is suppressed ([c]) or a multiple of 5 from 10 up (the ONS 10-5 rule)",
            column=column, regex=r"^(?:\[c\]|[1-9]\d*[05])$",
        ))
    return checks


def quarterly_expectations(headline_codes: tuple[str, ...]) -> list:
    """The quarterly return: its columns, its measures, and every count under the 10-5 rule."""
    gxe = gx_expectations()
    return [
        expectation(gxe.ExpectTableColumnsToMatchOrderedList, "schema", BLOCKING, "the return's columns, in order",
                    column_list=["quarter", "as_at", "measure", "headline", "families"]),
        expectation(gxe.ExpectColumnValuesToBeInSet, "codes_in_range", BLOCKING, "a headline of the framework or ALL",
                    column="headline", value_set=[*headline_codes, "ALL"]),
        expectation(gxe.ExpectColumnValuesToMatchRegex, "disclosure_control", BLOCKING,
                    "each count is suppressed ([c]) or a multiple of 5 from 10 up (the ONS 10-5 rule)",
                    column="families", regex=r"^(?:\[c\]|[1-9]\d*[05])$"),
    ]
