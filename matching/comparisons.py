"""What to compare: each comparison turns a pair of records into one level, for every pair at once.

A comparison is a small definition: a name and its levels in order of
strength. Each level is an object that carries the key code refers to it by
(`ForenameComparison.DIFFERENT`), the label people read in the model file,
the report and the review queue (generated from its threshold, so the two
cannot disagree), the condition a pair must meet to reach it, and, for name
levels, the column whose value frequency adjusts its weight. A pair takes the
first level whose condition holds; the last level has none and catches the
rest. Level -1 means a value is missing on one side: no evidence either way.

Conditions are vectorised over a `PairView`. String similarities are computed
with rapidfuzz `cpdist` once per distinct pair of values, not once per pair of
records, and what several levels share (a similarity, the swap test) is worked
out once per view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd
from rapidfuzz.distance import OSA, JaroWinkler
from rapidfuzz.process import cpdist

from matching.first_pass import FirstPass
from matching.pairs import pack_unordered, unpack
from matching.standardise import NICKNAME_WIDTH, PersonRecords

NO_EVIDENCE = -1


class PairView:
    """Column values for the left and right record of every pair, gathered on demand.

    In the second pass of a linkage the view also knows the first pass's persons (`first_pass`), which the
    household comparison needs; in the first pass it is None and that comparison has no evidence.
    """

    def __init__(self, records: PersonRecords, left: np.ndarray, right: np.ndarray,
                 first_pass: FirstPass | None = None):
        self.records = records
        self.left_index = left
        self.right_index = right
        self.first_pass = first_pass
        self._cache: dict[tuple[object, ...], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.left_index)

    def subset(self, positions: np.ndarray) -> PairView:
        """The view of some of these pairs (by position), for conditions that only those pairs still need."""
        return PairView(self.records, self.left_index[positions], self.right_index[positions], self.first_pass)

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

    def shared(self, key: tuple[object, ...], make: Callable[[], np.ndarray]) -> np.ndarray:
        """Something several levels of a view use, made once for the view."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def name_lengths(self) -> np.ndarray:
        """Length of each vocabulary word, with a trailing 0 that code -1 (missing) picks.

        Kept with the records, not the view: every partition and every subset of a view asks for it, and
        measuring a vocabulary of a million words each time cost seconds at scale."""
        vocabulary = self.records.vocabulary
        return self.records.derived(("name lengths",), lambda: np.r_[
            pd.Series(vocabulary, dtype=object).str.len().to_numpy(dtype=np.int64), 0])

    def similarity(self, left_codes: np.ndarray, right_codes: np.ndarray, strings: np.ndarray, scorer) -> np.ndarray:
        """A rapidfuzz score for each pair of codes (-1 = missing gives NaN), scored once per distinct pair."""
        result = np.full(len(left_codes), np.nan)
        present = (left_codes >= 0) & (right_codes >= 0)
        if not present.any():
            return result
        base = len(strings) + 1
        keys, distinct = pd.factorize(pack_unordered(left_codes[present], right_codes[present], base))
        first, second = unpack(np.asarray(distinct), base)
        scores = cpdist(strings[first], strings[second], scorer=scorer, workers=-1)
        result[present] = np.asarray(scores, dtype=float)[keys]
        return result

    def jaro_winkler(self, left_codes: np.ndarray, right_codes: np.ndarray) -> np.ndarray:
        return self.similarity(left_codes, right_codes, self.records.vocabulary, JaroWinkler.normalized_similarity)


Condition = Callable[[PairView], np.ndarray]


@dataclass(frozen=True)
class TermFrequency:
    """At this level, the weight uses how often the left record's `value` occurs among the records'
    `frequency` column, instead of the level's average u: a rare name agreeing says more than a common one."""

    value: str
    frequency: str


@dataclass(frozen=True)
class Level:
    """One outcome of a comparison: the key code uses, the label people read, and when a pair reaches it."""

    key: str
    label: str
    when: Condition | None = field(default=None, compare=False, repr=False)
    """None for the last level, which every pair that meets no earlier level reaches."""
    term_frequency: TermFrequency | None = None


@dataclass(frozen=True)
class Comparison:
    """A named comparison with ordered levels; subclasses say what the levels are and when a value is missing."""

    EXACT: ClassVar[str] = "exact"
    DIFFERENT: ClassVar[str] = "different"

    name: str

    @property
    def levels(self) -> tuple[Level, ...]:
        raise NotImplementedError

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        """Record columns that, agreeing, make this comparison agree at its top levels: a blocking rule on any
        of them finds pairs that cannot tell how often the same person's values agree."""
        raise NotImplementedError

    def missing(self, pairs: PairView) -> np.ndarray:
        raise NotImplementedError

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(level.label for level in self.levels)

    def index(self, key: str) -> int:
        """The position of a level by its key (ForenameComparison.DIFFERENT, ...)."""
        for position, level in enumerate(self.levels):
            if level.key == key:
                return position
        raise KeyError(f"comparison '{self.name}' has no level '{key}'")

    def compute(self, pairs: PairView) -> np.ndarray:
        """The level of every pair: the first whose condition holds, the last if none does, -1 if missing.

        Each level's condition is worked out only for the pairs no stronger level (nor a missing value) has
        already settled: most candidate pairs miss an identifier or agree exactly, and the costly conditions
        (slips, similarity, transpositions) then run on the few pairs left."""
        levels = self.levels
        level = np.full(len(pairs), len(levels) - 1, dtype=np.int8)
        missing = np.asarray(self.missing(pairs), dtype=bool)
        level[missing] = NO_EVIDENCE
        undecided = np.flatnonzero(~missing)
        view = pairs if len(undecided) == len(pairs) else pairs.subset(undecided)
        for position, candidate in enumerate(levels[:-1]):
            if not len(undecided):
                break
            holds = np.asarray(candidate.when(view), dtype=bool)
            level[undecided[holds]] = position
            if holds.any():
                rest = np.flatnonzero(~holds)
                undecided, view = undecided[rest], view.subset(rest)
        return level


def _similarity_label(threshold: float) -> str:
    return f"jaro-winkler >= {threshold:.2f}"


def _similar_label(threshold: float) -> str:
    return f"jaro-winkler >= {threshold:.2f} or one edit"


ONE_EDIT_SHORTEST = 3
"""A name of at least this many letters one edit (a letter changed, added, dropped, or two swapped) from
another is a typo of it, whatever its Jaro-Winkler score: IAN and AIN score 0.56."""


def _one_edit(pairs: PairView, column: str) -> np.ndarray:
    """The two names are one edit apart and both have at least ONE_EDIT_SHORTEST letters."""
    def make() -> np.ndarray:
        left, right = pairs.left(column), pairs.right(column)
        lengths = pairs.name_lengths
        long_enough = (lengths[left] >= ONE_EDIT_SHORTEST) & (lengths[right] >= ONE_EDIT_SHORTEST) & (left != right)
        distance = pairs.similarity(np.where(long_enough, left, -1), np.where(long_enough, right, -1),
                                    pairs.records.vocabulary, OSA.distance)
        return long_enough & (np.nan_to_num(distance, nan=9) <= 1)

    return pairs.shared(("one edit", column), make)


@dataclass(frozen=True)
class SpellingComparison(Comparison):
    """A comparison that grades near spellings by Jaro-Winkler similarity: close, then similar."""

    CLOSE: ClassVar[str] = "close"
    SIMILAR: ClassVar[str] = "similar"
    SWAPPED: ClassVar[str] = "swapped"

    close: float = 0.92
    similar: float = 0.80


def _name_similarity(pairs: PairView, left: str, right: str) -> np.ndarray:
    return pairs.shared(("jaro-winkler", left, right),
                        lambda: np.nan_to_num(pairs.jaro_winkler(pairs.left(left), pairs.right(right))))


def _swapped(pairs: PairView, threshold: float) -> np.ndarray:
    """Forename and surname swapped between the records, allowing a near miss on each.

    The same test serves the forename and the surname comparison, so it is worked out once per
    pair view; and only for pairs whose names disagree where they stand, since a swap is only
    looked for below every other name level.
    """
    def make() -> np.ndarray:
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
        return swapped

    return pairs.shared(("swapped", threshold), make)


def _codes_missing(pairs: PairView, column: str) -> np.ndarray:
    return (pairs.left(column) < 0) | (pairs.right(column) < 0)


@dataclass(frozen=True)
class ForenameComparison(SpellingComparison):
    """Forenames: exact, swapped with the surname, a nickname of each other, a close spelling, an initial, or a
    similar spelling, in order of strength. A swap means both names agree crosswise, so it sits next to exact;
    it is only telling when the names are rare as each other's field (THOMAS JAMES and JAMES THOMAS are usually
    two people), so it is adjusted by the forename's frequency among surnames."""

    NICKNAME: ClassVar[str] = "nickname"
    INITIAL: ClassVar[str] = "initial"

    name: str = "forename"

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.EXACT, "exact", lambda p: p.left("fn") == p.right("fn"), TermFrequency("fn", "fn")),
            Level(self.SWAPPED, "swapped with surname", lambda p: _swapped(p, self.close), TermFrequency("fn", "sn")),
            Level(self.NICKNAME, "nickname", _nickname, TermFrequency("nick1", "nick1")),
            Level(self.CLOSE, _similarity_label(self.close),
                  lambda p: ~_single_letter(p) & (_name_similarity(p, "fn", "fn") >= self.close)),
            Level(self.INITIAL, "initial",
                  lambda p: _single_letter(p) & (p.left("initial_code") == p.right("initial_code"))),
            Level(self.SIMILAR, _similar_label(self.similar),
                  lambda p: ~_single_letter(p) & ((_name_similarity(p, "fn", "fn") >= self.similar) | _one_edit(p, "fn"))),
            Level(self.DIFFERENT, "different"),
        )

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return ("fn", *(f"nick{slot}" for slot in range(1, NICKNAME_WIDTH + 1)), "name_pair")

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, "fn")


def _nickname(pairs: PairView) -> np.ndarray:
    """Any canonical form of one forename equals any canonical form of the other."""
    found = np.zeros(len(pairs), dtype=bool)
    for i in range(1, NICKNAME_WIDTH + 1):
        for j in range(1, NICKNAME_WIDTH + 1):
            a, b = pairs.left(f"nick{i}"), pairs.right(f"nick{j}")
            found |= (a >= 0) & (a == b)
    return found


def _single_letter(pairs: PairView) -> np.ndarray:
    """Either forename is a single letter (an initial)."""
    lengths = pairs.name_lengths
    return pairs.shared(("single letter",), lambda: (lengths[pairs.left("fn")] == 1) | (lengths[pairs.right("fn")] == 1))


@dataclass(frozen=True)
class SurnameComparison(SpellingComparison):
    PART: ClassVar[str] = "part"

    name: str = "surname"

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.EXACT, "exact", lambda p: p.left("sn") == p.right("sn"), TermFrequency("sn", "sn")),
            Level(self.SWAPPED, "swapped with forename", lambda p: _swapped(p, self.close), TermFrequency("sn", "fn")),
            Level(self.PART, "part of a double-barrelled name", _surname_part),
            Level(self.CLOSE, _similarity_label(self.close), lambda p: _name_similarity(p, "sn", "sn") >= self.close),
            Level(self.SIMILAR, _similar_label(self.similar),
                  lambda p: (_name_similarity(p, "sn", "sn") >= self.similar) | _one_edit(p, "sn")),
            Level(self.DIFFERENT, "different"),
        )

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return ("sn", "sn_part1", "sn_part2", "sn_phonetic", "name_pair")

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, "sn")


def _surname_part(pairs: PairView) -> np.ndarray:
    """Any part (or the whole) of one surname equals any part (or the whole) of the other."""
    columns = ("sn", "sn_part1", "sn_part2")
    found = np.zeros(len(pairs), dtype=bool)
    for a in (pairs.left(c) for c in columns):
        for b in (pairs.right(c) for c in columns):
            found |= (a >= 0) & (a == b)
    return found


@dataclass(frozen=True)
class DateOfBirthComparison(Comparison):
    TRANSPOSED: ClassVar[str] = "transposed"
    ONE_DIGIT: ClassVar[str] = "one digit"
    SAME_YEAR: ClassVar[str] = "same year"

    name: str = "dob"

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.EXACT, "exact", lambda p: p.left("dob_int") == p.right("dob_int")),
            Level(self.TRANSPOSED, "day and month transposed", _day_month_transposed),
            Level(self.ONE_DIGIT, "one digit off", lambda p: _differing_digits(p) == 1),
            Level(self.SAME_YEAR, "same year", lambda p: p.left("dob_int") // 10000 == p.right("dob_int") // 10000),
            Level(self.DIFFERENT, "different"),
        )

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return ("dob_int", "birth_year")

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, "dob_int")


def _day_month_transposed(pairs: PairView) -> np.ndarray:
    dl, dr = pairs.left("dob_int").astype(np.int64), pairs.right("dob_int").astype(np.int64)
    month_l, month_r, day_l, day_r = dl // 100 % 100, dr // 100 % 100, dl % 100, dr % 100
    return (dl // 10000 == dr // 10000) & (day_l == month_r) & (month_l == day_r) & (day_l != month_l)


def _differing_digits(pairs: PairView) -> np.ndarray:
    """How many of the eight digits of YYYYMMDD differ."""
    def make() -> np.ndarray:
        dl, dr = pairs.left("dob_int").astype(np.int64), pairs.right("dob_int").astype(np.int64)
        count = np.zeros(len(dl), dtype=np.int8)
        for power in 10 ** np.arange(8, dtype=np.int64):
            count += (dl // power) % 10 != (dr // power) % 10
        return count

    return pairs.shared(("differing digits",), make)


class _CodedText:
    """For a comparison of a text column that standardisation also codes (`<column>_code`, -1 missing)."""

    column: str

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return (f"{self.column}_code",)

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, f"{self.column}_code")

    def _same(self, pairs: PairView) -> np.ndarray:
        return pairs.left(f"{self.column}_code") == pairs.right(f"{self.column}_code")

    def _scores(self, pairs: PairView, wanted: np.ndarray, scorer) -> np.ndarray:
        """A rapidfuzz score between the two records' texts, for the `wanted` pairs (NaN elsewhere)."""
        return pairs.similarity(np.where(wanted, pairs.left_index, -1), np.where(wanted, pairs.right_index, -1),
                                pairs.records.strings(self.column), scorer)


@dataclass(frozen=True)
class IdentifierComparison(_CodedText, Comparison):
    """NINO, NHS number or UPN: only valid values reach here; a slip is a mistyped digit or a swapped pair.

    Two valid values of different people are many slips apart (two random NINOs almost never come within
    two), so one or two slips between otherwise agreeing records is a typing error; only a value further
    away is a different identifier."""

    ONE_SLIP: ClassVar[str] = "one slip"
    TWO_SLIPS: ClassVar[str] = "two slips"

    column: str = ""

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.EXACT, "exact", self._same),
            Level(self.ONE_SLIP, "one transposition or digit", lambda p: self._slips(p) == 1),
            Level(self.TWO_SLIPS, "two transpositions or digits", lambda p: self._slips(p) == 2),
            Level(self.DIFFERENT, "different"),
        )

    def _slips(self, pairs: PairView) -> np.ndarray:
        """How many edits apart the two values are (0 where they are equal or missing)."""
        def make() -> np.ndarray:
            check = ~self.missing(pairs) & ~self._same(pairs)
            if not check.any():
                return np.zeros(len(pairs), dtype=np.int64)
            return np.where(check, np.nan_to_num(self._scores(pairs, check, OSA.distance), nan=0), 0).astype(np.int64)

        return pairs.shared(("slips", self.column), make)


@dataclass(frozen=True)
class PostcodeComparison(Comparison):
    FULL: ClassVar[str] = "full"
    SECTOR: ClassVar[str] = "sector"
    DISTRICT: ClassVar[str] = "district"

    name: str = "postcode"

    @property
    def levels(self) -> tuple[Level, ...]:
        def same(column: str) -> Condition:
            return lambda p: p.left(column) == p.right(column)

        return (
            Level(self.FULL, "full", same("postcode_code")),
            Level(self.SECTOR, "sector", same("postcode_sector_code")),
            Level(self.DISTRICT, "district", same("postcode_district_code")),
            Level(self.DIFFERENT, "different"),
        )

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return ("postcode_code", "postcode_sector_code", "postcode_district_code")

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, "postcode_code")


@dataclass(frozen=True)
class ExactComparison(Comparison):
    """Any coded column (-1 missing): the same code or not."""

    SAME: ClassVar[str] = "same"

    column: str = ""

    @property
    def levels(self) -> tuple[Level, ...]:
        return (Level(self.SAME, "same", lambda p: p.left(self.column) == p.right(self.column)),
                Level(self.DIFFERENT, "different"))

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def missing(self, pairs: PairView) -> np.ndarray:
        return _codes_missing(pairs, self.column)


@dataclass(frozen=True)
class SexComparison(ExactComparison):
    """Recorded sex, M or F; U and X carry no evidence (the `sex_code` column holds -1 for them)."""

    name: str = "sex"
    column: str = "sex_code"


@dataclass(frozen=True)
class TextComparison(_CodedText, SpellingComparison):
    """Free text such as a street or a locality: exact, close, or different, by Jaro-Winkler."""

    column: str = ""

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.EXACT, "exact", self._same),
            Level(self.CLOSE, _similarity_label(self.close), lambda p: self._similarity(p) >= self.close),
            Level(self.SIMILAR, _similarity_label(self.similar), lambda p: self._similarity(p) >= self.similar),
            Level(self.DIFFERENT, "different"),
        )

    def _similarity(self, pairs: PairView) -> np.ndarray:
        return pairs.shared(("text similarity", self.column), lambda: np.nan_to_num(
            self._scores(pairs, ~self.missing(pairs), JaroWinkler.normalized_similarity)))


@dataclass(frozen=True)
class HouseholdComparison(Comparison):
    """Associative evidence: another member of one record's household context (its council family, housing
    event or police incident) is the same person as another member of the other record's.

    It says the two records belong to one household, not that they are one person: the name and date of
    birth still have to tell the members apart, and the household contradictions (twins, a parent and the
    child named after them) still hold. It has evidence only in a linkage's second pass, and only where both
    records share a context with someone."""

    LINKED: ClassVar[str] = "linked"
    UNLINKED: ClassVar[str] = "unlinked"

    name: str = "household"

    @property
    def levels(self) -> tuple[Level, ...]:
        return (
            Level(self.LINKED, "another member is linked", self._linked),
            Level(self.UNLINKED, "no other member is linked"),
        )

    @property
    def agreement_columns(self) -> tuple[str, ...]:
        return ()

    def missing(self, pairs: PairView) -> np.ndarray:
        if pairs.first_pass is None:
            return np.ones(len(pairs), dtype=bool)
        return ~pairs.first_pass.in_households(pairs.left_index, pairs.right_index)

    def _linked(self, pairs: PairView) -> np.ndarray:
        if pairs.first_pass is None:
            return np.zeros(len(pairs), dtype=bool)
        return pairs.first_pass.shared_household(pairs.left_index, pairs.right_index)


@dataclass(frozen=True)
class ComparisonLevels:
    """The level of every comparison for every pair: an (n_pairs, n_comparisons) int8 matrix."""

    matrix: np.ndarray
    names: tuple[str, ...]

    def column(self, name: str) -> np.ndarray:
        return self.matrix[:, self.names.index(name)]


def level_column(name: str) -> str:
    """The column of a scored-pair table that holds one comparison's level."""
    return f"level_{name}"


def compare(records: PersonRecords, left: np.ndarray, right: np.ndarray,
            comparisons: tuple[Comparison, ...], first_pass: FirstPass | None = None) -> ComparisonLevels:
    """Every comparison's level for every pair."""
    view = PairView(records, left, right, first_pass)
    matrix = np.empty((len(view), len(comparisons)), dtype=np.int8)
    for i, comparison in enumerate(comparisons):
        matrix[:, i] = comparison.compute(view)
    return ComparisonLevels(matrix, tuple(c.name for c in comparisons))


def levels_of(pairs: pd.DataFrame, comparisons: tuple[Comparison, ...]) -> ComparisonLevels:
    """The level matrix of scored pairs, read back from their level columns."""
    columns = [level_column(c.name) for c in comparisons]
    return ComparisonLevels(pairs[columns].to_numpy(dtype=np.int8), tuple(c.name for c in comparisons))
