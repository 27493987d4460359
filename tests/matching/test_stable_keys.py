"""Stored keys: hashlib over a canonical text, so they never move with a library version; old keys migrate."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from data.contract import load_contracts
from data.ingest import ingest_extract
from data.readers import locate_extracts
from matching import pipeline
from matching.migration import legacy_identity_keys, migrate_decisions, migrate_person_index
from matching.review import STORE_COLUMNS
from matching.spec import PROGRAMME_SPEC
from matching.stable_keys import KEY_CHARACTERS, identity_keys, is_current_format, pair_ids
from tests.factories import REFERENCE, records, table

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_keys"


def test_an_identity_key_is_blake2b_of_the_canonical_text_of_the_details():
    frame = pd.DataFrame({"source": ["police"], "forename": ["ANN"], "surname": ["LEE"], "dob_int": [20010203],
                          "nino": [None], "nhs_number": [None], "upn": [None]})
    text = "police\x1fANN\x1fLEE\x1f20010203\x1f\x1f\x1f"
    expected = hashlib.blake2b(b"identity\x00" + text.encode(), digest_size=16).hexdigest()
    assert identity_keys(frame).tolist() == [expected]


def test_a_missing_date_of_birth_is_empty_text_not_a_number():
    base = {"source": ["a"], "forename": ["ANN"], "surname": ["LEE"], "nino": [None], "nhs_number": [None], "upn": [None]}
    unknown = identity_keys(pd.DataFrame({**base, "dob_int": [-1]}))
    text = "a\x1fANN\x1fLEE\x1f\x1f\x1f\x1f"
    assert unknown.tolist() == [hashlib.blake2b(b"identity\x00" + text.encode(), digest_size=16).hexdigest()]


def test_a_pair_id_is_the_same_whichever_side_each_record_is_on_and_has_the_current_length():
    a = pair_ids(pd.Series(["police"]), pd.Series(["1"]), pd.Series(["dwp"]), pd.Series(["2"]))
    b = pair_ids(pd.Series(["dwp"]), pd.Series(["2"]), pd.Series(["police"]), pd.Series(["1"]))
    assert a.tolist() == b.tolist() and len(a[0]) == KEY_CHARACTERS
    assert is_current_format(a).all() and not is_current_format(pd.Series(["0123456789abcdef"])).any()


def test_the_keys_of_a_record_do_not_depend_on_its_other_columns():
    built = records(a=table({"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS1 4AP"},
                            {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "BD7 1AA"}))
    assert built.frame["identity_key"].nunique() == 1


def _legacy_records():
    contracts = load_contracts()
    tables = {s: ingest_extract(p, contracts[s]).records
              for s, p in locate_extracts(LEGACY / "extracts", contracts).items()}
    return pipeline.person_records(PROGRAMME_SPEC, tables, REFERENCE).frame


def test_the_old_identity_key_is_recomputed_exactly_as_the_earlier_code_stored_it():
    """The fixture holds keys the earlier code wrote for these synthetic extracts."""
    stored = pd.read_csv(LEGACY / "identity_keys.csv", dtype=str)
    frame = _legacy_records()
    recomputed = frame[["source", "record_id"]].astype(str).assign(key=legacy_identity_keys(frame).astype(str).to_numpy())
    joined = stored.merge(recomputed, on=["source", "record_id"])
    assert len(joined) == len(stored) and (joined["identity_key"] == joined["key"]).all()


def test_an_old_person_index_migrates_where_this_run_has_the_record():
    frame = _legacy_records()
    stored = pd.read_csv(LEGACY / "identity_keys.csv", dtype=str)
    index = stored.assign(person_id="P000000001", first_seen_run="r0", last_seen_run="r0")
    absent = pd.DataFrame([{"source": "police", "record_id": "GONE", "identity_key": "0123456789abcdef",
                            "person_id": "P000000002", "first_seen_run": "r0", "last_seen_run": "r0"}])
    migrated, counts = migrate_person_index(pd.concat([index, absent], ignore_index=True), frame)
    assert (counts.converted, counts.left_as_they_were) == (len(stored), 1)
    current = frame[["source", "record_id", "identity_key"]].astype(str)
    joined = migrated.astype(str).merge(current, on=["source", "record_id"], suffixes=("", "_now"))
    assert (joined["identity_key"] == joined["identity_key_now"]).all()
    assert migrated.loc[migrated["record_id"] == "GONE", "identity_key"].item() == "0123456789abcdef"


def test_old_decisions_migrate_and_a_changed_record_keeps_its_old_key():
    frame = _legacy_records()
    pairs = pd.read_csv(LEGACY / "pair_ids.csv", dtype=str)
    keys = pd.read_csv(LEGACY / "identity_keys.csv", dtype=str).set_index(["source", "record_id"])["identity_key"]
    decisions = pairs.assign(
        left_identity_key=[keys[(s, r)] for s, r in zip(pairs["left_source"], pairs["left_record_id"])],
        right_identity_key=[keys[(s, r)] for s, r in zip(pairs["right_source"], pairs["right_record_id"])],
        decision="link", note="", decided_at="2026-10-01T00:00:00+00:00", from_file="review_queue.csv",
    )[STORE_COLUMNS]
    decisions.loc[0, "left_identity_key"] = "ffffffffffffffff"  # that record's details changed since
    migrated, counts = migrate_decisions(decisions, frame)
    assert (counts.converted, counts.left_as_they_were) == (len(decisions) - 1, 1)
    assert is_current_format(migrated["pair_id"]).all()
    expected = pair_ids(pairs["left_source"], pairs["left_record_id"], pairs["right_source"], pairs["right_record_id"])
    assert migrated["pair_id"].tolist() == expected.tolist()
    assert migrated.loc[0, "left_identity_key"] == "ffffffffffffffff"
    assert is_current_format(migrated.loc[1:, "left_identity_key"]).all()
    again, nothing = migrate_decisions(migrated, frame)
    assert not nothing.happened or nothing.converted == 0
