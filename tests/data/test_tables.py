"""Membership of text values: Arrow's is_in gives what pandas' isin gives, missing values never in."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from data.tables import STRING, text_isin

TEXTS = st.text(alphabet="ABC1é ", max_size=3)


@given(st.lists(st.one_of(TEXTS, st.none()), max_size=30), st.lists(TEXTS, max_size=10),
       st.sampled_from(["set", "series", "index"]))
def test_text_isin_agrees_with_pandas_isin(values, wanted, kind):
    column = pd.Series(values, dtype=STRING)
    chosen = {"set": set(wanted), "series": pd.Series(wanted, dtype=STRING), "index": pd.Index(wanted, dtype=object)}[kind]
    expected = column.astype(object).isin(set(wanted)).to_numpy() & column.notna().to_numpy()
    found = text_isin(column, chosen)
    assert found.dtype == bool and np.array_equal(found, expected)
    assert np.array_equal(text_isin(column.astype(object), chosen), expected)


def test_a_missing_wanted_value_matches_nothing():
    column = pd.Series(["A", None], dtype=STRING)
    assert text_isin(column, pd.Series(["A", None], dtype=STRING)).tolist() == [True, False]
