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


@given(st.lists(st.integers(0, 7), min_size=2, max_size=40), st.lists(st.integers(-1, 5), min_size=40, max_size=40),
       st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=30))
def test_a_shared_household_is_a_third_person_in_a_context_with_each_of_the_two(person_of_record, event_of_record,
                                                                                 asked):
    labels = np.unique(np.array(person_of_record), return_inverse=True)[1]
    events = np.array(event_of_record[:len(labels)])
    first = FirstPass.of(labels, events, np.full(len(labels), -1))
    together = {(labels[a], labels[b]) for a in range(len(labels)) for b in range(len(labels))
                if events[a] >= 0 and events[a] == events[b] and labels[a] != labels[b]}
    asked = [(a, b) for a, b in asked if a < len(labels) and b < len(labels)]
    left = np.array([a for a, _ in asked], dtype=np.int64)
    right = np.array([b for _, b in asked], dtype=np.int64)
    expected = [labels[a] != labels[b] and any((labels[a], third) in together and (labels[b], third) in together
                                               for third in set(labels) - {labels[b]})
                for a, b in asked]
    assert first.shared_household(left, right).tolist() == expected
