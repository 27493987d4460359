"""Blocking: which pairs of records are worth comparing.

Several rules are unioned, chosen so that a true match still meets in at least
one block when an identifier is missing or wrong, the names are swapped, a
nickname was used or the person moved. A rule is only a list of columns that
must all agree (and all be present); the pairs within each block are made
without a Python loop.

A block bigger than the cap (a common name in a common year) would cost more
comparisons than it is worth: it is split by the rule's `split_by` columns,
and what is still too big is skipped. The report says which. Rules on names
alone split sooner: the number of namesakes grows with the population, so
their blocks would otherwise grow with it and their pairs with its square.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from matching.comparisons import Comparison, PairView
from matching.pairs import code_pair_keys, distinct, pack, pairs_within_blocks, unpack
from matching.standardise import PersonRecords

# Names shared by more records than this are compared within a postcode district only.
NAME_BLOCK_SPLIT = 40


@dataclass(frozen=True)
class BlockingRule:
    """Records meet when every column agrees and none is missing."""

    name: str
    columns: tuple[str, ...]
    split_by: tuple[str, ...] = ()
    why: str = ""
    split_above: int | None = None
    """Split blocks bigger than this (default: the cap). A rule on names alone meets more namesakes
    the bigger the population, so its blocks are split early to keep its cost linear."""
    only_where_missing: str | None = None
    """Keep only pairs where this column is missing on one side or both: a rule standing in for a
    missing date of birth need not pair records that both have one (the rules on dates do)."""
    any_of: tuple[str, ...] = ()
    """Columns of which any one may agree with any one of the other record's, besides `columns`: with
    ("fn", "sn"), records meet when a name of one is a name of the other, in either field, so a forename
    given as the surname still meets (names share one vocabulary of codes)."""
    alike_in: tuple[str, ...] = ()
    """Comparisons of the spec none of which may find the pair's values different (any level before its
    last; a missing value keeps the pair). A rule on few columns standing in for a mistyped name keeps the
    pairs whose name could be that mistype (an initial, a nickname, a near spelling), not every namesake by
    initial born on the same day, nor every surname that merely sounds alike, whose numbers grow with the
    population."""

    def __post_init__(self) -> None:
        if isinstance(self.alike_in, str):  # one comparison named on its own
            object.__setattr__(self, "alike_in", (self.alike_in,))


@dataclass(frozen=True)
class RuleReport:
    rule: str
    blocks: int
    pairs: int
    pairs_new: int
    """Pairs this rule found that no earlier rule had."""
    oversized_blocks: int
    split_blocks: int
    skipped_blocks: int
    skipped_records: int
    pairs_unalike: int = 0
    """Pairs the rule's blocks made that one of its `alike_in` comparisons found different, so left out."""


@dataclass(frozen=True)
class BlockCounts:
    """What a rule's blocks came to, for the report; counts over disjoint sets of blocks add up."""

    blocks: int = 0
    oversized_blocks: int = 0
    split_blocks: int = 0
    skipped_blocks: int = 0
    skipped_records: int = 0

    def __add__(self, other: BlockCounts) -> BlockCounts:
        return BlockCounts(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))


@dataclass(frozen=True)
class RulePairs:
    """One rule's distinct pairs of record positions (left < right)."""

    left: np.ndarray
    right: np.ndarray
    counts: BlockCounts
    unalike: int = 0
    """Pairs left out as one of their `alike_in` comparisons found them different."""


# Pairs compared at a time for a rule's `alike_in`: the columns gathered for millions of pairs are not small.
ALIKE_CHUNK = 2_000_000


@dataclass(frozen=True)
class CandidatePairs:
    """Pairs of record positions (left < right), with a bit per rule that generated each pair."""

    left: np.ndarray
    right: np.ndarray
    rules: np.ndarray
    rule_names: tuple[str, ...]
    report: tuple[RuleReport, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.left)

    def take(self, index: np.ndarray | slice) -> CandidatePairs:
        return CandidatePairs(self.left[index], self.right[index], self.rules[index], self.rule_names, self.report)


def with_blocking_columns(records: PersonRecords) -> pd.DataFrame:
    """The records with the columns that rules block on but that standardisation does not keep."""
    return add_blocking_columns(records.frame, len(records.vocabulary))


def add_blocking_columns(frame: pd.DataFrame, vocabulary_size: int) -> pd.DataFrame:
    """The sorted name pair, and the day and month of birth without the year (for a year mistyped).

    Row-wise, so a slice of the records gets the same values as the whole table."""
    dob = frame["dob_int"].to_numpy()
    return frame.assign(
        name_pair=code_pair_keys(frame["fn"].to_numpy(), frame["sn"].to_numpy(), vocabulary_size),
        birthday=np.where(dob >= 0, dob % 10000, -1),
    )


def _distinct(block_ids: np.ndarray) -> int:
    """How many blocks some records fall in; block numbers are small and dense, so counting beats sorting."""
    return int(np.count_nonzero(np.bincount(block_ids))) if len(block_ids) else 0


def _missing(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Missing by the records' one rule: -1 in an integer column, null in a text column."""
    values = frame[column]
    if values.dtype.kind in "iu":
        return values.to_numpy() == -1
    return values.isna().to_numpy(dtype=bool)


def _block_ids(frame: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """A block number per record, -1 where any column is missing."""
    present = np.ones(len(frame), dtype=bool)
    for column in columns:
        present &= ~_missing(frame, column)
    ids = np.full(len(frame), -1, dtype=np.int64)
    if present.any():
        # Codes combined by arithmetic, one column at a time, and numbered densely once at the end: most
        # blocking columns are already small non-negative integers, and a hash factorisation per column
        # cost more than the rest of a rule's blocking. Text columns, codes of a wide range, and a key about
        # to outgrow int64 are factorised first.
        key, key_range = np.zeros(int(present.sum()), dtype=np.int64), 1
        for column in columns:
            values = frame[column].to_numpy()[present]
            if values.dtype.kind in "iu" and len(values) and values.min() >= 0 and values.max() < 2**31:
                codes, width = values.astype(np.int64), int(values.max()) + 1
            else:
                codes, uniques = pd.factorize(values)
                width = len(uniques)
            if key_range * max(width, 1) >= 2**62:
                key, uniques = pd.factorize(key)
                key_range = len(uniques)
            key, key_range = key * max(width, 1) + codes, key_range * max(width, 1)
        ids[present] = pd.factorize(key)[0]
    return ids


def _rule_pairs(frame: pd.DataFrame, rule: BlockingRule, cap: int) -> tuple[np.ndarray, np.ndarray, BlockCounts]:
    """One rule's pairs of row positions (left < right), and its counts for the report."""
    ids = _block_ids(frame, rule.columns)
    limit = min(rule.split_above or cap, cap) if rule.split_by else cap
    left, right, oversized = pairs_within_blocks(ids, limit)
    oversized_blocks = _distinct(ids[oversized])
    split_blocks = skipped_blocks = skipped_records = 0
    if len(oversized) and rule.split_by:
        sub_ids = np.full(len(frame), -1, dtype=np.int64)
        columns = list(dict.fromkeys(rule.columns + rule.split_by))
        sub_ids[oversized] = _block_ids(frame[columns].iloc[oversized], rule.columns + rule.split_by)
        sub_left, sub_right, still = pairs_within_blocks(sub_ids, cap)
        left, right = np.r_[left, sub_left], np.r_[right, sub_right]
        split_blocks = oversized_blocks
        skipped_blocks, skipped_records = _distinct(sub_ids[still]), len(still)
    elif len(oversized):
        skipped_blocks, skipped_records = oversized_blocks, len(oversized)
    blocks = int(ids.max()) + 1 if len(ids) else 0
    return left, right, BlockCounts(blocks, oversized_blocks, split_blocks, skipped_blocks, skipped_records)


ANY_OF = "any_of_value"
RECORD = "_record"


def explode_any_of(frame: pd.DataFrame, rule: BlockingRule, records: np.ndarray) -> tuple[pd.DataFrame, BlockingRule]:
    """A rule with `any_of` as a plain rule over more rows: each record stands in one block per column of
    `any_of`. `records` are the rows' record numbers, kept in the `_record` column."""
    kept = list(dict.fromkeys(rule.columns + rule.split_by + tuple(filter(None, [rule.only_where_missing]))))
    parts = [frame[kept].assign(**{ANY_OF: frame[column].to_numpy(), RECORD: records}) for column in rule.any_of]
    widened = BlockingRule(rule.name, rule.columns + (ANY_OF,), rule.split_by, rule.why, rule.split_above,
                           rule.only_where_missing)
    return pd.concat(parts, ignore_index=True), widened


def distinct_record_pairs(left: np.ndarray, right: np.ndarray, records: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair once, as (lower, higher), leaving out a record paired with itself."""
    different = left != right
    keys = distinct(pack(np.minimum(left, right)[different], np.maximum(left, right)[different], records))
    return unpack(keys, records)


def _any_of_pairs(frame: pd.DataFrame, rule: BlockingRule, cap: int) -> tuple[np.ndarray, np.ndarray, BlockCounts]:
    """A rule with `any_of`: the distinct pairs of different records that meet in any of its blocks."""
    exploded, widened = explode_any_of(frame, rule, np.arange(len(frame)))
    left, right, counts = _rule_pairs(exploded, widened, cap)
    record = exploded[RECORD].to_numpy()
    low, high = distinct_record_pairs(record[left], record[right], len(frame))
    return low, high, counts


def rule_pairs(frame: pd.DataFrame, rule: BlockingRule, cap: int) -> RulePairs:
    """One rule's distinct pairs of row positions (left < right), with its counts for the report."""
    left, right, counts = _any_of_pairs(frame, rule, cap) if rule.any_of else _rule_pairs(frame, rule, cap)
    if rule.only_where_missing is not None:
        missing = _missing(frame, rule.only_where_missing)
        wanted = missing[left] | missing[right]
        left, right = left[wanted], right[wanted]
    return RulePairs(left, right, counts)


def block(records: PersonRecords, rules: tuple[BlockingRule, ...], cap: int,
          comparisons: tuple[Comparison, ...] = (), threads: int = 1) -> CandidatePairs:
    """The union of every rule's pairs, each pair once, with which rules produced it.

    `comparisons`: the spec's, for the rules that keep only pairs alike in one of them. `threads`: rules
    worked on at once. A rule's work is sorts, factorisations and array arithmetic, during which numpy and
    pandas let go of the interpreter, so two threads on two cores take about 60 % of the time of one; each
    holds one rule's pairs as they are made."""
    frame = with_blocking_columns(records)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sfmatch-blocking") as pool:
        found = list(pool.map(lambda rule: rule_pairs(frame, rule, cap), rules))
        found = keep_alike(rules, found, records, comparisons, pool)  # the pairs before it are let go
    return union(rules, found, len(frame))


def keep_alike(rules: tuple[BlockingRule, ...], found: list[RulePairs], records: PersonRecords,
               comparisons: tuple[Comparison, ...], pool: ThreadPoolExecutor | None = None) -> list[RulePairs]:
    """Each rule's pairs, less those one of its `alike_in` comparisons finds different. The comparisons are
    the spec's own, so a pair left out here is one the scoring would have put at such a comparison's last
    level."""
    by_name = {comparison.name: comparison for comparison in comparisons}
    kept = []
    with ThreadPoolExecutor(max_workers=1) if pool is None else nullcontext(pool) as chunks:
        for rule, pairs in zip(rules, found):
            unknown = [name for name in rule.alike_in if name not in by_name]
            if unknown:
                raise ValueError(f"blocking rule '{rule.name}' keeps pairs alike in '{unknown[0]}', "
                                 "which is not among the comparisons given")
            kept.append(_alike(pairs, tuple(by_name[name] for name in rule.alike_in), records, chunks)
                        if rule.alike_in else pairs)
    return kept


def _alike(pairs: RulePairs, comparisons: tuple[Comparison, ...], records: PersonRecords,
           pool: ThreadPoolExecutor) -> RulePairs:
    keep = np.ones(len(pairs.left), dtype=bool)

    def compare_piece(start: int) -> None:  # a piece's positions in `keep` are its own: no two threads share one
        piece = np.arange(start, min(start + ALIKE_CHUNK, len(keep)))
        for comparison in comparisons:  # each on the pairs the ones before it kept
            piece = piece[keep[piece]]
            view = PairView(records, pairs.left[piece], pairs.right[piece])
            keep[piece] = comparison.compute(view) != comparison.index(comparison.DIFFERENT)

    list(pool.map(compare_piece, range(0, len(keep), ALIKE_CHUNK)))
    return RulePairs(pairs.left[keep], pairs.right[keep], pairs.counts, unalike=len(keep) - int(keep.sum()))


def union(rules: tuple[BlockingRule, ...], found: list[RulePairs], records: int) -> CandidatePairs:
    """Every rule's pairs made one set, each pair tagged with a bit per rule that found it."""
    if len(rules) > 63:
        raise ValueError("at most 63 blocking rules")
    n = np.int64(records)
    # A rule's pairs are distinct, so sorting the pairs tagged with their rule's bit groups each pair's rules.
    # The tagged pairs, (left * records + right) * 64 + rule, are made in one array and sorted in place: a
    # county's rules find tens of millions of pairs, and a list of arrays joined and sorted into new ones
    # held three copies of them at once.
    keys = np.empty(sum(len(pairs.left) for pairs in found), dtype=np.int64)
    at = 0
    for bit, pairs in enumerate(found):
        tagged = keys[at:at + len(pairs.left)]
        np.multiply(pairs.left, n, out=tagged)
        tagged += pairs.right
        tagged <<= 6
        tagged |= bit
        at += len(tagged)
    keys.sort()
    bits = np.left_shift(np.int64(1), keys & 63)
    keys >>= 6  # each pair's key, once for every rule that found it
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else np.array([], dtype=np.int64)
    unique_keys = keys[starts]
    rule_bits = np.bitwise_or.reduceat(bits, starts) if len(starts) else bits
    first_rule = np.log2(rule_bits & -rule_bits).astype(np.int64) if len(rule_bits) else rule_bits
    new_per_rule = np.bincount(first_rule, minlength=len(rules))
    reports = [
        RuleReport(rule.name, pairs.counts.blocks, len(pairs.left), int(new_per_rule[i]), pairs.counts.oversized_blocks,
                   pairs.counts.split_blocks, pairs.counts.skipped_blocks, pairs.counts.skipped_records, pairs.unalike)
        for i, (rule, pairs) in enumerate(zip(rules, found))
    ]
    left, right = unpack(unique_keys, n)
    return CandidatePairs(
        left=left.astype(np.int32), right=right.astype(np.int32),
        rules=rule_bits, rule_names=tuple(r.name for r in rules), report=tuple(reports),
    )
