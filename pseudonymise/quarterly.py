"""The quarterly progress return: families worked with, eligible, closed, outcomes achieved and claimed.

It covers the quarter holding the run's reference date, up to that date (a run
on a quarter's last day gives the quarter's final figures). Counts are of
families, under the same ONS 10-5 rule as the aggregate return: below 10 is
suppressed, the rest rounded to the nearest 5. The measures are not parts of
one another's totals, so rounding is what protects the differences; no cell is
hidden for a total's sake. The unsuppressed table stays in the council.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from criteria.cases import REOPENED
from criteria.claims import CLAIMABLE
from criteria.framework import Framework
from criteria.outcome_status import MET, SUSTAINED
from pseudonymise.aggregates import SUPPRESSED, THRESHOLD, round_to_five

QUARTERLY_FILES = ("quarterly_return.csv",)
RETURN_COLUMNS = ["quarter", "as_at", "measure", "headline", "families"]
ALL = "ALL"


def quarter_of(reference_date: date) -> tuple[str, date, date]:
    """The quarter's label (2026-Q3), first day and last day."""
    number = (reference_date.month - 1) // 3 + 1
    first = date(reference_date.year, 3 * number - 2, 1)
    last = (pd.Timestamp(first) + pd.offsets.QuarterEnd(0)).date()
    return f"{reference_date.year}-Q{number}", first, last


def progress_counts(families: pd.DataFrame, needs: pd.DataFrame, register: pd.DataFrame, framework: Framework,
                    reference_date: date, period: str, sustain_months: int) -> pd.DataFrame:
    """The return's counts before disclosure control (families as `assess_claims` lists them).

    Families worked with are those taken on and not closed before the quarter began. An outcome is sustained
    in the quarter when its sustain period ended in it (the clock's start plus the plan's months), whenever the
    family was worked with: the families whose outcomes last are mostly closed before the quarter.
    """
    label, first, _ = quarter_of(reference_date)
    start, today = pd.Timestamp(first), pd.Timestamp(reference_date)
    taken = pd.to_datetime(families["taken_on"])
    closed = pd.to_datetime(families["closure_date"])
    reopened = families["stage"] == REOPENED
    worked = (taken <= today) & (closed.isna() | (closed >= start) | reopened)
    sustained_on = pd.to_datetime(needs["clock_from"]) + pd.DateOffset(months=sustain_months)
    per_family = needs.assign(achieved=needs["status"].isin([MET, SUSTAINED]),
                              sustained=(needs["status"] == SUSTAINED) & (sustained_on >= start))
    achieved = per_family.groupby("family_id")["achieved"].all()
    # every need sustained, the last of them in the quarter
    all_sustained = (needs["status"] == SUSTAINED).groupby(needs["family_id"]).all()
    last_sustained = sustained_on.groupby(needs["family_id"]).max()
    sustained = all_sustained & (last_sustained >= start)
    family = families["family_id"]
    months = {str(p.to_period("M")) for p in pd.date_range(start, today, freq="MS")} - {period}
    claimed_before = register["period"].isin(months).sum()
    rows = [
        ("families_worked_with", ALL, worked.sum()),
        ("families_taken_on", ALL, ((taken >= start) & (taken <= today)).sum()),
        ("families_eligible_at_entry", ALL, (worked & families["eligible_at_entry"].astype(bool)).sum()),
        ("families_closed", ALL, ((closed >= start) & (closed <= today) & ~reopened).sum()),
        ("families_all_outcomes_achieved", ALL, (worked & family.map(achieved).fillna(False).astype(bool)).sum()),
        ("families_all_outcomes_sustained", ALL, family.map(sustained).fillna(False).astype(bool).sum()),
        ("families_claimed", ALL, claimed_before + (families["claim_status"] == CLAIMABLE).sum()),
    ]
    in_work = per_family["family_id"].isin(set(family[worked.to_numpy()]))
    for code in framework.headline_codes:
        of_code = per_family["headline"] == code
        rows.append(("families_with_need_at_entry", code, per_family.loc[of_code & in_work, "family_id"].nunique()))
        rows.append(("families_with_outcome_sustained", code,
                     per_family.loc[of_code & per_family["sustained"], "family_id"].nunique()))
    table = pd.DataFrame(rows, columns=["measure", "headline", "families"])
    table["families"] = table["families"].astype(int)
    return table.assign(quarter=label, as_at=reference_date.isoformat())[RETURN_COLUMNS]


def disclosure_controlled(table: pd.DataFrame) -> pd.DataFrame:
    """The return as it may leave the council: below 10 shown as [c], the rest rounded to 5."""
    counts = table["families"]
    rounded = round_to_five(counts.to_frame())["families"].astype(object)
    return table.assign(families=rounded.mask(counts < THRESHOLD, SUPPRESSED))
