"""Needs from one month to the next: appeared, persisted, cleared, and for how long."""

from __future__ import annotations

from datetime import date

import pandas as pd
from dateutil.relativedelta import relativedelta
from hypothesis import given
from hypothesis import strategies as st

from criteria.progress import months_between, sustained, update_history


def met(*pairs):
    return pd.DataFrame(pairs, columns=["family_id", "headline"])


def test_needs_appear_persist_clear_and_stay_clear():
    january, _ = update_history(met(("F1", "EDU"), ("F1", "FIN"), ("F2", "HOU")), None, date(2026, 1, 31))
    february, changes = update_history(met(("F1", "EDU"), ("F2", "DAB")), january, date(2026, 2, 28))
    by = changes.set_index(["family_id", "headline"])
    assert by.loc[("F1", "EDU"), "change"] == "persisted"
    assert by.loc[("F1", "EDU"), "first_met"] == pd.Timestamp("2026-01-31")
    assert by.loc[("F1", "FIN"), "change"] == "cleared"
    assert by.loc[("F1", "FIN"), "cleared_on"] == pd.Timestamp("2026-02-28")
    assert by.loc[("F2", "DAB"), "change"] == "appeared"
    assert by.loc[("F2", "HOU"), "change"] == "cleared"

    august, changes = update_history(met(("F1", "EDU")), february, date(2026, 8, 31))
    by = changes.set_index(["family_id", "headline"])
    assert by.loc[("F1", "FIN"), "change"] == "still clear"
    assert by.loc[("F1", "FIN"), "months_clear"] == 6
    assert by.loc[("F1", "EDU"), "months_met"] == 7
    assert set(sustained(changes)["headline"]) >= {"FIN", "HOU"}


def test_a_need_that_returns_starts_a_new_spell():
    first, _ = update_history(met(("F1", "SAF")), None, date(2026, 1, 31))
    gone, _ = update_history(met(), first, date(2026, 2, 28))
    back, changes = update_history(met(("F1", "SAF")), gone, date(2026, 3, 31))
    row = changes.iloc[0]
    assert row["change"] == "appeared" and row["first_met"] == pd.Timestamp("2026-03-31") and pd.isna(row["cleared_on"])


def test_months_between_counts_whole_months():
    starts = pd.Series(pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-01", None]))
    assert months_between(starts, date(2026, 8, 31)).tolist()[:3] == [7, 6, 5]


def test_month_end_runs_count_full_months():
    """The issue's case: 31 August to 28 February was counted 5, so six month-end runs never made six months."""
    assert months_between(pd.Series(pd.to_datetime(["2025-08-31"])), date(2026, 2, 28)).tolist() == [6]
    assert months_between(pd.Series(pd.to_datetime(["2024-01-31"])), date(2024, 2, 29)).tolist() == [1]
    assert months_between(pd.Series(pd.to_datetime(["2026-01-30"])), date(2026, 2, 28)).tolist() == [1]
    assert months_between(pd.Series(pd.to_datetime(["2026-01-31"])), date(2026, 2, 27)).tolist() == [0]


def test_a_need_cleared_at_a_month_end_run_is_sustained_at_the_sixth_month_end_run():
    history, _ = update_history(met(("F1", "FIN")), None, date(2025, 7, 31))
    month_ends = [date(2025, 8, 31), date(2025, 9, 30), date(2025, 10, 31), date(2025, 11, 30), date(2025, 12, 31),
                  date(2026, 1, 31), date(2026, 2, 28)]
    clear = []
    for run in month_ends:
        history, changes = update_history(met(), history, run)
        clear.append(int(changes["months_clear"].iloc[0]))
    assert clear == [0, 1, 2, 3, 4, 5, 6]
    assert len(sustained(changes)) == 1


days = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31))


@given(days, days)
def test_months_between_is_the_most_calendar_months_that_fit(first, second):
    start, end = min(first, second), max(first, second)
    counted = months_between(pd.Series([pd.Timestamp(start)]), end).iloc[0]
    assert start + relativedelta(months=counted) <= end < start + relativedelta(months=counted + 1)


@given(days, days, days)
def test_months_between_never_falls_as_the_end_moves_on(start, first, second):
    earlier, later = min(first, second), max(first, second)
    if start > earlier:
        return
    series = pd.Series([pd.Timestamp(start)])
    assert months_between(series, earlier).iloc[0] <= months_between(series, later).iloc[0]
