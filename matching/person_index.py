"""Stable person IDs across runs.

The person index lists every record ever linked (by source, record_id and an
identity key) with the person ID it was given. The next run matches its new
persons to the previous index through their records: first by source and
record_id, then by identity key (the same person details under a reissued
record_id). A new person takes the previous ID most of its records carried;
each previous ID goes to one new person at most (the one with most of its
records), so a split keeps the ID on the larger part and a merge keeps the
lowest ID, recording the other as merged into it. Persons not seen this month
stay in the index with their IDs, so that someone who comes back next month
keeps theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.tables import STRING

ID_PREFIX = "P"
ID_DIGITS = 9
INDEX_COLUMNS = ["person_id", "source", "record_id", "identity_key", "first_seen_run", "last_seen_run"]


@dataclass(frozen=True)
class IdAssignment:
    person_ids: np.ndarray
    index: pd.DataFrame
    changes: pd.DataFrame
    """Previous IDs that did not survive: merged into another ID."""
    kept: int
    new: int
    merged: int


def format_ids(numbers: np.ndarray) -> np.ndarray:
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), ID_DIGITS, "0")
    return pc.binary_join_element_wise(ID_PREFIX, digits, "").to_numpy(zero_copy_only=False)


def _highest_number(index: pd.DataFrame | None) -> int:
    if index is None or index.empty:
        return 0
    return int(index["person_id"].str.slice(len(ID_PREFIX)).astype(np.int64).max())


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
    chosen[fresh] = format_ids(np.arange(len(fresh)) + _highest_number(previous) + 1)
    person_ids = chosen[clusters] if len(clusters) else np.array([], dtype=object)

    seen = current[["source", "record_id", "identity_key"]].assign(person_id=person_ids, last_seen_run=run_id)
    if previous is not None and not previous.empty:
        first_seen = previous.set_index(["source", "record_id"])["first_seen_run"]
        key = pd.MultiIndex.from_frame(seen[["source", "record_id"]])
        seen["first_seen_run"] = first_seen.reindex(key).fillna(run_id).to_numpy()
        carried = previous[~previous.set_index(["source", "record_id"]).index.isin(key)].copy()
        merged_into = dict(zip(changes["previous_id"], changes["merged_into"]))
        ids = carried["person_id"]
        carried["person_id"] = ids.map(merged_into).fillna(ids).astype(ids.dtype)  # one pass, however many merges
        index = pd.concat([seen, carried], ignore_index=True)
    else:
        seen["first_seen_run"] = run_id
        index = seen
    index = index[INDEX_COLUMNS].astype({c: STRING for c in INDEX_COLUMNS})
    # IDs are fixed-width, so their numbers sort as they do; within a person, records keep the run's order.
    number = index["person_id"].str.slice(len(ID_PREFIX)).astype(np.int64).to_numpy()
    index = index.iloc[np.argsort(number, kind="stable")].reset_index(drop=True)
    return IdAssignment(person_ids, index, changes.reset_index(drop=True), kept, len(fresh), len(changes))
