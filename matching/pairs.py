"""Two small integers packed into one, fast membership tests on packed keys, and the pairs within blocks.

Pairs of records, pairs of value codes and (block, rule) tags are all packed
the same way, so that a pair can be sorted, deduplicated and looked up as one
int64. Every packing in the linkage goes through here.
"""

from __future__ import annotations

import numpy as np


def pack(first: np.ndarray, second: np.ndarray, base: int) -> np.ndarray:
    """`first * base + second` in int64: the pair in the order given (`second` must be below `base`)."""
    return np.asarray(first, dtype=np.int64) * np.int64(base) + np.asarray(second, dtype=np.int64)


def unpack(keys: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    keys = np.asarray(keys, dtype=np.int64)
    return keys // np.int64(base), keys % np.int64(base)


def pack_unordered(a: np.ndarray, b: np.ndarray, base: int) -> np.ndarray:
    """One int64 per unordered pair: the same key whichever value comes first."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    return pack(np.minimum(a, b), np.maximum(a, b), base)


def pair_keys(left: np.ndarray, right: np.ndarray, n_records: int) -> np.ndarray:
    """One int64 per unordered pair of record positions."""
    return pack_unordered(left, right, n_records)


def code_pair_keys(left: np.ndarray, right: np.ndarray, vocabulary_size: int) -> np.ndarray:
    """One int64 per unordered pair of codes into a vocabulary, -1 where either code is missing (-1)."""
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    return np.where((left >= 0) & (right >= 0), pack_unordered(left, right, vocabulary_size + 1), -1)


def distinct(values: np.ndarray) -> np.ndarray:
    """Each value once, sorted: `np.unique` of integer keys by a sort, which numpy 2.4's `np.unique` (without
    `return_index`) is not: it took about 3 s over three million keys that a sort orders in milliseconds."""
    ordered = np.sort(np.asarray(values))
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def member(values: np.ndarray, universe: np.ndarray) -> np.ndarray:
    """`np.isin` for integer keys by sort and binary search, several times faster on millions of keys.

    A universe already in order (most are: `distinct` returns its keys sorted) is searched as it is: numpy's
    sort takes as long over sorted keys as over shuffled ones, and the second pass asks about the same
    millions of household contexts once per partition. Over a universe larger than the processor's caches
    the values are looked up in order: each search then walks close to where the last one went, and sorting
    them first costs less than the cache misses it saves (a county's ten million cannot-links: 2.7 s to
    0.4 s for two million values)."""
    values = np.asarray(values)
    if len(universe) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    ordered = np.asarray(universe)
    if not np.all(ordered[1:] >= ordered[:-1]):
        ordered = np.sort(ordered)
    if len(ordered) <= LARGE_UNIVERSE:
        position = np.minimum(np.searchsorted(ordered, values), len(ordered) - 1)
        return ordered[position] == values
    order = np.argsort(values)
    in_order = values[order]
    position = np.minimum(np.searchsorted(ordered, in_order), len(ordered) - 1)
    found = np.empty(len(values), dtype=bool)
    found[order] = ordered[position] == in_order
    return found


LARGE_UNIVERSE = 1 << 19
"""Keys (4 MiB of them) beyond which `member` looks its values up in order."""


class KeyIndex:
    """Where each of some unique integer keys is, found by binary search: a lookup of millions of packed pairs
    without building a pandas index over them."""

    def __init__(self, keys: np.ndarray):
        keys = np.asarray(keys, dtype=np.int64)
        self._order = np.argsort(keys)  # the keys are unique: no ties for a stable sort to keep in order
        self._sorted = keys[self._order]

    def find(self, values: np.ndarray) -> np.ndarray:
        """The position of each value among the keys, -1 where it is not one of them."""
        values = np.asarray(values, dtype=np.int64)
        if not len(self._sorted):
            return np.full(len(values), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, values), len(self._sorted) - 1)
        return np.where(self._sorted[at] == values, self._order[at], -1)


def _by_block(block_ids: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The members ordered by block, in record order within a block, and their blocks in that order.

    A stable argsort of the block numbers, done as a plain sort of (block, record) packed into one key: no two
    keys tie, so the order is the same, at a tenth of the cost on millions of records."""
    ids = np.asarray(block_ids, dtype=np.int64)[members]
    base = max(len(block_ids), 1)
    if len(ids) and int(ids.max()) >= np.iinfo(np.int64).max // base:
        order = members[np.argsort(ids, kind="stable")]
        return order, np.asarray(block_ids)[order]
    sorted_ids, order = unpack(np.sort(pack(ids, members, base)), base)
    return order, sorted_ids


def pairs_within_blocks(block_ids: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of records sharing a block of at most `cap` records; also the oversized blocks' records."""
    members = np.flatnonzero(block_ids >= 0)
    order, sorted_ids = _by_block(block_ids, members)
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if len(order) else np.array([], dtype=np.int64)
    sizes = np.diff(np.r_[starts, len(order)])
    oversized = sizes > cap
    oversized_records = order[np.repeat(oversized, sizes)] if len(order) else order

    keep = (sizes >= 2) & ~oversized
    group_starts, group_sizes = starts[keep], sizes[keep]
    # Each record pairs with the records after it in its block: n-1, n-2, ... 0 partners.
    first = np.repeat(group_starts, group_sizes)
    position = np.arange(len(first)) - np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    partners = np.repeat(group_sizes, group_sizes) - 1 - position
    left_pos = first + position
    # The pair's right position is the left one plus 1 plus its number among the left one's partners; made
    # with one array of the pairs' length at a time, as a rule on a county's records has tens of millions.
    right_pos = np.arange(int(partners.sum()))
    right_pos += np.repeat(left_pos + 1 - (np.cumsum(partners) - partners), partners)
    right = order[right_pos]
    del right_pos
    # Within a block the records are in ascending order, so the left one is always the lower.
    return order[np.repeat(left_pos, partners)], right, oversized_records
