"""Packed keys and their lookups, against plain Python sets and dicts."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from matching.pairs import KeyIndex, member, pack, unpack


@given(keys=st.lists(st.integers(0, 10**12), unique=True, max_size=50),
       asked=st.lists(st.integers(0, 10**12), max_size=50), known=st.lists(st.integers(0, 49), max_size=20))
def test_a_key_index_finds_each_key_where_a_dict_would(keys, asked, known):
    asked = asked + [keys[i] for i in known if i < len(keys)]
    where = {key: position for position, key in enumerate(keys)}
    found = KeyIndex(np.array(keys, dtype=np.int64)).find(np.array(asked, dtype=np.int64))
    assert found.tolist() == [where.get(value, -1) for value in asked]
    assert member(np.array(asked, dtype=np.int64), np.array(keys, dtype=np.int64)).tolist() == \
        [value in where for value in asked]


@given(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)), max_size=30))
def test_packing_a_pair_keeps_both_and_their_order(pairs):
    first = np.array([a for a, _ in pairs], dtype=np.int64)
    second = np.array([b for _, b in pairs], dtype=np.int64)
    a, b = unpack(pack(first, second, 1000), 1000)
    assert a.tolist() == first.tolist() and b.tolist() == second.tolist()
