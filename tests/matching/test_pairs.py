"""Packed keys and their lookups, against plain Python sets and dicts."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from matching import pairs
from matching.pairs import KeyIndex, distinct, member, pack, pairs_within_blocks, unpack


@given(keys=st.lists(st.integers(0, 10**12), unique=True, max_size=50),
       asked=st.lists(st.integers(0, 10**12), max_size=50), known=st.lists(st.integers(0, 49), max_size=20))
def test_a_key_index_finds_each_key_where_a_dict_would(keys, asked, known):
    asked = asked + [keys[i] for i in known if i < len(keys)]
    where = {key: position for position, key in enumerate(keys)}
    found = KeyIndex(np.array(keys, dtype=np.int64)).find(np.array(asked, dtype=np.int64))
    assert found.tolist() == [where.get(value, -1) for value in asked]
    for universe in (keys, sorted(keys)):  # a universe already in order is searched without sorting it again
        for large in (pairs.LARGE_UNIVERSE, 0):  # and a large one is searched for the values in order
            with patch.object(pairs, "LARGE_UNIVERSE", large):
                assert member(np.array(asked, dtype=np.int64), np.array(universe, dtype=np.int64)).tolist() == \
                    [value in where for value in asked]


@given(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)), max_size=30))
def test_packing_a_pair_keeps_both_and_their_order(pairs):
    first = np.array([a for a, _ in pairs], dtype=np.int64)
    second = np.array([b for _, b in pairs], dtype=np.int64)
    a, b = unpack(pack(first, second, 1000), 1000)
    assert a.tolist() == first.tolist() and b.tolist() == second.tolist()


@given(st.lists(st.one_of(st.integers(-1, 5), st.integers(2**61, 2**62)), max_size=40), st.integers(2, 6))
def test_pairs_within_blocks_are_every_pair_sharing_a_block_no_bigger_than_the_cap(block_ids, cap):
    ids = np.array(block_ids, dtype=np.int64)
    left, right, oversized = pairs_within_blocks(ids, cap)
    size = {b: int((ids == b).sum()) for b in set(block_ids) if b >= 0}
    expected = {(a, b) for a in range(len(ids)) for b in range(a + 1, len(ids))
                if ids[a] >= 0 and ids[a] == ids[b] and size[ids[a]] <= cap}
    assert sorted(zip(left.tolist(), right.tolist())) == sorted(expected) and len(left) == len(expected)
    # the oversized blocks' records, by block, in record order within each (blocks that split further read them so)
    members = [i for i in np.argsort(ids, kind="stable") if ids[i] >= 0 and size[ids[i]] > cap]
    assert oversized.tolist() == members


@given(st.lists(st.integers(-2**40, 2**40), max_size=60))
def test_distinct_is_numpys_unique(values):
    assert distinct(np.array(values, dtype=np.int64)).tolist() == np.unique(np.array(values, dtype=np.int64)).tolist()
