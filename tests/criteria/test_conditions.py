"""Descriptor conditions and period rules at their boundaries."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from criteria.conditions import reporting_period, condition_mask, descriptor_mask, period_mask
from criteria.framework import Condition, PeriodRule, load_framework
from data.contract import load_contracts

PERIOD = (date(2025, 10, 1), date(2026, 9, 30))
SF = load_framework("sf-2022", load_contracts()).framework


def descriptor(descriptor_id: str):
    return next(d for _, d in SF.descriptors() if d.id == descriptor_id)


def meets(descriptor_id: str, table: pd.DataFrame) -> list[bool]:
    d = descriptor(descriptor_id)
    return descriptor_mask(table, d.conditions, d.period, *PERIOD).tolist()


def education(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"sessions_possible": [300] * n, "sessions_missed_authorised": [0] * n,
            "sessions_missed_unauthorised": [0] * n, "suspensions": [0] * n, "permanent_exclusion": [False] * n}
    base.update(columns)
    return pd.DataFrame({k: pd.array(v, dtype="boolean" if k == "permanent_exclusion" else "Int64") for k, v in base.items()})


def test_attendance_of_89_9_percent_counts_and_90_percent_does_not():
    # 1000 possible sessions: 101 missed is 89.9% attendance; 100 missed is exactly 90%.
    table = education(sessions_possible=[1000, 1000, 1000, 1000], sessions_missed_authorised=[60, 60, 40, 99],
                      sessions_missed_unauthorised=[41, 39, 60, 0])
    assert meets("EDU-attendance", table) == [True, False, True, False]


def test_attendance_without_possible_sessions_is_not_a_need():
    table = education(sessions_possible=[0, None], sessions_missed_authorised=[5, 5])
    assert meets("EDU-attendance", table) == [False, False]


def test_three_suspensions_count_and_two_do_not():
    assert meets("EDU-suspensions", education(suspensions=[2, 3, 4, None])) == [False, True, True, False]


def test_a_permanent_exclusion_counts():
    assert meets("EDU-exclusion", education(permanent_exclusion=[True, False, None])) == [True, False, False]


def claims(starts, ends, types=None) -> pd.DataFrame:
    return pd.DataFrame({
        "benefit_type": types or ["UC"] * len(starts),
        "start_date": pd.to_datetime(starts), "end_date": pd.to_datetime(ends),
    })


def test_a_claim_that_ended_the_day_before_the_period_does_not_count():
    table = claims(
        ["2024-01-01", "2024-01-01", "2024-01-01", "2026-09-30", "2026-10-01"],
        ["2025-09-30", "2025-10-01", None, None, None],
    )
    assert meets("FIN-out-of-work-benefit", table) == [False, True, True, True, False]


def test_events_count_on_both_ends_of_the_period_and_not_outside():
    police = pd.DataFrame({
        "incident_type": ["asb"] * 4 + ["call_out"],
        "incident_date": pd.to_datetime(["2025-09-30", "2025-10-01 23:59", "2026-09-30 09:00", "2026-10-01", "2026-01-01"], format="ISO8601"),
    })
    assert meets("CRM-asb-offence", police) == [False, True, True, False, False]


@pytest.mark.parametrize(("needs", "expected"), [
    ("HLT", True), ("EYD;HLT", True), ("hlt ; SUB", True), ("HLTX", False), ("XHLT;SUB", False), (None, False),
])
def test_assessed_needs_are_items_of_a_list(needs, expected):
    table = pd.DataFrame({"assessed_needs": pd.array([needs], dtype="string")})
    assert meets("HLT-assessed", table) == [expected]


def test_flags_and_missing_values():
    table = pd.DataFrame({"cin_flag": pd.array([True, False, None], dtype="boolean")})
    assert meets("SAF-child-in-need", table) == [True, False, False]
    assert condition_mask(table, Condition(field="cin_flag", op="absent")).tolist() == [False, False, True]


def test_the_whole_record_and_current_rules_take_every_record():
    table = pd.DataFrame({"x": [1, 2]})
    assert period_mask(table, PeriodRule(rule="current"), *PERIOD).tolist() == [True, True]


def test_the_reporting_period_is_the_twelve_months_up_to_the_reference_date():
    assert reporting_period(date(2026, 9, 30), 12) == (pd.Timestamp("2025-10-01").date(), date(2026, 9, 30))
    assert reporting_period(pd.Timestamp("2024-02-29").date(), 12)[0] == pd.Timestamp("2023-03-01").date()
