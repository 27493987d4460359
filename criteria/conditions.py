"""Descriptor conditions and period rules as boolean masks over a whole source table."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from dateutil.relativedelta import relativedelta

from criteria.framework import Condition, PeriodRule


def reporting_period(reference_date: date, months: int) -> tuple[date, date]:
    """The period a record must fall in to count: the `months` up to and including the reference date."""
    return reference_date - relativedelta(months=months) + relativedelta(days=1), reference_date


def _values(table: pd.DataFrame, condition: Condition) -> pd.Series:
    if condition.field is not None:
        return table[condition.field]
    if condition.sum is not None:
        return table[list(condition.sum)].astype("Float64").sum(axis=1, min_count=len(condition.sum))
    ratio = condition.ratio
    assert ratio is not None
    numerator = table[list(ratio.of)].astype("Float64").sum(axis=1, min_count=1)
    denominator = table[ratio.to].astype("Float64")
    return (numerator / denominator.where(denominator > 0)).astype("Float64")


def _comparable(value: object, values: pd.Series) -> object:
    return pd.Timestamp(value) if pd.api.types.is_datetime64_any_dtype(values) else value


def condition_mask(table: pd.DataFrame, condition: Condition) -> np.ndarray:
    """True where a record meets the condition; a missing value never meets one (except 'absent')."""
    values = _values(table, condition)
    op, value = condition.op, condition.value
    if op == "present":
        result = values.notna()
    elif op == "absent":
        result = values.isna()
    elif op == "is_true":
        result = values == True  # noqa: E712  (nullable booleans: NA stays NA, then False)
    elif op == "is_false":
        result = values == False  # noqa: E712
    elif op == "contains":
        # `;`-separated code lists: the code must be one of the items, not part of one.
        pattern = rf"(?:^|;)\s*{re.escape(str(value))}\s*(?:;|$)"
        result = values.astype("string").str.contains(pattern, case=False, regex=True)
    elif op in ("in", "not_in"):
        result = values.isin(value)
        result = result if op == "in" else ~result & values.notna()
    else:
        target = _comparable(value, values)
        result = {
            "eq": lambda: values == target, "ne": lambda: values != target,
            "lt": lambda: values < target, "le": lambda: values <= target,
            "gt": lambda: values > target, "ge": lambda: values >= target,
        }[op]()
    return pd.Series(result, index=table.index).fillna(False).to_numpy(dtype=bool)


def period_mask(table: pd.DataFrame, period: PeriodRule, start: date, end: date) -> np.ndarray:
    """True where a record falls in the period [start, end], both days included."""
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    day = lambda column: pd.to_datetime(table[column]).dt.normalize()  # noqa: E731  (the period is in whole days)
    if period.rule == "event":
        return day(period.date).between(first, last).fillna(False).to_numpy(dtype=bool)
    if period.rule == "spell":
        began, ended = day(period.start), day(period.end)
        overlaps = (began <= last) & (ended.isna() | (ended >= first))
        return overlaps.fillna(False).to_numpy(dtype=bool)
    return np.ones(len(table), dtype=bool)


SCOPES = {"event": "event in the period", "spell": "spell overlapping the period",
          "whole_record": "return for the period", "current": "council's current view"}
"""How each period rule puts a record in scope, as the evidence says it."""


def period_scope(table: pd.DataFrame, period: PeriodRule, start: date, end: date) -> tuple[pd.Series, pd.Series]:
    """The days each record (already in the period) puts in scope: its first and last, both within the period.

    An event is its own day. A spell is its overlap with the period, so a claim that began years ago is in
    scope from the first day of the period. A return for the period (the school census) covers the whole
    period. The council's current view (its flags and assessment) holds from the date the rule names (the
    assessment), or the period's start if that is earlier, up to the reference date; with no such date, it
    is the view as at the reference date.
    """
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    day = lambda column: pd.to_datetime(table[column]).dt.normalize()  # noqa: E731
    at = lambda value: pd.Series(value, index=table.index, dtype="datetime64[ns]")  # noqa: E731
    if period.rule == "event":
        return day(period.date), day(period.date)
    if period.rule == "spell":
        return day(period.start).clip(lower=first), day(period.end).fillna(last).clip(upper=last)
    if period.rule == "whole_record":
        return at(first), at(last)
    since = day(period.date).clip(lower=first, upper=last).fillna(last) if period.date else at(last)
    return since, at(last)


def descriptor_mask(table: pd.DataFrame, conditions: tuple[Condition, ...], period: PeriodRule,
                    start: date, end: date) -> np.ndarray:
    mask = period_mask(table, period, start, end)
    for condition in conditions:
        mask &= condition_mask(table, condition)
    return mask


def person_totals(table: pd.DataFrame, persons: pd.Series, fields: tuple[str, ...]) -> pd.DataFrame:
    """One row per person over their records: numbers summed, flags true if any record's is.

    A person none of whose records gives a value keeps it missing, so a
    condition on it is not met, as for a single record.
    """
    columns = {}
    for field in dict.fromkeys(fields):
        values = table[field]
        if pd.api.types.is_bool_dtype(values.dtype):
            columns[field] = values.astype("Int8").groupby(persons).max().astype("boolean")
        else:
            columns[field] = values.astype("Float64").groupby(persons).sum(min_count=1)
    return pd.DataFrame(columns)
