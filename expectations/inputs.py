"""The input suites: what each ingested extract must look like before anything is linked.

Built from the source's contract (its columns, key, codes and dates) and the
council's thresholds, so that a contract change and its checks cannot drift
apart. Checks run on the ingested, typed table.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from dateutil.relativedelta import relativedelta

from data.contract import Contract
from data.identifiers import NHS_NUMBER_SHAPE, NINO_BLOCKED_PREFIXES, NINO_SHAPE, POSTCODE_PATTERN, UPN_SHAPE
from data.ingest import LINEAGE_COLUMNS
from expectations.runner import expectation, gx_expectations
from expectations.thresholds import SourceThresholds

# The shapes the standardiser uses, so the gate and the linkage agree on what a well-formed value is.
IDENTIFIER_FORMATS = {
    "nino": rf"^(?!{'|'.join(sorted(NINO_BLOCKED_PREFIXES))}){NINO_SHAPE.pattern}$",
    "nhs_number": rf"^{NHS_NUMBER_SHAPE.pattern}$",
    "upn": rf"^{UPN_SHAPE.pattern}$",
    "postcode": rf"^{POSTCODE_PATTERN.pattern}$",
}
SEX_CODES = ["M", "F", "U", "X"]
LINKAGE_TYPES = frozenset({"nino", "nhs_number", "upn"})
CODE_TYPES = frozenset({"code", "sex"})
FREE_TEXT_TYPES = frozenset({"string", "name"})


def _day(value: date) -> datetime:
    """Dates as midnight datetimes: the ingested date columns are datetime64, and GX compares like with like."""
    return datetime(value.year, value.month, value.day)


def input_expectations(contract: Contract, thresholds: SourceThresholds, reference_date: date,
                       previous_rows: int | None) -> list:
    gxe = gx_expectations()
    t = thresholds
    checks = []
    checks.append(expectation(gxe.ExpectTableColumnsToMatchSet, "columns_present", t.columns_present.severity,
                              "every contract field and lineage column is in the ingested table, and nothing else",
                              column_set=["source", *contract.fields, *LINEAGE_COLUMNS[1:]], exact_match=True))
    checks.append(expectation(gxe.ExpectColumnValuesToBeUnique, "key_unique", t.key_unique.severity,
                              "each row has its own record_id", column=contract.key))
    for name, spec in contract.fields.items():
        if not spec.nullable:
            checks.append(expectation(gxe.ExpectColumnValuesToNotBeNull, "required_values", t.required_values.severity,
                                      "a required field is present on every row", column=name))
        if spec.type == "code":
            checks.append(expectation(gxe.ExpectColumnValuesToBeInSet, "codes_in_set", t.codes_in_set.severity,
                                      "codes are those the contract allows", column=name, value_set=list(spec.codes or ())))
        if spec.type == "sex":
            checks.append(expectation(gxe.ExpectColumnValuesToBeInSet, "codes_in_set", t.codes_in_set.severity,
                                      "sex is M, F, U or X", column=name, value_set=SEX_CODES))
        if spec.type in IDENTIFIER_FORMATS:
            rate = getattr(t.identifier_format, spec.type)
            checks.append(expectation(gxe.ExpectColumnValuesToMatchRegex, "identifier_format", rate.severity,
                                      f"at least {rate.mostly:.0%} of present {spec.type} values have the "
                                      f"{spec.type} shape", column=name, regex=IDENTIFIER_FORMATS[spec.type],
                                      mostly=rate.mostly, counted=f"present {spec.type} values malformed"))
        if spec.type == "date" and name == "dob":
            plausible = t.dob_plausible
            tiers = [(plausible.severity, plausible.mostly)]
            if plausible.blocking_mostly is not None and plausible.severity != "blocking":
                tiers.append(("blocking", plausible.blocking_mostly))
            for severity, mostly in tiers:
                checks.append(expectation(gxe.ExpectColumnValuesToBeBetween, "dob_plausible", severity,
                                          f"at least {mostly:.1%} of dates of birth lie between the earliest plausible "
                                          "date and the reference date", column=name,
                                          min_value=_day(plausible.earliest), max_value=_day(reference_date),
                                          mostly=mostly, counted="present dates of birth implausible"))
        elif spec.type == "date":
            checks.append(expectation(gxe.ExpectColumnValuesToBeBetween, "dates_not_future",
                                      t.dates_not_future.severity, "dates are not after the reference date",
                                      column=name, max_value=_day(reference_date), mostly=t.dates_not_future.mostly))
    recent = t.event_dates_recent
    for name in recent.fields:
        earliest = reference_date - relativedelta(years=recent.years_back)
        checks.append(expectation(gxe.ExpectColumnValuesToBeBetween, "event_dates_recent", recent.severity,
                                  f"event dates are no older than {recent.years_back} years", column=name,
                                  min_value=_day(earliest), mostly=recent.mostly))
    change = t.row_count_change
    # Both bounds exclude the limit itself: a fall of exactly the allowed share is already too much.
    low, high = (1, None) if previous_rows is None else (
        max(1, math.floor(previous_rows * (1 - change.max_drop)) + 1),
        max(1, math.ceil(previous_rows * (1 + change.max_rise)) - 1))
    why = ("the extract is not empty" if previous_rows is None else
           f"the extract is not empty, and its rows ({low:,} to {high:,} allowed) have not fallen by "
           f"{change.max_drop:.0%} or more, nor risen by {change.max_rise:.0%} or more, since last month's {previous_rows:,}")
    checks.append(expectation(gxe.ExpectTableRowCountToBeBetween, "row_count_change",
                              "blocking" if previous_rows is None else change.severity, why,
                              counted="" if previous_rows is None else
                              f"rows; last month {previous_rows:,}, {low:,} to {high:,} allowed",
                              min_value=low, max_value=high))
    return checks


def ingest_expectations(contract: Contract, thresholds: SourceThresholds) -> list:
    """The suite on what ingest set aside or could not read (`IngestResult.readable`), per row read.

    A value ingest could not read is null in the typed table and a row it set aside is absent, so the
    typed suite cannot see either: a partner's new date format or code list would pass it."""
    gxe = gx_expectations()
    aside = thresholds.rows_set_aside
    checks = [expectation(gxe.ExpectColumnValuesToBeInSet, "rows_set_aside", aside.severity,
                          f"at most {aside.max_rate:.0%} of the rows read are set aside at ingest "
                          f"(quarantine/{contract.source}.rows.csv gives each one's reason)",
                          column="kept", value_set=[True], mostly=1 - aside.max_rate, counted="rows read set aside")]
    for name, spec in contract.fields.items():
        if spec.type in FREE_TEXT_TYPES:
            continue
        kind = ("linkage" if spec.type in LINKAGE_TYPES or name == "dob"
                else "codes" if spec.type in CODE_TYPES else "other")
        rate = getattr(thresholds.unreadable_values, kind)
        checks.append(expectation(gxe.ExpectColumnValuesToBeInSet, "unreadable_values", rate.severity,
                                  f"at most {rate.max_rate:.0%} of the rows read have a {name} ingest could not read "
                                  f"(quarantine/{contract.source}.fields.csv and .rows.csv list them)",
                                  column=name, value_set=[True], mostly=1 - rate.max_rate,
                                  counted=f"rows read with {name} unreadable"))
    return checks
