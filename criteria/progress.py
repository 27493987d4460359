"""Month to month: which needs appeared, persisted or cleared since the previous run.

Each run keeps a needs history (one row per family and headline ever met):
when the need was first met in its current spell, when it was last met, and,
once it stops being met, since when it has been clear. Comparing with the
previous run's history shows sustained progress: a need clear for six months
or more is a candidate for a claimable outcome.
"""

from __future__ import annotations

import calendar
from datetime import date

import numpy as np
import pandas as pd

HISTORY_COLUMNS = ["family_id", "headline", "first_met", "last_met", "cleared_on"]
CHANGE_COLUMNS = ["family_id", "headline", "change", "first_met", "last_met", "cleared_on", "months_met", "months_clear"]


def months_between(start: pd.Series, end: date) -> pd.Series:
    """Whole months from each start date to `end` (empty where there is no start).

    As calendar months are added: a month from the 31st is the last day of a shorter month, so 31 August to
    28 February is six months, and a need cleared at one month-end run is six months clear at the sixth.
    """
    start = pd.to_datetime(start)
    months = (end.year - start.dt.year) * 12 + (end.month - start.dt.month)
    # `months` later than the start is that day of the end's month, or its last day if the month is shorter.
    last_day = calendar.monthrange(end.year, end.month)[1]
    landed = start.dt.day.clip(upper=last_day)
    return (months - (landed > end.day).astype("Int64")).astype("Int64")


def update_history(met: pd.DataFrame, previous: pd.DataFrame | None, reference_date: date
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The new needs history and this run's changes.

    `met` has one row per (family_id, headline) counted this run.
    """
    today = pd.Timestamp(reference_date)
    now = met[["family_id", "headline"]].drop_duplicates().assign(met_now=True)
    before = previous[HISTORY_COLUMNS].copy() if previous is not None and not previous.empty else \
        pd.DataFrame(columns=HISTORY_COLUMNS)
    for column in ("first_met", "last_met", "cleared_on"):
        before[column] = pd.to_datetime(before[column])
    joined = now.merge(before, on=["family_id", "headline"], how="outer")
    met_now = joined["met_now"].eq(True).to_numpy()
    was_met = (joined["last_met"].notna() & joined["cleared_on"].isna()).to_numpy()

    change = np.select(
        [met_now & was_met, met_now & ~was_met, ~met_now & was_met],
        ["persisted", "appeared", "cleared"], "still clear",
    )
    joined["first_met"] = joined["first_met"].where(met_now & was_met | ~met_now, today)
    joined["last_met"] = joined["last_met"].where(~met_now, today)
    joined["cleared_on"] = joined["cleared_on"].where(~(~met_now & was_met), today).where(~met_now, pd.NaT)
    joined["change"] = change

    history = joined[HISTORY_COLUMNS].sort_values(["family_id", "headline"], kind="stable").reset_index(drop=True)
    changes = joined.assign(
        months_met=months_between(joined["first_met"].where(joined["cleared_on"].isna()), reference_date),
        months_clear=months_between(joined["cleared_on"], reference_date),
    )[CHANGE_COLUMNS].sort_values(["family_id", "headline"], kind="stable").reset_index(drop=True)
    return history, changes


def sustained(changes: pd.DataFrame, months: int = 6) -> pd.DataFrame:
    """Needs clear for at least `months`: the progress a results claim rests on."""
    return changes[(changes["cleared_on"].notna()) & (changes["months_clear"] >= months)]

