"""Fellegi-Sunter scoring: a match weight per pair, a probability, and a decision.

The weight of a pair is the sum over comparisons of log2(m/u) for the level
the pair reached, with name agreement weighted by how rare the name is (term
frequency), and nothing for a missing value. The probability applies the
model's prior to that weight.

Fellegi-Sunter treats the comparisons as independent, which people in one
household are not: twins share surname, date of birth and address and differ
only in forename; a father and a son named after him share everything but the
date of birth. Summed independent weights would link them. The contradictions
below are the pairs that no amount of shared household evidence may link
without an agreeing identifier; they are rejected, and counted in the report.
Levels are found by their keys (`ForenameComparison.DIFFERENT`), never by the
label text people read.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd

from matching.comparisons import (
    NO_EVIDENCE,
    ComparisonLevels,
    DateOfBirthComparison,
    ForenameComparison,
    HouseholdComparison,
    IdentifierComparison,
    PostcodeComparison,
    SurnameComparison,
)
from matching.model import LinkageModel
from matching.pairs import pack
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords


class Decision(IntEnum):
    REJECT = 0
    REVIEW = 1
    ACCEPT = 2


@dataclass(frozen=True)
class TermFrequencies:
    """For each term-frequency-adjusted level, the share of records carrying each value (by code);
    and for whole names (forename with surname), the share of people carrying each."""

    tables: dict[tuple[str, str], tuple[str, np.ndarray]]
    """(comparison, level key) -> (value column, frequency of each code in the frequency column)."""
    name_keys: np.ndarray
    """Sorted whole-name keys (`_whole_name_key`)."""
    name_frequency: np.ndarray

    @classmethod
    def of(cls, records: PersonRecords, spec: LinkageSpec) -> TermFrequencies:
        """The records' frequencies, counted once for every partition scored from the same records."""
        return records.derived(("term frequencies", spec), lambda: cls.from_records(records, spec))

    @classmethod
    def from_records(cls, records: PersonRecords, spec: LinkageSpec) -> TermFrequencies:
        tables = {}
        for comparison in spec.comparisons:
            for level in comparison.levels:
                if level.term_frequency is None:
                    continue
                codes = records.codes(level.term_frequency.frequency)
                present = codes[codes >= 0]
                counts = np.bincount(present, minlength=len(records.vocabulary))
                tables[(comparison.name, level.key)] = (level.term_frequency.value, counts / max(len(present), 1))
        keys, frequency = _whole_name_frequency(records) if spec.names else (np.array([], np.int64), np.array([]))
        return cls(tables, keys, frequency)


def _whole_name_key(records: PersonRecords, positions: np.ndarray) -> np.ndarray:
    """Forename code and surname code as one ordered key (-1 where either is missing)."""
    fn = records.codes("fn")[positions].astype(np.int64)
    sn = records.codes("sn")[positions].astype(np.int64)
    return np.where((fn >= 0) & (sn >= 0), pack(fn, sn, len(records.vocabulary) + 1), -1)


def _whole_name_frequency(records: PersonRecords) -> tuple[np.ndarray, np.ndarray]:
    """How many people carry each whole name, as a share of all people.

    Names are not independent (a family's naming tradition ties forename to
    surname), so a whole name is often commoner than its parts' frequencies
    multiplied. People are approximated by distinct name and date of birth, so
    that one person's many records do not count as many people; a record
    without a date of birth cannot tell one person from another and adds none.
    """
    keys = _whole_name_key(records, np.arange(len(records)))
    people = pd.DataFrame({"name": keys, "dob": records.codes("dob_int")})
    people = people[(people["name"] >= 0) & (people["dob"] >= 0)].drop_duplicates()
    counts = people["name"].value_counts().sort_index()
    # The chance that *another* person carries the name: a name only one person has gives no correction.
    return counts.index.to_numpy(np.int64), (counts.to_numpy(np.float64) - 1) / max(len(people), 1)


@dataclass(frozen=True)
class Scores:
    weight: np.ndarray
    probability: np.ndarray
    decision: np.ndarray
    contradiction: np.ndarray
    """Bit mask of the contradictions each pair showed (0 = none)."""


@dataclass(frozen=True)
class Contradiction:
    name: str
    why: str


CONTRADICTIONS = (
    Contradiction("identifiers conflict", "two different valid NINOs, NHS numbers or UPNs are two people"),
    Contradiction(
        "forenames differ", "twins and siblings share surname, date of birth and address; only the forename tells them apart",
    ),
    Contradiction(
        "a generation apart", "a parent and a child can share a (nearly) identical name and an address, not a birth year",
    ),
    Contradiction(
        "listed apart", "a council family, a housing event or a police incident lists each person once, so two of "
                        "its records are two people",
    ),
    Contradiction(
        "a sibling's name", "in one household, a similar forename with another date of birth is a brother or "
                            "sister, not a typing error in both",
    ),
)


FORENAMES_DIFFER = 1 << [c.name for c in CONTRADICTIONS].index("forenames differ")
ALIAS_REVIEW = 0.8
"""A pair whose only contradiction is its forenames goes to an analyst from this probability (or the review
threshold, if higher): below it, it is more often a twin or a sibling than an alias."""
ALIAS_WITHOUT_BIRTHDAY_REVIEW = 0.98
"""With no date of birth on one side to tell an alias from another member of the household, such a pair goes to
an analyst only from this probability. On the synthetic extracts about one in twelve of these pairs were one
person (under realistic difficulty; one in 150 under the standard one) at any probability: the analysts' time
goes to the strongest of them, and the review queue stays within about 1.5 % of the records."""
LISTED_APART = 1 << [c.name for c in CONTRADICTIONS].index("listed apart")


def same_event(records: PersonRecords, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The two records are listed in one event (a family, a housing event, an incident)."""
    events = records.codes("event_code")
    return (events[left] >= 0) & (events[left] == events[right])


def household_may_count(spec: LinkageSpec, levels: ComparisonLevels, birthday_tells_apart: np.ndarray) -> np.ndarray:
    """Where household evidence may add to a pair's weight: only where something still tells the household's
    members apart.

    That two records belong to one household says nothing about which member each is: siblings share
    surname and address, and a sister's similar name or another birthday must not become one person through
    the household. So the household counts where the forenames agree (exactly or as a nickname), or where
    the two share a date of birth nobody else in their households has (so the forename is an alias, not a
    twin's); and in either case only where the dates of birth do not disagree.
    """
    if spec.names is None or spec.household is None:
        return np.zeros(len(levels.matrix), dtype=bool)
    forename = spec.comparison(spec.names.forename)
    level = levels.column(forename.name)
    agrees = ((level != NO_EVIDENCE) & (level <= forename.index(ForenameComparison.NICKNAME))) | birthday_tells_apart
    dob = next((c for c in spec.comparisons if isinstance(c, DateOfBirthComparison)), None)
    if dob is not None:
        dob_level = levels.column(dob.name)
        agrees &= (dob_level == NO_EVIDENCE) | (dob_level <= dob.index(DateOfBirthComparison.ONE_DIGIT))
    return agrees


def level_weights(model: LinkageModel) -> list[np.ndarray]:
    """Per comparison, the weight of each level, with a trailing 0 for 'no evidence' (index -1)."""
    return [np.array([level.weight for level in c.levels] + [0.0]) for c in model.comparisons]


def weight_matrix(spec: LinkageSpec, levels: ComparisonLevels, model: LinkageModel, tf: TermFrequencies,
                  left: np.ndarray, records: PersonRecords) -> np.ndarray:
    """Each pair's weight per comparison (n_pairs x n_comparisons), term frequencies applied."""
    weights = np.empty(levels.matrix.shape, dtype=np.float64)
    for i, (comparison, params, table) in enumerate(zip(spec.comparisons, model.comparisons, level_weights(model))):
        column_levels = levels.matrix[:, i]
        weights[:, i] = table[column_levels]
        for index, level in enumerate(comparison.levels):
            found = tf.tables.get((comparison.name, level.key))
            if found is None:
                continue
            record_column, frequency = found
            at_level = np.flatnonzero(column_levels == index)
            codes = records.codes(record_column)[left[at_level]]
            # The chance that two different people share this value is its frequency, not the average u.
            u_value = np.maximum(frequency[np.maximum(codes, 0)], 1.0 / max(len(records), 1))
            weights[at_level, i] = np.log2(params.levels[index].m / u_value)
    if spec.names is not None:
        _whole_name_correction(spec, weights, levels, model, tf, left, records)
    return weights


def _whole_name_correction(spec: LinkageSpec, weights: np.ndarray, levels: ComparisonLevels, model: LinkageModel,
                           tf: TermFrequencies, left: np.ndarray, records: PersonRecords) -> None:
    """Where forename and surname both agree exactly, weigh the whole name by its own frequency when
    that is higher than its parts' frequencies multiplied (the adjustment only ever lowers a weight)."""
    if not len(tf.name_keys):
        return
    forename, surname = spec.comparison(spec.names.forename), spec.comparison(spec.names.surname)
    f, s = levels.names.index(forename.name), levels.names.index(surname.name)
    exact_f, exact_s = forename.index(ForenameComparison.EXACT), surname.index(SurnameComparison.EXACT)
    both = np.flatnonzero((levels.matrix[:, f] == exact_f) & (levels.matrix[:, s] == exact_s))
    if not len(both):
        return
    keys = _whole_name_key(records, left[both])
    position = np.minimum(np.searchsorted(tf.name_keys, keys), len(tf.name_keys) - 1)
    found = tf.name_keys[position] == keys
    whole = np.where(found, tf.name_frequency[position], 0.0)
    m = model.comparisons[f].levels[exact_f].m * model.comparisons[s].levels[exact_s].m
    parts = weights[both, f] + weights[both, s]
    as_whole = np.where(whole > 0, np.log2(m / np.maximum(whole, 1e-300)), np.inf)
    weights[both, s] += np.minimum(as_whole - parts, 0.0)


def year_gaps(records: PersonRecords, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The gap between the two records' birth years (-1 where either is unknown)."""
    years = records.codes("birth_year").astype(np.int32)
    year_l, year_r = years[left], years[right]
    return np.where((year_l >= 0) & (year_r >= 0), np.abs(year_l - year_r), -1)


def identifier_agreement(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """An agreeing identifier (NINO, NHS number, UPN) vouches for the pair.

    One slip (a digit mistyped, two swapped) between two valid identifiers is a typo, not two people:
    random NINOs are almost never one slip apart.
    """
    agrees = np.zeros(len(levels.matrix), dtype=bool)
    for name in spec.identifiers.agreeing:
        level = levels.column(name)
        agrees |= (level != NO_EVIDENCE) & (level <= spec.comparison(name).index(IdentifierComparison.ONE_SLIP))
    return agrees


def contradictions(spec: LinkageSpec, levels: ComparisonLevels, year_gap: np.ndarray, apart: np.ndarray,
                   alias_possible: np.ndarray | None = None) -> np.ndarray:
    """A bit per contradiction (in CONTRADICTIONS order) for each pair; `apart`: listed in one event.

    `alias_possible`: the pair shares a household and a date of birth no one else in it has, so a forename
    that differs is another name of the same person, not a twin's.
    """
    n = len(levels.matrix)
    identifier_agrees = identifier_agreement(spec, levels)
    identifier_conflict = np.zeros(n, dtype=bool)
    for name in spec.identifiers.conflicting:
        identifier_conflict |= levels.column(name) == spec.comparison(name).index(IdentifierComparison.DIFFERENT)
    forenames_differ = np.zeros(n, dtype=bool)
    generation = np.zeros(n, dtype=bool)
    sibling = np.zeros(n, dtype=bool)
    if spec.households is not None:
        forename, surname = spec.comparison(spec.names.forename), spec.comparison(spec.names.surname)
        forename_level, surname_level = levels.column(forename.name), levels.column(surname.name)
        forenames_differ = (forename_level == forename.index(ForenameComparison.DIFFERENT)) & ~identifier_agrees
        if alias_possible is not None:
            forenames_differ &= ~alias_possible
        forename_agrees = (forename_level != NO_EVIDENCE) & (forename_level <= forename.index(ForenameComparison.CLOSE))
        surname_agrees = (surname_level != NO_EVIDENCE) & (surname_level <= surname.index(SurnameComparison.CLOSE))
        far_apart = year_gap >= spec.households.generation_gap_years
        generation = forename_agrees & surname_agrees & far_apart & ~identifier_agrees
        fuzzy = fuzzy_forename(spec, levels)
        dob = spec.comparison_of(DateOfBirthComparison)
        if dob is not None:
            dob_level = levels.column(dob.name)
            other_birthday = (dob_level != NO_EVIDENCE) & (dob_level >= dob.index(DateOfBirthComparison.SAME_YEAR))
            sibling = fuzzy & other_birthday & surname_agrees & same_place(spec, levels) & ~identifier_agrees
    return (identifier_conflict.astype(np.int8) | (forenames_differ.astype(np.int8) << 1)
            | (generation.astype(np.int8) << 2) | (np.asarray(apart, dtype=np.int8) << 3)
            | (sibling.astype(np.int8) << 4))


def birthday_agrees(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """Both dates of birth are there and agree, allowing a slip (a digit, or day and month swapped).

    An alias keeps its owner's date of birth. With another one, a second forename beside the same surname at
    one address is another member of the household; with none to compare, see ALIAS_WITHOUT_BIRTHDAY_REVIEW."""
    dob = spec.comparison_of(DateOfBirthComparison)
    if dob is None:
        return np.ones(len(levels.matrix), dtype=bool)
    level = levels.column(dob.name)
    return (level != NO_EVIDENCE) & (level < dob.index(DateOfBirthComparison.SAME_YEAR))


def birthday_missing(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """One side or both has no date of birth to compare."""
    dob = spec.comparison_of(DateOfBirthComparison)
    if dob is None:
        return np.zeros(len(levels.matrix), dtype=bool)
    return levels.column(dob.name) == NO_EVIDENCE


def fuzzy_forename(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """The forenames are alike but not the same name: close or similar spellings, an initial, or swapped."""
    forename = spec.comparison(spec.names.forename)
    level = levels.column(forename.name)
    return (level > forename.index(ForenameComparison.NICKNAME)) & (level < forename.index(ForenameComparison.DIFFERENT))


def same_place(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """The two records are at one address (the same full postcode) or in one household (linked members)."""
    found = np.zeros(len(levels.matrix), dtype=bool)
    postcode = spec.comparison_of(PostcodeComparison)
    if postcode is not None:
        found |= levels.column(postcode.name) == postcode.index(PostcodeComparison.FULL)
    if spec.household is not None:
        found |= levels.column(spec.household.name) == spec.household.index(HouseholdComparison.LINKED)
    return found


def household_caution(spec: LinkageSpec, levels: ComparisonLevels) -> np.ndarray:
    """Pairs only an analyst may link: in one household, a forename alike but not the same, and no date of
    birth on one side to tell a brother or sister from a typing error (ISLA and ISABELLA, LAURA and LUNA)."""
    if spec.households is None or spec.names is None:
        return np.zeros(len(levels.matrix), dtype=bool)
    dob = spec.comparison_of(DateOfBirthComparison)
    no_birthday = levels.column(dob.name) == NO_EVIDENCE if dob is not None else np.ones(len(levels.matrix), bool)
    surname = spec.comparison(spec.names.surname)
    surname_level = levels.column(surname.name)
    surname_agrees = (surname_level != NO_EVIDENCE) & (surname_level <= surname.index(SurnameComparison.CLOSE))
    return fuzzy_forename(spec, levels) & no_birthday & surname_agrees & same_place(spec, levels)


def _settle_like_analysts(spec: LinkageSpec, model: LinkageModel, levels: ComparisonLevels, weight: np.ndarray,
                          decision: np.ndarray, contradiction: np.ndarray) -> None:
    """Pairs for review that the model's classifier of analysts' decisions is sure of are settled its way.

    That includes pairs whose only contradiction is their forenames (an alias or a twin): analysts decide
    those every month, so where the classifier has learnt which they call one person, it lifts the
    contradiction for that pair."""
    classifier = model.review_classifier
    band = np.flatnonzero((decision == Decision.REVIEW) & ((contradiction == 0) | (contradiction == FORENAMES_DIFFER)))
    if classifier is None or not len(band):
        return
    probability = classifier.probability(spec.comparisons, ComparisonLevels(levels.matrix[band], levels.names),
                                         weight[band])
    if classifier.accept_at is not None:
        accepted = band[probability >= classifier.accept_at]
        decision[accepted] = Decision.ACCEPT
        contradiction[accepted] = 0
    if classifier.reject_at is not None:
        decision[band[probability <= classifier.reject_at]] = Decision.REJECT


def probability_from_weight(weight: np.ndarray, prior: float) -> np.ndarray:
    prior_bits = np.log2(prior / (1 - prior))
    return 1.0 / (1.0 + np.exp2(-(weight + prior_bits)))


def score(spec: LinkageSpec, levels: ComparisonLevels, model: LinkageModel, tf: TermFrequencies,
          left: np.ndarray, right: np.ndarray, records: PersonRecords) -> Scores:
    """The scores of pairs compared record to record."""
    weight = weight_matrix(spec, levels, model, tf, left, records).sum(axis=1)
    return decide(spec, model, levels, weight, year_gaps(records, left, right), same_event(records, left, right))


def decide(spec: LinkageSpec, model: LinkageModel, levels: ComparisonLevels, weight: np.ndarray,
           year_gap: np.ndarray, apart: np.ndarray, birthday_tells_apart: np.ndarray | None = None) -> Scores:
    """Probability, contradictions and decision from each pair's levels, total weight, birth-year gap and
    whether one event lists the two apart; in a second pass, whether a shared birthday tells them apart."""
    probability = probability_from_weight(weight, model.prior)
    alias_possible = None
    if birthday_tells_apart is not None and spec.household is not None:
        linked = levels.column(spec.household.name) == spec.household.index(HouseholdComparison.LINKED)
        alias_possible = birthday_tells_apart & linked
    contradiction = contradictions(spec, levels, year_gap, apart, alias_possible)
    decision = np.where(
        probability >= model.thresholds.accept, Decision.ACCEPT,
        np.where(probability >= model.thresholds.review, Decision.REVIEW, Decision.REJECT),
    ).astype(np.int8)
    # A pair that differs only in forename but would otherwise be accepted or reviewed is an alias or a twin:
    # an analyst decides. Every other contradiction is two people.
    alias_or_twin = ((contradiction == FORENAMES_DIFFER) & (probability >= max(model.thresholds.review, ALIAS_REVIEW))
                     & (birthday_agrees(spec, levels)
                        | (birthday_missing(spec, levels) & (probability >= ALIAS_WITHOUT_BIRTHDAY_REVIEW))))
    decision[contradiction != 0] = Decision.REJECT
    decision[alias_or_twin] = Decision.REVIEW
    decision[household_caution(spec, levels) & (decision == Decision.ACCEPT)] = Decision.REVIEW
    _settle_like_analysts(spec, model, levels, weight, decision, contradiction)
    return Scores(weight, probability, decision, contradiction)
