"""Bringing stored keys of the earlier format up to date, on first read.

Before keys were hashed with hashlib (`matching.stable_keys`), the person index
and the decision store held keys made with `pandas.util.hash_pandas_object`,
16 hexadecimal characters long. pandas does not promise that hash across
versions, so those keys are converted the first time this code reads them:

- a stored pair id is recomputed from the pair's source and record_id, which
  the store keeps;
- a stored identity key is only a hash, so it is converted by recomputing the
  old key from this run's record with the same source and record_id: where the
  two agree, the record is unchanged and takes its new key. Where the record
  is absent this run, or its details changed, the old key stays; a decision on
  it was stale anyway, and an index row keeps its record_id match.

The old hash is recomputed here, with the pandas this run uses, only for this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data.tables import STRING
from matching.stable_keys import identity_keys, is_current_format, pair_ids

LEGACY_DETAILS = ["source", "forename", "surname", "dob_int", "nino", "nhs_number", "upn"]


def legacy_identity_keys(frame: pd.DataFrame) -> pd.Series:
    """The identity keys the earlier code gave these standardised records.

    It hashed the details with a categorical source, Arrow-backed strings and
    a date of birth as an int32 YYYYMMDD that was 0 where missing.
    """
    details = pd.DataFrame({
        "source": frame["source"].astype(str).astype("category"),
        **{name: frame[name].astype(STRING) for name in ("forename", "surname")},
        "dob_int": frame["dob_int"].where(frame["dob_int"] >= 0, 0).astype(np.int32),
        **{name: frame[name].astype(STRING) for name in ("nino", "nhs_number", "upn")},
    })[LEGACY_DETAILS]
    hashed = pd.util.hash_pandas_object(details, index=False)
    return hashed.map("{:016x}".format).astype(STRING)


@dataclass(frozen=True)
class KeyMigration:
    """What a conversion did: rows converted, and rows left with an old key (record absent or changed)."""

    converted: int = 0
    left_as_they_were: int = 0

    @property
    def happened(self) -> bool:
        return bool(self.converted or self.left_as_they_were)


def _new_keys_for(stored: pd.DataFrame, records: pd.DataFrame, source: str, record_id: str, key: str
                  ) -> tuple[pd.Series, np.ndarray]:
    """The new identity key for each stored row whose old key matches this run's record; which rows matched."""
    lookup = pd.DataFrame({
        "source": records["source"].astype(str).to_numpy(), "record_id": records["record_id"].astype(str).to_numpy(),
        "old": legacy_identity_keys(records).astype(str).to_numpy(), "new": records["identity_key"].astype(str).to_numpy(),
    })
    located = stored[[source, record_id, key]].astype(str).merge(
        lookup, left_on=[source, record_id], right_on=["source", "record_id"], how="left")
    matched = (located[key] == located["old"]).to_numpy()
    return pd.Series(np.where(matched, located["new"], stored[key].astype(str)), index=stored.index), matched


def migrate_decisions(decisions: pd.DataFrame, records: pd.DataFrame) -> tuple[pd.DataFrame, KeyMigration]:
    """The decision store with old-format pair ids and identity keys converted where this run's records allow."""
    old = ~is_current_format(decisions["pair_id"]) if len(decisions) else np.zeros(0, dtype=bool)
    if not old.any():
        return decisions, KeyMigration()
    migrated = decisions.copy()
    rows = migrated[old]
    migrated.loc[old, "pair_id"] = pair_ids(rows["left_source"], rows["left_record_id"], rows["right_source"],
                                            rows["right_record_id"]).astype(str).to_numpy()
    both = np.ones(int(old.sum()), dtype=bool)
    for side in ("left", "right"):
        keys, matched = _new_keys_for(rows, records, f"{side}_source", f"{side}_record_id", f"{side}_identity_key")
        migrated.loc[old, f"{side}_identity_key"] = keys.to_numpy()
        both &= matched
    return migrated, KeyMigration(int(both.sum()), int((~both).sum()))


def migrate_person_index(index: pd.DataFrame, records: pd.DataFrame) -> tuple[pd.DataFrame, KeyMigration]:
    """A previous person index with old-format identity keys converted where this run's records allow."""
    old = ~is_current_format(index["identity_key"]) if len(index) else np.zeros(0, dtype=bool)
    if not old.any():
        return index, KeyMigration()
    migrated = index.copy()
    keys, matched = _new_keys_for(migrated[old], records, "source", "record_id", "identity_key")
    migrated.loc[old, "identity_key"] = keys.to_numpy()
    migrated["identity_key"] = migrated["identity_key"].astype(STRING)
    return migrated, KeyMigration(int(matched.sum()), int((~matched).sum()))


__all__ = ["KeyMigration", "identity_keys", "legacy_identity_keys", "migrate_decisions", "migrate_person_index"]
