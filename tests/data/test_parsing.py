"""Raw strings to typed values: dates read by the first accepted format that reads them."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from data.parsing import parse_dates
from data.tables import STRING

FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%b-%Y")
TEXTS = st.sampled_from(["2014-03-07", "07/03/2014", "31/02/2014", "07-Mar-2014", "07/03/14", "2014-3-7",
                         "yesterday", "", "29/02/2016", "1999-12-31 10:15:00", "12/31/1999"])


def one_at_a_time(text: object) -> pd.Timestamp:
    if text is None or text is pd.NA:
        return pd.NaT
    for fmt in FORMATS:
        parsed = pd.to_datetime(pd.Series([text], dtype=object), format=fmt, errors="coerce").iloc[0]
        if not pd.isna(parsed):
            return parsed.normalize()
    return pd.NaT


@given(st.lists(st.one_of(st.none(), TEXTS), max_size=30), st.booleans())
def test_each_value_is_read_as_it_would_be_on_its_own(texts, arrow_strings):
    values = pd.Series(texts, dtype=STRING if arrow_strings else object, index=range(100, 100 + len(texts)))
    expected = pd.Series([one_at_a_time(t) for t in texts], index=values.index, dtype="datetime64[ns]")
    pd.testing.assert_series_equal(parse_dates(values, FORMATS), expected)
