"""Second-pass evidence: a record against every record of its candidate person, and the household.

In the first pass each candidate pair is compared on its own two records. In
the second, a pair whose records the first pass put in two different persons
is compared person to person: every record of one against every record of
the other, and for each comparison the strongest evidence any of those pairs
gives (a present value before a missing one, then the highest weight). A
police record with no date of birth and an old address thereby meets the
housing record that had that address, and a child recorded under a
step-parent's surname meets the school record that used it. Pairs already in
one person keep their own records' evidence.

A contradiction is read from the same evidence: forenames differ only if no
record of one person shares a forename with any record of the other, and a
generation apart only if every pair of known birth years is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.comparisons import NO_EVIDENCE, ComparisonLevels, compare
from matching.first_pass import FirstPass
from matching.model import LinkageModel
from matching.pairs import KeyIndex, pack, pack_unordered
from matching.scoring import Scores, TermFrequencies, decide, household_may_count, same_event, weight_matrix
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords

PERSON_RECORDS_CAP = 40
"""A person with more records than this (a frequent name in the police extract) is compared by the candidate
record alone: its cross product would cost more than it tells."""


@dataclass(frozen=True)
class PairEvidence:
    levels: ComparisonLevels
    weights: np.ndarray
    """Per pair and comparison, the weight of the evidence chosen."""
    year_gap: np.ndarray
    """The smallest gap between the two sides' known birth years (-1 where unknown)."""
    apart: np.ndarray
    """Some record of one side and some record of the other are listed in one event: two people."""
    birthday_tells_apart: np.ndarray
    """The two sides share a date of birth that nobody else in either's households has: no twin there."""

    def scores(self, spec: LinkageSpec, model: LinkageModel) -> Scores:
        return decide(spec, model, self.levels, self.weights.sum(axis=1), self.year_gap, self.apart,
                      self.birthday_tells_apart)


@dataclass(frozen=True)
class FirstPassLevels:
    """The first pass's levels for one partition's candidate pairs, all of them (not only those it kept).

    Person to person, the second pass compares again every candidate pair it is given, and more besides:
    looked up here, those pairs are not compared twice."""

    index: KeyIndex
    """The partition's (left, right) record positions, packed."""
    levels: np.ndarray
    """(pairs, comparisons) int8, every comparison of the spec, in the partition's order."""
    base: int

    @classmethod
    def of(cls, left: np.ndarray, right: np.ndarray, levels: np.ndarray, n_records: int) -> FirstPassLevels:
        return cls(KeyIndex(pack(left, right, n_records)), levels, n_records)

    def find(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """The row of each (left, right) record pair, in that order; -1 where the first pass did not compare it."""
        return self.index.find(pack(left, right, self.base))


def _expand(left: np.ndarray, right: np.ndarray, first: FirstPass) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every record pair between the two sides' persons: (pair number, left record, right record).

    A pair within one person, or with a side too large to expand, keeps its own two records for that side.
    """
    labels = first.labels
    order, starts, sizes = first.members
    person_l, person_r = labels[left], labels[right]
    across = person_l != person_r
    size_l = np.where(across & (sizes[person_l] <= PERSON_RECORDS_CAP), sizes[person_l], 1)
    size_r = np.where(across & (sizes[person_r] <= PERSON_RECORDS_CAP), sizes[person_r], 1)
    count = size_l * size_r
    pair = np.repeat(np.arange(len(left)), count)
    position = np.arange(len(pair)) - np.repeat(np.cumsum(count) - count, count)
    width = size_r[pair]
    index_l, index_r = position // width, position % width
    records_l = np.where(size_l[pair] > 1, order[starts[person_l[pair]] + index_l], left[pair])
    records_r = np.where(size_r[pair] > 1, order[starts[person_r[pair]] + index_r], right[pair])
    return pair, records_l, records_r


def _best_per_pair(levels: np.ndarray, weights: np.ndarray, starts: np.ndarray,
                   rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pair's rows (contiguous, from `starts`; `rows` numbers each row's pair): a present level before
    a missing one, then the highest weight, then the strongest level; the chosen level and its weight."""
    key = np.where(levels == NO_EVIDENCE, weights - 1e9, weights)
    best = np.maximum.reduceat(key, starts)
    at_best = key == best[rows]
    chosen_level = np.minimum.reduceat(np.where(at_best, levels, np.int8(127)), starts)
    chosen_level = np.where(chosen_level == 127, NO_EVIDENCE, chosen_level).astype(np.int8)
    chosen_weight = np.where(best < -1e8, best + 1e9, best)
    return chosen_level, chosen_weight


def second_pass_evidence(spec: LinkageSpec, model: LinkageModel, tf: TermFrequencies, records: PersonRecords,
                         left: np.ndarray, right: np.ndarray, first: FirstPass,
                         known: FirstPassLevels | None = None) -> PairEvidence:
    """Each pair's levels, weights and birth-year gap from the records of the two first-pass persons.

    The evidence between two persons is the same for every candidate pair of their records, so it is
    worked out once per two persons and shared; a pair within one person keeps its own.
    """
    left, right = np.asarray(left).astype(np.int64), np.asarray(right).astype(np.int64)
    labels = first.labels
    within = labels[left] == labels[right]
    persons = pack_unordered(labels[left], labels[right], len(labels) + 1)
    unit_key = np.where(within, -1 - np.arange(len(left)), persons)
    unit, first_of_unit = pd.factorize(unit_key)
    representative = pd.Series(np.arange(len(left))).groupby(unit).first().to_numpy() if len(left) \
        else np.array([], dtype=np.int64)
    evidence = _unit_evidence(spec, model, tf, records, left[representative], right[representative], first, known)
    return PairEvidence(
        ComparisonLevels(evidence.levels.matrix[unit], evidence.levels.names), evidence.weights[unit],
        evidence.year_gap[unit], evidence.apart[unit], evidence.birthday_tells_apart[unit],
    )


def _per_record_levels(spec: LinkageSpec, records: PersonRecords, records_l: np.ndarray, records_r: np.ndarray,
                       comparisons: tuple, known: FirstPassLevels | None) -> np.ndarray:
    """Each record pair's levels: taken from the first pass where it compared the same two records, the same
    way round (the same comparisons give the same levels), and compared here for the rest."""
    if known is None:
        return compare(records, records_l, records_r, comparisons).matrix
    position = known.find(records_l, records_r)
    hit = position >= 0
    matrix = np.empty((len(records_l), len(comparisons)), dtype=np.int8)
    matrix[hit] = known.levels[np.ix_(position[hit], [spec.comparisons.index(c) for c in comparisons])]
    if not hit.all():
        miss = ~hit
        matrix[miss] = compare(records, records_l[miss], records_r[miss], comparisons).matrix
    return matrix


def _unit_evidence(spec: LinkageSpec, model: LinkageModel, tf: TermFrequencies, records: PersonRecords,
                   left: np.ndarray, right: np.ndarray, first: FirstPass,
                   known: FirstPassLevels | None = None) -> PairEvidence:
    pair, records_l, records_r = _expand(left, right, first)
    n, k = len(left), len(spec.comparisons)
    household = spec.household
    per_record = tuple(c for c in spec.comparisons if c is not household)
    matrix = np.empty((len(pair), k), dtype=np.int8)
    if per_record:
        by_record = _per_record_levels(spec, records, records_l, records_r, per_record, known)
        for position, comparison in enumerate(per_record):
            matrix[:, spec.comparisons.index(comparison)] = by_record[:, position]
    if household is not None:
        # The household is a relation between the two persons: worked out once per pair, not per record pair.
        household_level = compare(records, left, right, (household,), first).matrix[:, 0]
        matrix[:, spec.comparisons.index(household)] = household_level[pair]
    expanded = ComparisonLevels(matrix, tuple(c.name for c in spec.comparisons))
    weights = weight_matrix(spec, expanded, model, tf, records_l, records)
    levels = np.full((n, k), NO_EVIDENCE, dtype=np.int8)
    chosen_weights = np.zeros((n, k), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if len(pair) else np.array([], dtype=np.int64)
    if len(starts):
        rows = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(pair)]))
        for column in range(k):
            levels[:, column], chosen_weights[:, column] = _best_per_pair(matrix[:, column], weights[:, column],
                                                                          starts, rows)
    dob = records.codes("dob_int")
    dob_l, dob_r = dob[records_l], dob[records_r]
    shared = (dob_l >= 0) & (dob_l == dob_r)
    twin = shared & (first.twin_at_home[records_l] | first.twin_at_home[records_r])
    any_shared = np.maximum.reduceat(shared.astype(np.int8), starts).astype(bool) if len(starts) else shared[:0]
    any_twin = np.maximum.reduceat(twin.astype(np.int8), starts).astype(bool) if len(starts) else twin[:0]
    birthday_tells_apart = any_shared & ~any_twin
    if household is not None:
        # Household evidence counts only where the forename or the date of birth tells the members apart.
        column = spec.comparisons.index(household)
        silent = ~household_may_count(spec, ComparisonLevels(levels, expanded.names), birthday_tells_apart)
        levels[silent, column] = NO_EVIDENCE
        chosen_weights[silent, column] = 0.0
    listed_together = same_event(records, records_l, records_r)
    apart = np.maximum.reduceat(listed_together.astype(np.int8), starts).astype(bool) if len(starts) \
        else np.zeros(0, dtype=bool)
    years = records.codes("birth_year").astype(np.int32)
    year_l, year_r = years[records_l], years[records_r]
    gap = np.where((year_l >= 0) & (year_r >= 0), np.abs(year_l - year_r), np.iinfo(np.int32).max)
    smallest = np.minimum.reduceat(gap, starts) if len(starts) else np.array([], dtype=np.int32)
    year_gap = np.where(smallest == np.iinfo(np.int32).max, -1, smallest)
    return PairEvidence(ComparisonLevels(levels, expanded.names), chosen_weights, year_gap, apart,
                        birthday_tells_apart)
