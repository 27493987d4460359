"""Blocking as a shuffle: each rule's records are shuffled on its block key, so every block lands whole
in one partition, and the partition's pairs are made there by the same code as in one process.

The counts in a rule's report add up over partitions, because a block is never split between two.
A rule with `any_of` puts a record in several blocks, and so may find one pair in two partitions:
its pairs are made distinct once they are back.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from matching.blocking import (
    RECORD,
    BlockCounts,
    BlockingRule,
    CandidatePairs,
    RulePairs,
    add_blocking_columns,
    distinct_record_pairs,
    explode_any_of,
    keep_alike,
    rule_pairs,
    union,
)
from matching.comparisons import Comparison
from matching.standardise import PersonRecords

# Columns the derived blocking columns are made from.
DERIVED_FROM = ("fn", "sn", "dob_int")


def _columns(rules: tuple[BlockingRule, ...]) -> list[str]:
    named = [c for rule in rules for c in (*rule.columns, *rule.split_by, *rule.any_of,
                                           *filter(None, [rule.only_where_missing]))]
    return list(dict.fromkeys([*DERIVED_FROM, *named]))


def _read_slice(piece: tuple[int, int], path: str, stored: list[str], vocabulary_size: int) -> pd.DataFrame:
    """One row group of the records, with the derived blocking columns and each row's record number."""
    row_group, offset = piece
    return _blocking_frame(pq.ParquetFile(path).read_row_group(row_group, columns=stored), offset, vocabulary_size)


def _blocking_frame(table: pa.Table, offset: int, vocabulary_size: int) -> pd.DataFrame:
    frame = add_blocking_columns(table.to_pandas(), vocabulary_size)
    frame[RECORD] = np.arange(offset, offset + len(frame), dtype=np.int64)
    return frame


def _pairs_in_partition(part: pd.DataFrame, rule: BlockingRule, cap: int, records: int, exploded: bool
                        ) -> tuple[np.ndarray, np.ndarray, BlockCounts]:
    """The pairs of the whole blocks in this partition, as record numbers (lower, higher)."""
    part = part.reset_index(drop=True)
    found = rule_pairs(part, rule, cap)
    record = part[RECORD].to_numpy()
    left, right = record[found.left], record[found.right]
    if exploded:  # rows stand for a record once per `any_of` column: a record may meet itself
        left, right = distinct_record_pairs(left, right, records)
        return left, right, found.counts
    return np.minimum(left, right), np.maximum(left, right), found.counts


def _explode(part: pd.DataFrame, rule: BlockingRule) -> pd.DataFrame:
    return explode_any_of(part, rule, part[RECORD].to_numpy())[0]


def block_on_cluster(records_file: Path, records: PersonRecords, rules: tuple[BlockingRule, ...], cap: int,
                     partitions: int, comparisons: tuple[Comparison, ...] = ()) -> CandidatePairs:
    """The same candidate pairs as `matching.blocking.block` on these records, made on the Dask cluster in use
    (or Dask's local scheduler). The workers read the records (saved to `records_file`), a row group each;
    the rules' pairs come back here to be checked for `alike_in` and unioned."""
    vocabulary_size = len(records.vocabulary)
    parquet = pq.ParquetFile(records_file)
    metadata = parquet.metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    count = int(sum(sizes))
    if count == 0:
        empty = np.array([], dtype=np.int64)
        return union(rules, [RulePairs(empty, empty, BlockCounts()) for _ in rules], 0)
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(int).tolist()
    stored = [c for c in _columns(rules) if c in metadata.schema.names]
    meta = _blocking_frame(parquet.schema_arrow.empty_table().select(stored), 0, vocabulary_size)
    frame = dd.from_map(_read_slice, list(zip(range(len(sizes)), offsets)), path=str(records_file), stored=stored,
                        vocabulary_size=vocabulary_size, meta=meta, enforce_metadata=False)
    pieces = []
    for rule in rules:
        blocked, blocks_by = frame, rule
        if rule.any_of:
            blocks_by = explode_any_of(meta, rule, meta[RECORD].to_numpy())[1]
            blocked = frame.map_partitions(_explode, rule, meta=_explode(meta, rule))
        shuffled = blocked.shuffle(on=list(blocks_by.columns), npartitions=partitions)
        pieces.append([dask.delayed(_pairs_in_partition)(part, blocks_by, cap, count, bool(rule.any_of))
                       for part in shuffled.to_delayed()])
    found = []
    for rule, results in zip(rules, dask.compute(*pieces)):
        left = np.concatenate([r[0] for r in results])
        right = np.concatenate([r[1] for r in results])
        if rule.any_of:  # one pair may have met in blocks of two partitions
            left, right = distinct_record_pairs(left, right, count)
        found.append(RulePairs(left, right, sum((r[2] for r in results), BlockCounts())))
    return union(rules, keep_alike(rules, found, records, comparisons), count)
