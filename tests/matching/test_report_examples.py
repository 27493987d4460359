"""The match report's example pairs: chosen as `nlargest`/`nsmallest` on the band would choose them, ties
included, without copying the band first."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.report import extreme_rows


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.sampled_from([0.1, 0.5, 0.5, 0.9, 1.0, np.nan]), max_size=40),
       bands=st.lists(st.booleans(), min_size=40, max_size=40), count=st.integers(1, 5), largest=st.booleans())
def test_the_same_rows_in_the_same_order_as_pandas_would_choose(values, bands, count, largest):
    pairs = pd.DataFrame({"probability": values, "left": np.arange(len(values))},
                         index=np.arange(len(values)) * 7 + 3)
    mask = np.asarray(bands[:len(values)], dtype=bool)
    band = pairs[mask]
    expected = band.nlargest(count, "probability") if largest else band.nsmallest(count, "probability")
    pd.testing.assert_frame_equal(extreme_rows(pairs, mask, "probability", count, largest), expected)
