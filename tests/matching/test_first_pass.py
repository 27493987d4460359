"""The first pass's persons as the second pass reads them."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from matching.first_pass import FirstPass


@given(st.lists(st.integers(0, 6), min_size=1, max_size=60))
def test_members_list_each_persons_records_in_record_order(person_of_record):
    labels = np.unique(np.array(person_of_record), return_inverse=True)[1]  # persons numbered 0..k-1, as clustering does
    first = FirstPass.of(labels, np.full(len(labels), -1), np.full(len(labels), -1))
    order, starts, sizes = first.members
    for person in range(int(labels.max()) + 1):
        records = order[starts[person]:starts[person] + sizes[person]]
        assert records.tolist() == np.flatnonzero(labels == person).tolist()
    assert first.members is first.members  # made once, however many partitions ask
