"""What to compare: each comparison turns a pair of records into one level, for every pair at once.

A comparison is a small definition (a name, its levels in order of strength)
plus a vectorised function over a `PairView`. Level -1 means a value is
missing on one side: it is no evidence either way and carries no weight.
String similarities are computed with rapidfuzz `cpdist` once per distinct
pair of values, not once per pair of records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from matching.standardise import NICKNAME_WIDTH, PersonRecords

NO_EVIDENCE = -1


class PairView:
    """Column values for the left and right record of every pair, gathered on demand."""

    def __init__(self, records: PersonRecords, left: np.ndarray, right: np.ndarray):
        self.records = records
        self.left_index = left
        self.right_index = right
        self._cache: dict[tuple[object, ...], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.left_index)

    def left(self, column: str) -> np.ndarray:
        return self._side(column, "left")

    def right(self, column: str) -> np.ndarray:
        return self._side(column, "right")

    def _side(self, column: str, side: str) -> np.ndarray:
        key = (column, side)
        if key not in self._cache:
            index = self.left_index if side == "left" else self.right_index
            self._cache[key] = self.records.frame[column].to_numpy()[index]
        return self._cache[key]

    @cached_property
    def name_lengths(self) -> np.ndarray:
        """Length of each vocabulary word, with a trailing 0 that code -1 (missing) picks."""
        return np.r_[pd.Series(self.records.vocabulary, dtype=object).str.len().to_numpy(dtype=np.int64), 0]

    def similarity(self, left_codes: np.ndarray, right_codes: np.ndarray, strings: np.ndarray, scorer) -> np.ndarray:
        """A rapidfuzz score for each pair of codes (-1 = missing gives NaN), scored once per distinct pair."""
        result = np.full(len(left_codes), np.nan)
        present = (left_codes >= 0) & (right_codes >= 0)
        if not present.any():
            return result
        a, b = left_codes[present].astype(np.int64), right_codes[present].astype(np.int64)
        low, high = np.minimum(a, b), np.maximum(a, b)
        keys, distinct = pd.factorize(low * (len(strings) + 1) + high)
        first = np.asarray(distinct) // (len(strings) + 1)
        second = np.asarray(distinct) % (len(strings) + 1)
        scores = cpdist(strings[first], strings[second], scorer=scorer, workers=-1)
        result[present] = np.asarray(scores, dtype=float)[keys]
        return result

    def jaro_winkler(self, left_codes: np.ndarray, right_codes: np.ndarray) -> np.ndarray:
        return self.similarity(left_codes, right_codes, self.records.vocabulary, JaroWinkler.normalized_similarity)


@dataclass(frozen=True)
class Comparison:
    """A named comparison with ordered levels; subclasses say how a pair gets its level."""

    name: str
    levels: tuple[str, ...]
    tf_levels: tuple[tuple[str, str, str], ...] = ()
    """(level, value column, frequency column): at that level, the weight uses how often the left
    record's value (value column) occurs in the frequency column, instead of the level's average u."""

    def compute(self, pairs: PairView) -> np.ndarray:
        raise NotImplementedError

    def _select(self, missing: np.ndarray, conditions: list[np.ndarray]) -> np.ndarray:
        """The first level whose condition holds; the last level when none does."""
        assert len(conditions) == len(self.levels) - 1
        level = np.select(conditions, np.arange(len(conditions)), default=len(self.levels) - 1).astype(np.int8)
        level[missing] = NO_EVIDENCE
        return level


@dataclass(frozen=True)
class ForenameComparison(Comparison):
    name: str = "forename"
    levels: tuple[str, ...] = (
        "exact", "nickname", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80", "initial", "swapped with surname",
        "different",
    )
    # A swap is only telling when the names are rare as each other's field: THOMAS JAMES and JAMES THOMAS
    # are usually two people.
    tf_levels: tuple[tuple[str, str, str], ...] = (
        ("exact", "fn", "fn"), ("nickname", "nick1", "nick1"), ("swapped with surname", "fn", "sn"),
    )
    strong: float = 0.92
    weak: float = 0.80

    def compute(self, pairs: PairView) -> np.ndarray:
        fl, fr = pairs.left("fn"), pairs.right("fn")
        missing = (fl < 0) | (fr < 0)
        exact = fl == fr
        nickname = np.zeros(len(pairs), dtype=bool)
        for i in range(1, NICKNAME_WIDTH + 1):
            for j in range(1, NICKNAME_WIDTH + 1):
                a, b = pairs.left(f"nick{i}"), pairs.right(f"nick{j}")
                nickname |= (a >= 0) & (a == b)
        lengths = pairs.name_lengths
        single = (lengths[fl] == 1) | (lengths[fr] == 1)
        initial = single & (pairs.left("initial") == pairs.right("initial"))
        similarity = np.nan_to_num(pairs.jaro_winkler(fl, fr))
        swap = _swapped(pairs, self.strong)
        return self._select(missing, [
            exact, nickname, ~single & (similarity >= self.strong), ~single & (similarity >= self.weak), initial, swap,
        ])


@dataclass(frozen=True)
class SurnameComparison(Comparison):
    name: str = "surname"
    levels: tuple[str, ...] = (
        "exact", "part of a double-barrelled name", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80",
        "swapped with forename", "different",
    )
    tf_levels: tuple[tuple[str, str, str], ...] = (("exact", "sn", "sn"), ("swapped with forename", "sn", "fn"))
    strong: float = 0.92
    weak: float = 0.80

    def compute(self, pairs: PairView) -> np.ndarray:
        sl, sr = pairs.left("sn"), pairs.right("sn")
        missing = (sl < 0) | (sr < 0)
        left_parts = [sl, pairs.left("sn_part1"), pairs.left("sn_part2")]
        right_parts = [sr, pairs.right("sn_part1"), pairs.right("sn_part2")]
        part = np.zeros(len(pairs), dtype=bool)
        for a in left_parts:
            for b in right_parts:
                part |= (a >= 0) & (a == b)
        similarity = np.nan_to_num(pairs.jaro_winkler(sl, sr))
        swap = _swapped(pairs, self.strong)
        return self._select(missing, [sl == sr, part, similarity >= self.strong, similarity >= self.weak, swap])


def _swapped(pairs: PairView, threshold: float) -> np.ndarray:
    """Forename and surname swapped between the records, allowing a near miss on each.

    The same test serves the forename and the surname comparison, so it is worked out once per
    pair view; and only for pairs whose names disagree where they stand, since a swap is only
    looked for below every other name level.
    """
    key = ("swapped", threshold)
    if key not in pairs._cache:
        fl, fr, sl, sr = pairs.left("fn"), pairs.right("fn"), pairs.left("sn"), pairs.right("sn")
        present = (fl >= 0) & (fr >= 0) & (sl >= 0) & (sr >= 0)
        candidates = present & (fl != fr) & (sl != sr)
        swapped = np.zeros(len(pairs), dtype=bool)
        if candidates.any():
            index = np.flatnonzero(candidates)
            forward = (fl[index] == sr[index]) | (np.nan_to_num(pairs.jaro_winkler(fl[index], sr[index])) >= threshold)
            keep = index[forward]
            backward = (sl[keep] == fr[keep]) | (np.nan_to_num(pairs.jaro_winkler(sl[keep], fr[keep])) >= threshold)
            swapped[keep[backward]] = True
        pairs._cache[key] = swapped
    return pairs._cache[key]


@dataclass(frozen=True)
class DateOfBirthComparison(Comparison):
    name: str = "dob"
    levels: tuple[str, ...] = ("exact", "day and month transposed", "one digit off", "same year", "different")

    def compute(self, pairs: PairView) -> np.ndarray:
        dl, dr = pairs.left("dob_int").astype(np.int64), pairs.right("dob_int").astype(np.int64)
        missing = (dl == 0) | (dr == 0)
        year_l, year_r = dl // 10000, dr // 10000
        month_l, month_r = dl // 100 % 100, dr // 100 % 100
        day_l, day_r = dl % 100, dr % 100
        transposed = (year_l == year_r) & (day_l == month_r) & (month_l == day_r) & (day_l != month_l)
        differing_digits = np.zeros(len(dl), dtype=np.int8)
        for power in 10 ** np.arange(8, dtype=np.int64):
            differing_digits += (dl // power) % 10 != (dr // power) % 10
        return self._select(missing, [dl == dr, transposed, differing_digits == 1, year_l == year_r])


@dataclass(frozen=True)
class IdentifierComparison(Comparison):
    """NINO, NHS number or UPN: only valid values reach here; one slip is a mistyped digit or swapped pair."""

    column: str = ""
    levels: tuple[str, ...] = ("exact", "one transposition or digit", "different")

    def compute(self, pairs: PairView) -> np.ndarray:
        codes_l, codes_r = pairs.left(f"{self.column}_code"), pairs.right(f"{self.column}_code")
        missing = (codes_l < 0) | (codes_r < 0)
        exact = codes_l == codes_r
        near = np.zeros(len(pairs), dtype=bool)
        check = ~missing & ~exact
        if check.any():
            strings = pairs.records.strings(self.column)
            distance = pairs.similarity(
                np.where(check, pairs.left_index, -1), np.where(check, pairs.right_index, -1), strings, OSA.distance
            )
            near = check & (np.nan_to_num(distance, nan=9) == 1)
        return self._select(missing, [exact, near])


@dataclass(frozen=True)
class PostcodeComparison(Comparison):
    name: str = "postcode"
    levels: tuple[str, ...] = ("full", "sector", "district", "different")

    def compute(self, pairs: PairView) -> np.ndarray:
        full_l, full_r = pairs.left("postcode_code"), pairs.right("postcode_code")
        missing = (full_l < 0) | (full_r < 0)
        sector = pairs.left("postcode_sector_code") == pairs.right("postcode_sector_code")
        district = pairs.left("postcode_district_code") == pairs.right("postcode_district_code")
        return self._select(missing, [full_l == full_r, sector, district])


@dataclass(frozen=True)
class SexComparison(Comparison):
    name: str = "sex"
    levels: tuple[str, ...] = ("same", "different")

    def compute(self, pairs: PairView) -> np.ndarray:
        sl, sr = pairs.left("sex"), pairs.right("sex")
        return self._select((sl == 0) | (sr == 0), [sl == sr])


@dataclass(frozen=True)
class ExactComparison(Comparison):
    """Any coded column: the same code or not (-1 is missing)."""

    column: str = ""
    levels: tuple[str, ...] = ("same", "different")

    def compute(self, pairs: PairView) -> np.ndarray:
        a, b = pairs.left(self.column), pairs.right(self.column)
        return self._select((a < 0) | (b < 0), [a == b])


@dataclass(frozen=True)
class TextComparison(Comparison):
    """Free text such as a street or a locality: exact, close, or different, by Jaro-Winkler."""

    column: str = ""
    levels: tuple[str, ...] = ("exact", "jaro-winkler >= 0.92", "jaro-winkler >= 0.80", "different")
    strong: float = 0.92
    weak: float = 0.80

    def compute(self, pairs: PairView) -> np.ndarray:
        codes_l, codes_r = pairs.left(f"{self.column}_code"), pairs.right(f"{self.column}_code")
        missing = (codes_l < 0) | (codes_r < 0)
        strings = pairs.records.strings(self.column)
        similarity = np.nan_to_num(pairs.similarity(
            np.where(missing, -1, pairs.left_index), np.where(missing, -1, pairs.right_index), strings,
            JaroWinkler.normalized_similarity,
        ))
        return self._select(missing, [codes_l == codes_r, similarity >= self.strong, similarity >= self.weak])


DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    ForenameComparison(),
    SurnameComparison(),
    DateOfBirthComparison(),
    IdentifierComparison(name="nino", column="nino"),
    IdentifierComparison(name="nhs_number", column="nhs_number"),
    IdentifierComparison(name="upn", column="upn"),
    PostcodeComparison(),
    SexComparison(),
)


@dataclass(frozen=True)
class ComparisonLevels:
    """The level of every comparison for every pair: an (n_pairs, n_comparisons) int8 matrix."""

    matrix: np.ndarray
    names: tuple[str, ...]

    def column(self, name: str) -> np.ndarray:
        return self.matrix[:, self.names.index(name)]

    def take(self, index: np.ndarray) -> ComparisonLevels:
        return ComparisonLevels(self.matrix[index], self.names)


def compare(records: PersonRecords, left: np.ndarray, right: np.ndarray,
            comparisons: tuple[Comparison, ...] = DEFAULT_COMPARISONS) -> ComparisonLevels:
    """Every comparison's level for every pair."""
    view = PairView(records, left, right)
    matrix = np.empty((len(view), len(comparisons)), dtype=np.int8)
    for i, comparison in enumerate(comparisons):
        matrix[:, i] = comparison.compute(view)
    return ComparisonLevels(matrix, tuple(c.name for c in comparisons))
