"""The quarterly progress return: the quarter to the reference date, under the 10-5 rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from criteria.claims import assess_claims, read_register, register_claims
from pseudonymise.aggregates import SUPPRESSED
from pseudonymise.quarterly import disclosure_controlled, progress_counts, quarter_of
from tests.criteria import outcome_scenario as scenario
from tests.criteria.outcome_scenario import FRAMEWORK


@pytest.mark.parametrize(("day", "expected"), [
    (date(2026, 9, 30), ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30))),
    (date(2026, 1, 15), ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31))),
    (date(2025, 12, 31), ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31))),
])
def test_the_quarter_holding_the_reference_date(day, expected):
    assert quarter_of(day) == expected


def test_the_counts_follow_the_families_case_facts(tmp_path):
    built = scenario.build()
    register = tmp_path / "register.parquet"
    register_claims(register, pd.DataFrame({"family_id": ["F9"], "claim_id": ["CLM-202608-F9"]}), "2026-08", "r")
    claims = assess_claims(FRAMEWORK, built.cases, built.status, built.members, set(), read_register(register),
                           "2026-09")
    table = progress_counts(claims.families, built.status.needs, read_register(register), FRAMEWORK,
                            scenario.REFERENCE, "2026-09", 6)
    counts = table.set_index(["measure", "headline"])["families"]
    # Worked with in the quarter: F11 (open) and F5 (re-opened); every other case closed before July.
    assert counts[("families_worked_with", "ALL")] == 2
    assert counts[("families_taken_on", "ALL")] == 0 and counts[("families_closed", "ALL")] == 0
    # Claimed in the quarter: F9 in August, and this period's claims.
    assert counts[("families_claimed", "ALL")] == 1 + (claims.families["claim_status"] == "claimable").sum()
    assert counts[("families_with_need_at_entry", "SAF")] == 1  # F11
    # Sustained in the quarter: six months from a clock that started from 1 January to 30 March. F1's
    # clock (closed 15 February) ran out on 15 August; F9's (closed 1 October 2025) on 1 April.
    assert counts[("families_with_outcome_sustained", "CRM")] == 1  # F1
    assert counts[("families_with_outcome_sustained", "EDU")] == 1  # F10, closed 15 January
    assert counts[("families_all_outcomes_sustained", "ALL")] == 3  # F1, F10 and F13 (F9's ran out in April)
    assert set(table["quarter"]) == {"2026-Q3"} and set(table["as_at"]) == {"2026-09-30"}


def test_disclosure_control_suppresses_below_ten_and_rounds_the_rest():
    table = pd.DataFrame({"quarter": "2026-Q3", "as_at": "2026-09-30", "measure": "m", "headline": "ALL",
                          "families": [0, 9, 10, 12, 13, 1234]})
    assert list(disclosure_controlled(table)["families"]) == [SUPPRESSED, SUPPRESSED, 10, 10, 15, 1235]
