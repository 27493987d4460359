"""The ONS 10-5 rule with secondary suppression."""

from __future__ import annotations

import pandas as pd
import pytest

from pseudonymise.aggregates import SUPPRESSED, disclosure_controlled, round_to_five, suppression_pattern


def table(rows: dict[str, tuple[int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=["eligible", "not_eligible"])
    frame["all"] = frame.sum(axis=1)
    return frame


@pytest.mark.parametrize(("count", "published"), [(10, 10), (12, 10), (13, 15), (15, 15), (17, 15), (18, 20), (1234, 1235)])
def test_counts_of_ten_or_more_are_rounded_to_the_nearest_five(count, published):
    assert round_to_five(pd.DataFrame({"c": [count]}))["c"].iloc[0] == published


def test_counts_below_ten_are_suppressed():
    out = disclosure_controlled(table({"EDU": (9, 40)}))
    assert out.loc["EDU", "eligible"] == SUPPRESSED


def test_a_single_hidden_part_brings_down_the_other_part_of_its_row():
    out = disclosure_controlled(table({"EDU": (9, 46), "FIN": (30, 40)}))
    assert out.loc["EDU"].tolist() == [SUPPRESSED, SUPPRESSED, 55]
    assert out.loc["FIN"].tolist() == [30, 40, 70]


def test_no_secondary_when_the_total_is_hidden_too():
    out = disclosure_controlled(table({"DAB": (3, 4)}))
    assert out.loc["DAB"].tolist() == [SUPPRESSED, SUPPRESSED, SUPPRESSED]


def test_a_hidden_part_can_never_be_worked_out_from_its_row():
    rows = {f"H{i}": (i * 3, 60 - i * 4) for i in range(12)}
    frame = table(rows)
    hidden = suppression_pattern(frame)
    for row in frame.index:
        parts_hidden = int(hidden.loc[row, ["eligible", "not_eligible"]].sum())
        assert parts_hidden != 1 or hidden.loc[row, "all"], row
    assert (hidden == (frame < 10)).loc[:, "all"].all()


def test_the_secondary_suppression_hides_the_smaller_visible_part():
    frame = pd.DataFrame({"a": [5, 30], "b": [20, 40], "c": [50, 60]}, index=["x", "y"])
    frame["all"] = frame.sum(axis=1)
    hidden = suppression_pattern(frame, parts=["a", "b", "c"])
    assert hidden.loc["x"].tolist() == [True, True, False, False]
