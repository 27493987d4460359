"""The input suites: what each ingested extract must look like before anything is linked.

Built from the source's contract (its columns, key, codes and dates) and the
council's thresholds, so that a contract change and its checks cannot drift
apart. Checks run on the ingested, typed table.
"""

from __future__ import annotations

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
                                      f"present {spec.type} values have the {spec.type} shape", column=name,
                                      regex=IDENTIFIER_FORMATS[spec.type], mostly=rate.mostly))
        if spec.type == "date" and name == "dob":
            checks.append(expectation(gxe.ExpectColumnValuesToBeBetween, "dob_plausible", t.dob_plausible.severity,
                                      "dates of birth lie between the earliest plausible date and the reference date",
                                      column=name, min_value=_day(t.dob_plausible.earliest), max_value=_day(reference_date),
                                      mostly=t.dob_plausible.mostly))
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
    low, high = (1, None) if previous_rows is None else (
        max(1, int(previous_rows * (1 - change.max_drop))), int(previous_rows * (1 + change.max_rise)) + 1)
    checks.append(expectation(gxe.ExpectTableRowCountToBeBetween, "row_count_change",
                              "blocking" if previous_rows is None else change.severity,
                              "the extract is not empty and its size is near last month's", min_value=low, max_value=high))
    return checks
