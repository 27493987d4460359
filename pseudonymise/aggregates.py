"""The aggregate return: families by headline and by eligibility, under the ONS 10-5 rule.

Primary suppression hides any count below 10; every other count is rounded to
the nearest 5. Secondary suppression then closes the gap that totals leave: in
a row whose parts add up to its published total, one hidden part could be
worked out by subtraction, so the smallest other part is hidden too, and this
repeats until no row gives a hidden part away. The unsuppressed table stays in
the run folder for the council's own use; only the controlled one leaves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from criteria.framework import Framework

SUPPRESSED = "[c]"
THRESHOLD = 10
ROUND_TO = 5
PARTS = ["eligible", "not_eligible"]
TOTAL = "all"


def family_counts(framework: Framework, families: pd.DataFrame) -> pd.DataFrame:
    """Families with each need, split by eligibility; the last row counts every family assessed."""
    eligible = families["eligible"].astype(bool)
    rows = {}
    for headline in framework.headlines:
        has = families[f"need_{headline.code}"].astype(bool)
        rows[headline.code] = {"eligible": int((has & eligible).sum()), "not_eligible": int((has & ~eligible).sum())}
    rows["ALL_FAMILIES"] = {"eligible": int(eligible.sum()), "not_eligible": int((~eligible).sum())}
    table = pd.DataFrame.from_dict(rows, orient="index")[PARTS]
    table[TOTAL] = table.sum(axis=1)
    table.index.name = "headline"
    return table


def suppression_pattern(table: pd.DataFrame, parts: list[str] = PARTS, total: str = TOTAL) -> pd.DataFrame:
    """Which cells to hide: below the threshold, then enough others that no row gives one away."""
    hidden = table < THRESHOLD
    while True:
        changed = False
        for row in table.index:
            if hidden.at[row, total]:
                continue
            hidden_parts = [p for p in parts if hidden.at[row, p]]
            visible_parts = [p for p in parts if not hidden.at[row, p]]
            if len(hidden_parts) == 1 and visible_parts:
                smallest = min(visible_parts, key=lambda p: (table.at[row, p], p))
                hidden.at[row, smallest] = True
                changed = True
        if not changed:
            return hidden


def round_to_five(values: pd.DataFrame) -> pd.DataFrame:
    """Nearest multiple of 5, halves away from zero (12.5 cannot occur: counts are whole)."""
    return (np.floor(values / ROUND_TO + 0.5) * ROUND_TO).astype(int)


def disclosure_controlled(table: pd.DataFrame) -> pd.DataFrame:
    """The table as it may leave the council: hidden cells shown as [c], the rest rounded to 5."""
    hidden = suppression_pattern(table)
    rounded = round_to_five(table).astype(object)
    return rounded.mask(hidden, SUPPRESSED)
