"""Needs from one month to the next: appeared, persisted, cleared, and for how long."""

from __future__ import annotations

from datetime import date

import pandas as pd

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
