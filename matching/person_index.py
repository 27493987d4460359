"""Stable person IDs across runs, never given to two different people.

The person index lists every record ever linked (by source, record_id and an
identity key) with the person ID it was given. The next run matches its new
persons to the previous index through their records: first by source and
record_id, then by identity key (the same person details under a reissued
record_id). A new person takes the previous ID most of its records carried;
each previous ID goes to one new person at most (the one with most of its
records), so a split keeps the ID on the larger part and a merge keeps the ID
with most records, recording the other as merged into it. Persons not seen
this month stay in the index with their IDs, so that someone who comes back
next month keeps theirs.

A person the index has not seen gets an ID derived from the records that make
them up: a BLAKE2b hash of their sorted (source, record_id, identity key)
triples. It does not depend on the order of the rows, the folder or the
counter of any index, so a rebuilt index (lost, or a fresh output folder) can
only give an ID to the very records it was first given to; a sequential
number, as earlier versions gave, named whoever came first in a rebuild. An ID
already in the index, or drawn twice in one run, is derived again with a
counter (a collision check; at 128 bits it never fires in practice). IDs of the
earlier sequential format are kept where the index carries them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.tables import STRING, arrow_text, utf8_bytes
from matching.tables import PERSON_INDEX

ID_PREFIX = "P"
ID_BYTES = 16
ID_LABEL = b"sfmatch person id v2"
INDEX_COLUMNS = PERSON_INDEX.columns
RECORD_SEPARATOR, SET_SEPARATOR = "\x1f", "\x1e"


@dataclass(frozen=True)
class IdAssignment:
    person_ids: np.ndarray
    index: pd.DataFrame
    changes: pd.DataFrame
    """Previous IDs that did not survive: merged into another ID."""
    kept: int
    new: int
    merged: int


def person_set_texts(rows: pd.DataFrame) -> pd.Series:
    """Each cluster's records as one canonical text, by cluster: sorted `source|record_id|identity_key` lines.

    Joined in Arrow, not Python: a county's two million persons as Python strings cost seconds."""
    parts = [pc.fill_null(arrow_text(rows[name]), "") for name in ("source", "record_id", "identity_key")]
    table = pa.table({"cluster": pa.array(rows["cluster"].to_numpy(dtype=np.int64)),
                      "line": pc.binary_join_element_wise(*parts, RECORD_SEPARATOR)})
    table = table.take(pc.sort_indices(table, [("cluster", "ascending"), ("line", "ascending")]))
    clusters = table["cluster"].to_numpy()
    starts = np.flatnonzero(np.r_[True, clusters[1:] != clusters[:-1]]) if len(clusters) else np.array([], dtype=int)
    sets = pa.ListArray.from_arrays(pa.array(np.r_[starts, len(clusters)], type=pa.int32()),
                                    table["line"].combine_chunks())
    return pd.Series(pd.arrays.ArrowStringArray(pc.binary_join(sets, SET_SEPARATOR)), index=clusters[starts])


def _person_id(text: bytes, attempt: int = 0) -> str:
    salt = b"" if attempt == 0 else f"\x00{attempt}".encode()
    return ID_PREFIX + hashlib.blake2b(ID_LABEL + salt + b"\x00" + text, digest_size=ID_BYTES).hexdigest()


def derive_ids(texts: pd.Series, taken: set[str]) -> pd.Series:
    """An ID per record set (by cluster), none of them in `taken` nor repeated; `taken` gains them.

    Each set's first attempt is made for all at once; only if one of them clashes (with `taken` or with
    another) are the IDs given one by one, in order, the later of two trying again with a salt."""
    first = [_person_id(text) for text in utf8_bytes(texts)]
    if taken.isdisjoint(first) and len(set(first)) == len(first):
        taken.update(first)
        return pd.Series(first, index=texts.index, dtype=object)
    ids = {}
    for cluster, text in zip(texts.index, utf8_bytes(texts)):
        attempt = 0
        while (candidate := _person_id(text, attempt)) in taken:
            attempt += 1
        taken.add(candidate)
        ids[cluster] = candidate
    return pd.Series(ids, dtype=object)


def _grouped_by_person(chosen: pa.Array, clusters: np.ndarray, seen: dict[str, pa.Array],
                       carried: pd.DataFrame) -> pd.DataFrame:
    """The index: this run's records (person `chosen[cluster]`, the other columns `seen`, which this empties),
    then those carried from the previous index, grouped by person ID; within a person, the records keep that
    order.

    The IDs are ranked once per person, not once per record (strings sort slowly), and the records then
    ordered by their person's rank, stably: the order a stable sort of the records by ID gives."""
    carried_ids = arrow_text(carried["person_id"])
    ranked = pc.sort_indices(pa.concat_arrays([chosen, carried_ids])).to_numpy()  # stable
    rank = np.empty(len(ranked), dtype=np.int64)
    rank[ranked] = np.arange(len(ranked))
    order = pa.array(np.argsort(np.r_[rank[clusters], rank[len(chosen):]], kind="stable"))

    def in_order(this_run: pa.Array, name: str) -> pd.arrays.ArrowStringArray:
        whole = pa.concat_arrays([this_run, arrow_text(carried[name])]) if len(carried) else this_run
        return pd.arrays.ArrowStringArray(whole.take(order))

    # A column at a time, each let go once in order: a county's index is millions of rows of text.
    columns = {"person_id": in_order(chosen.take(pa.array(clusters)), "person_id")}
    for name in INDEX_COLUMNS[1:]:
        columns[name] = in_order(seen.pop(name), name)
    return pd.DataFrame(columns)


def assign_person_ids(current: pd.DataFrame, previous: pd.DataFrame | None, run_id: str) -> IdAssignment:
    """`current` has one row per record: source, record_id, identity_key and cluster (0..k-1)."""
    clusters = current["cluster"].to_numpy()
    n_clusters = int(clusters.max()) + 1 if len(clusters) else 0
    chosen = np.full(n_clusters, None, dtype=object)
    changes = pd.DataFrame(columns=["previous_id", "merged_into", "run_id"])

    if previous is not None and not previous.empty:
        by_record = current[["source", "record_id", "cluster"]].merge(
            previous[["source", "record_id", "person_id"]], on=["source", "record_id"], how="inner",
        )
        unmatched = current[~current.set_index(["source", "record_id"]).index.isin(by_record.set_index(["source", "record_id"]).index)]
        by_identity = unmatched[["identity_key", "cluster"]].merge(
            previous[["identity_key", "person_id"]].drop_duplicates("identity_key"), on="identity_key", how="inner",
        )
        votes = (
            pd.concat([by_record[["cluster", "person_id"]], by_identity[["cluster", "person_id"]]])
            .groupby(["cluster", "person_id"]).size().rename("votes").reset_index()
            .sort_values(["votes", "person_id", "cluster"], ascending=[False, True, True], kind="stable")
        )
        # Most persons map one-to-one to a previous ID; only contested ones need the greedy pass.
        simple = ~votes["cluster"].duplicated(keep=False) & ~votes["person_id"].duplicated(keep=False)
        chosen[votes.loc[simple, "cluster"].to_numpy()] = votes.loc[simple, "person_id"].to_numpy()
        taken_ids: set[str] = set(votes.loc[simple, "person_id"])
        for row in votes[~simple].itertuples(index=False):
            if chosen[row.cluster] is None and row.person_id not in taken_ids:
                chosen[row.cluster] = row.person_id
                taken_ids.add(row.person_id)
        # A previous ID that lost all its records to persons that kept other IDs was merged into them.
        winners = votes.drop_duplicates("person_id")
        lost = winners[~winners["person_id"].isin(taken_ids)].copy()
        lost["merged_into"] = chosen[lost["cluster"].to_numpy()]
        lost = lost[lost["merged_into"].notna()]
        changes = pd.DataFrame({
            "previous_id": lost["person_id"].to_numpy(), "merged_into": lost["merged_into"].to_numpy(), "run_id": run_id,
        })

    kept = int(sum(x is not None for x in chosen))
    fresh = np.flatnonzero(pd.isna(chosen))
    if len(fresh):
        taken = set(previous["person_id"].astype(str)) if previous is not None and not previous.empty else set()
        taken.update(str(x) for x in chosen[~pd.isna(chosen)])
        is_fresh = np.zeros(n_clusters, dtype=bool)
        is_fresh[fresh] = True
        new_rows = current if len(fresh) == n_clusters else current[is_fresh[clusters]]
        chosen[fresh] = derive_ids(person_set_texts(new_rows), taken).reindex(fresh).to_numpy()
    person_ids = chosen[clusters] if len(clusters) else np.array([], dtype=object)

    seen = {name: arrow_text(current[name]) for name in ("source", "record_id", "identity_key")}
    seen["last_seen_run"] = pa.repeat(run_id, len(current)).cast(pa.string())
    if previous is not None and not previous.empty:
        first_seen = previous.set_index(["source", "record_id"])["first_seen_run"]
        key = pd.MultiIndex.from_frame(current[["source", "record_id"]])
        seen["first_seen_run"] = arrow_text(first_seen.reindex(key).fillna(run_id))
        carried = previous[~previous.set_index(["source", "record_id"]).index.isin(key)]
        merged_into = dict(zip(changes["previous_id"], changes["merged_into"]))
        ids = carried["person_id"]
        carried = carried.assign(person_id=ids.map(merged_into).fillna(ids))  # one pass, however many merges
    else:
        seen["first_seen_run"] = seen["last_seen_run"]
        carried = pd.DataFrame({name: pd.Series(dtype=STRING) for name in INDEX_COLUMNS})
    index = _grouped_by_person(pa.array(chosen, type=pa.string()), clusters, seen, carried)
    return IdAssignment(person_ids, index, changes.reset_index(drop=True), kept, len(fresh), len(changes))
