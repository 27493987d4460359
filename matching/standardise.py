"""Standardise ingested records into one table of person records, ready to block and compare.

Names, identifiers and postcodes are turned into integer codes over one shared
vocabulary, so that every equality test in blocking and comparison is an
integer comparison, and a forename can be compared with a surname (a swap).
Identifiers that break their rules, and NINOs that several clearly different
people carry, are kept for audit in the status columns but never used to link.

One rule for missing values (`matching.tables.PERSON_RECORDS` declares the
table): an integer column holds -1 where the value is missing, a text or date
column holds null.
"""

from __future__ import annotations

import string
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Mapping, TypeVar

import numpy as np
import pandas as pd
from rapidfuzz.distance import JaroWinkler
from rapidfuzz.process import cpdist

from data.identifiers import (
    clean_identifier,
    nhs_number_is_valid,
    nino_is_valid,
    normalise_postcode,
    postcode_district,
    postcode_is_valid,
    postcode_sector,
    upn_is_valid,
)
from data.tables import STRING
from matching.stable_keys import identity_keys
from matching.names import map_distinct, nickname_groups, phonetic, standardise_forenames, standardise_surnames

PERSON_FIELDS = ("forename", "surname", "dob", "sex", "nino", "nhs_number", "upn", "postcode")
EARLIEST_BIRTH = date(1900, 1, 1)
NICKNAME_WIDTH = 3
SEX_CODES = {"M": 1, "F": 2}
"""U (not known) and X (indeterminate) say nothing about whether two records are one person: -1, like missing."""

T = TypeVar("T")
_DERIVING = threading.RLock()
"""Scoring partitions run on two threads: the first to ask makes a derived value, the other waits for it."""


@dataclass(frozen=True)
class PersonRecords:
    """One row per ingested record; the row position is the record's index in every pair array."""

    frame: pd.DataFrame
    vocabulary: np.ndarray
    """The strings behind the name codes (forename, surname, parts, nickname forms)."""
    _derived: dict[object, object] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frame)

    def codes(self, column: str) -> np.ndarray:
        return self.frame[column].to_numpy()

    def derived(self, key: object, make: Callable[[], T]) -> T:
        """Something computed from the records alone, made once however many partitions ask for it.

        Records never change after standardisation, so what is derived from them never goes stale.
        """
        with _DERIVING:
            if key not in self._derived:
                self._derived[key] = make()
            return self._derived[key]  # type: ignore[return-value]

    def strings(self, column: str) -> np.ndarray:
        """A text column as Python strings ('' for missing)."""
        return self.derived(("strings", column), lambda: self.frame[column].astype(object).fillna("").to_numpy())


def _gather(tables: dict[str, pd.DataFrame], distinct_within: dict[str, str]) -> pd.DataFrame:
    """The person fields of every source, missing fields null, in a fixed source order.

    Columns keep their Arrow string type throughout: a round trip through Python
    objects costs more than everything else standardisation does.
    """
    frames = []
    for source in sorted(tables):
        table = tables[source].reset_index(drop=True)
        n = len(table)

        def column(name: str, dtype) -> pd.Series:
            return table[name].astype(dtype) if name in table else pd.Series(pd.NA, index=table.index, dtype=dtype)

        part = {"source": pd.Series(source, index=table.index, dtype=STRING), "record_id": column("record_id", STRING)}
        for name in PERSON_FIELDS:
            part[name] = column(name, "datetime64[ns]" if name == "dob" else STRING)
        part["family_id"] = column("family_id", STRING)
        event_column = distinct_within.get(source)
        events = column(event_column, STRING) if event_column else pd.Series(pd.NA, index=table.index, dtype=STRING)
        part["event"] = (source + ":" + events).astype(STRING)
        frames.append(pd.DataFrame(part, index=pd.RangeIndex(n)))
    frame = pd.concat(frames, ignore_index=True)
    frame["source"] = frame["source"].astype("category")
    # Ingest has already done this; doing it again costs little and lets any table be linked.
    for name in ("nino", "nhs_number", "upn"):
        frame[name] = clean_identifier(frame[name])
    frame["postcode"] = normalise_postcode(frame["postcode"])
    return frame


PLACEHOLDER_SURNAMES = 5
PLACEHOLDER_GROUP_LIMIT = 100


REPEATED_DIGIT = "|".join(f"{digit}{{10}}" for digit in range(10))


def repeated_digit_placeholders(values: pd.Series) -> np.ndarray:
    """NHS numbers of one digit repeated (0000000000, 2222222222, ...): several pass modulus 11, but systems
    use them as stand-ins for an unknown number, never as anyone's own."""
    text = values.astype(STRING)
    return text.str.fullmatch(REPEATED_DIGIT).fillna(False).to_numpy(dtype=bool)


def _placeholder_identifiers(frame: pd.DataFrame, column: str, valid: np.ndarray) -> set[str]:
    """Identifiers (NINOs, NHS numbers) that clearly different people carry within one extract: stand-ins,
    not identifiers.

    Two records are clearly different people when their surnames are unlike
    (Jaro-Winkler below 0.8, and not the other's forename), their forenames are
    unlike, and their dates of birth (where both are known) are more than a year apart.
    """
    # Distinct name and birth date combinations only: a person with forty police incidents is one row here.
    carried = (frame.loc[valid, ["source", column, "forename", "surname", "dob"]].rename(columns={column: "nino"})
               .drop_duplicates())
    shared = carried[carried.duplicated(["source", "nino"], keep=False)]
    if shared.empty:
        return set()
    # A number carried under many surnames is a stand-in without comparing them pair by pair (a stand-in
    # like AA000000A can sit on thousands of records); the rest are compared within bounded groups.
    surnames = shared.groupby(["source", "nino"], observed=True)["surname"].nunique()
    obvious = surnames[surnames >= PLACEHOLDER_SURNAMES].index
    keys = pd.MultiIndex.from_frame(shared[["source", "nino"]])
    rest = shared[~keys.isin(obvious)].groupby(["source", "nino"], observed=True).head(PLACEHOLDER_GROUP_LIMIT)
    placeholders = set(obvious.get_level_values("nino"))
    pairs = rest.reset_index().merge(rest.reset_index(), on=["source", "nino"], suffixes=("_a", "_b"))
    pairs = pairs[pairs["index_a"] < pairs["index_b"]]

    def unlike(a: pd.Series, b: pd.Series) -> np.ndarray:
        left, right = a.fillna("").to_numpy(dtype=str), b.fillna("").to_numpy(dtype=str)
        similarity = cpdist(left, right, scorer=JaroWinkler.normalized_similarity, workers=-1)
        return (similarity < 0.8) & (left != "") & (right != "")

    years_apart = (pairs["dob_a"] - pairs["dob_b"]).abs().dt.days.to_numpy() > 366
    dob_unknown = (pairs["dob_a"].isna() | pairs["dob_b"].isna()).to_numpy()
    different = (
        unlike(pairs["surname_a"], pairs["surname_b"])
        & unlike(pairs["surname_a"], pairs["forename_b"])
        & unlike(pairs["forename_a"], pairs["forename_b"])
        & (years_apart | dob_unknown)
    )
    return placeholders | set(pairs.loc[different, "nino"].unique())


def _codes(values: pd.Series, vocabulary: pd.Index) -> np.ndarray:
    return vocabulary.get_indexer(values.astype(object).where(values.notna(), None)).astype(np.int32)


def _factorise(values: pd.Series) -> np.ndarray:
    codes, _ = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int32)


def _identifier(frame: pd.DataFrame, column: str, valid: np.ndarray, placeholders: set[str] | None = None) -> tuple[pd.Series, pd.Series]:
    values = frame[column]
    present = values.notna().to_numpy()
    status = np.where(~present, "missing", np.where(valid, "valid", "invalid")).astype(object)
    usable = valid.copy()
    if placeholders:
        is_placeholder = values.isin(placeholders).fillna(False).to_numpy(dtype=bool) & valid
        status[is_placeholder] = "placeholder"
        usable &= ~is_placeholder
    return values.where(usable), pd.Series(status, index=frame.index, dtype="category")


def standardise(tables: dict[str, pd.DataFrame], latest_birth: date,
                distinct_within: Mapping[str, str]) -> PersonRecords:
    """Person records from the ingested tables of every source.

    `latest_birth` is the last plausible date of birth (the run's reference
    date): a date of birth after it, or before 1900, is not used.
    `distinct_within` names, per source, the column of an event that lists
    each person once (a police incident): its records are different people.
    """
    raw = _gather(tables, distinct_within)
    out = raw[["source", "record_id", "family_id"]].copy()
    out["event_code"] = _factorise(raw["event"].astype(STRING))

    forename = standardise_forenames(raw["forename"])
    surnames = standardise_surnames(raw["surname"])
    out["forename"] = forename
    out = out.join(surnames)

    dob = raw["dob"]
    plausible = dob.between(pd.Timestamp(EARLIEST_BIRTH), pd.Timestamp(latest_birth))
    out["dob"] = dob.where(plausible)
    out["dob_int"] = (out["dob"].dt.year * 10000 + out["dob"].dt.month * 100 + out["dob"].dt.day).fillna(-1).astype(np.int32)
    out["birth_year"] = out["dob"].dt.year.fillna(-1).astype(np.int16)
    out["sex_code"] = raw["sex"].map(SEX_CODES).fillna(-1).astype(np.int8).to_numpy()

    nino_valid = nino_is_valid(raw["nino"])
    named = raw.assign(forename=forename, surname=surnames["surname"])
    placeholders = _placeholder_identifiers(named, "nino", nino_valid)
    out["nino"], out["nino_status"] = _identifier(raw, "nino", nino_valid, placeholders)
    nhs_valid = nhs_number_is_valid(raw["nhs_number"])
    nhs_placeholders = _placeholder_identifiers(named, "nhs_number", nhs_valid)
    nhs_placeholders |= set(raw["nhs_number"][nhs_valid & repeated_digit_placeholders(raw["nhs_number"])].unique())
    out["nhs_number"], out["nhs_status"] = _identifier(raw, "nhs_number", nhs_valid, nhs_placeholders)
    out["upn"], out["upn_status"] = _identifier(raw, "upn", upn_is_valid(raw["upn"]))
    postcode_ok = postcode_is_valid(raw["postcode"])
    out["postcode"] = raw["postcode"].where(postcode_ok)
    out["postcode_sector"] = postcode_sector(out["postcode"]).where(postcode_ok)
    out["postcode_district"] = postcode_district(out["postcode"]).where(postcode_ok)

    # One vocabulary for every name string, so forename and surname codes compare directly.
    groups = nickname_groups()
    distinct_forenames = pd.Series(forename.dropna().unique(), dtype=object)
    canonical_forms = {name: (groups.get(name) or (name,))[:NICKNAME_WIDTH] for name in distinct_forenames}
    words = pd.concat([
        distinct_forenames,
        pd.Series([c for forms in canonical_forms.values() for c in forms], dtype=object),
        surnames["surname"].dropna().astype(object),
        surnames["surname_part1"].dropna().astype(object),
        surnames["surname_part2"].dropna().astype(object),
    ])
    vocabulary = pd.Index(pd.unique(words))
    out["fn"] = _codes(forename, vocabulary)
    out["sn"] = _codes(surnames["surname"], vocabulary)
    out["sn_part1"] = _codes(surnames["surname_part1"], vocabulary)
    out["sn_part2"] = _codes(surnames["surname_part2"], vocabulary)
    for slot in range(NICKNAME_WIDTH):
        forms = forename.map(
            {name: forms[slot] if slot < len(forms) else None for name, forms in canonical_forms.items()},
            na_action="ignore",
        )
        out[f"nick{slot + 1}"] = _codes(forms, vocabulary)
    # Standardised names are upper-case A-Z: the initial is its place in the alphabet.
    out["initial_code"] = pd.Categorical(forename.str.slice(0, 1), categories=list(string.ascii_uppercase)).codes
    out["sn_phonetic"] = map_distinct(surnames["surname"].astype(object), phonetic).astype(STRING)

    for column in ("nino", "nhs_number", "upn", "postcode", "postcode_sector", "postcode_district"):
        out[f"{column}_code"] = _factorise(out[column])
    out["identity_key"] = identity_keys(out)
    return PersonRecords(out.reset_index(drop=True), vocabulary.to_numpy(dtype=object))


def identifier_quality(records: PersonRecords) -> dict[str, dict[str, dict[str, int]]]:
    """Per source, how many NINOs, NHS numbers and UPNs were valid, invalid, placeholders or missing."""
    frame = records.frame
    quality: dict[str, dict[str, dict[str, int]]] = {}
    for column in ("nino_status", "nhs_status", "upn_status"):
        counts = frame.groupby(["source", column], observed=True).size()
        for (source, status), count in counts.items():
            quality.setdefault(str(source), {}).setdefault(column.removesuffix("_status"), {})[str(status)] = int(count)
    return quality
