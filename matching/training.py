"""Training the Fellegi-Sunter model without labels.

u (how often different people agree at each level) comes from pairs of
records drawn at random, almost all of which are different people.

m (how often the same person agrees at each level) comes from EM with u held
fixed, run in sessions: each session takes the pairs one blocking rule found
and leaves out the comparisons that rule forced to agree (pairs found on
surname and date of birth say nothing about how often a person's surname is
recorded right). Each comparison's m is the mean over the sessions that
estimated it. A session estimates a comparison only if EM saw enough matches
agreeing on it at its top level: where no true match ever carries the field on
both sides (NHS numbers held by one source with no duplicate people), the
only pairs with evidence are different people, such as twins, and EM would
learn that the same person's NHS numbers usually differ. Such a comparison
keeps its neutral starting m. Holding u fixed is what keeps EM from drifting: letting u float
over blocked pairs is how plain EM collapses on data like this.

EM runs over distinct patterns of levels, weighted by how often each occurs,
so a million pairs cost a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from matching.blocking import CandidatePairs
from matching.comparisons import Comparison, ComparisonLevels, compare
from matching.first_pass import FirstPass
from matching.model import ComparisonParameters, LevelParameters, LinkageModel, Thresholds, TrainingRecord
from matching.pairs import member, pair_keys
from matching.person_evidence import second_pass_evidence
from matching.review import DecisionsForRun
from matching.scoring import TermFrequencies
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords

M_FLOOR = 1e-6
MIN_AGREEING_MATCHES = 20.0
"""Expected matches agreeing at a comparison's top level a session needs before its m is trusted."""
PSEUDO_COUNT = 1.0
"""One imagined pair per level in each M step: with few pairs, a level nobody reached gets a small m
rather than none, and a single odd pair cannot swing a weight by twenty bits."""


@dataclass(frozen=True)
class EmResult:
    m: list[np.ndarray]
    match_share: float
    iterations: int
    converged: bool
    agreeing_matches: tuple[float, ...] = ()
    """Per comparison, the expected number of matches at its top level (under the last E step)."""


def _patterns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a level matrix and how often each occurs."""
    frame = pd.DataFrame(matrix)
    counts = frame.value_counts(sort=False)
    patterns = np.array(counts.index.tolist(), dtype=np.int8).reshape(len(counts), matrix.shape[1])
    return patterns, counts.to_numpy(dtype=np.float64)


def _log_likelihood(patterns: np.ndarray, params: list[np.ndarray], active: list[bool]) -> np.ndarray:
    total = np.zeros(len(patterns))
    for i, (table, use) in enumerate(zip(params, active)):
        if use:
            levels = patterns[:, i]
            total += np.where(levels >= 0, np.log(table[np.maximum(levels, 0)]), 0.0)
    return total


@dataclass(frozen=True)
class LabelledPairs:
    """Pairs an analyst decided, as record positions: one person (`match`) or two."""

    left: np.ndarray
    right: np.ndarray
    match: np.ndarray

    def __len__(self) -> int:
        return len(self.left)

    @classmethod
    def from_decisions(cls, decisions: DecisionsForRun) -> LabelledPairs:
        links, no_links = decisions.as_int64().links, decisions.as_int64().no_links
        return cls(np.r_[links[0], no_links[0]], np.r_[links[1], no_links[1]],
                   np.r_[np.ones(len(links[0]), bool), np.zeros(len(no_links[0]), bool)])

    @classmethod
    def none(cls) -> LabelledPairs:
        return cls(np.array([], np.int64), np.array([], np.int64), np.array([], bool))


def _labelled_counts(levels: np.ndarray, match: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the labelled pairs' levels, and how many of each are matches."""
    if not len(levels):
        return np.zeros((0, k), dtype=np.int8), np.zeros(0)
    patterns, inverse = np.unique(levels, axis=0, return_inverse=True)
    return patterns.astype(np.int8), np.bincount(inverse.ravel(), weights=match.astype(float), minlength=len(patterns))


def expectation_maximisation(
    levels: np.ndarray, u: list[np.ndarray], m_start: list[np.ndarray], active: list[bool],
    match_share: float = 0.5, max_iterations: int = 200, tolerance: float = 1e-7, update_m: bool = True,
    learning: list[bool] | None = None, labelled: np.ndarray | None = None, labels: np.ndarray | None = None,
) -> EmResult:
    """EM for m and the share of matches, with u fixed, over the active comparisons.

    With `update_m` off only the share of matches moves: the share under the m the model will use. With
    `learning`, every active comparison weighs in on which pairs are matches, but only those it marks learn
    their m (the others' m is already known). `labelled` rows (levels) with `labels` (an analyst's link or
    no link) are pairs whose answer is known: they count as matches or not, whatever the model thinks.
    """
    learning = active if learning is None else learning
    patterns, counts = _patterns(levels)
    known_patterns, known_matches = _labelled_counts(
        labelled if labelled is not None else np.zeros((0, levels.shape[1]), dtype=np.int8),
        labels if labels is not None else np.zeros(0, dtype=bool), levels.shape[1])
    known_total = float(len(labels)) if labels is not None else 0.0
    m = [table.copy() for table in m_start]
    log_u = _log_likelihood(patterns, u, active)
    converged = False
    iteration = 0
    for iteration in range(1, max_iterations + 1):
        log_m = _log_likelihood(patterns, m, active)
        log_odds = np.log(match_share) - np.log1p(-match_share) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        weight = counts * posterior
        change = 0.0
        for i, use in enumerate(learning):
            if not (use and update_m):
                continue
            column = patterns[:, i]
            present = column >= 0
            totals = np.bincount(column[present], weights=weight[present], minlength=len(m[i])) + PSEUDO_COUNT
            known = known_patterns[:, i]
            if len(known):
                totals += np.bincount(known[known >= 0], weights=known_matches[known >= 0], minlength=len(m[i]))
            updated = np.maximum(totals / totals.sum(), M_FLOOR)
            updated /= updated.sum()
            change = max(change, float(np.abs(updated - m[i]).max()))
            m[i] = updated
        new_share = float(np.clip((weight.sum() + known_matches.sum()) / (counts.sum() + known_total), 1e-9, 1 - 1e-9))
        change = max(change, abs(new_share - match_share))
        match_share = new_share
        if change < tolerance:
            converged = True
            break
    agreeing = tuple(float(weight[patterns[:, i] == 0].sum()) for i in range(len(m)))
    return EmResult(m, match_share, iteration, converged, agreeing)


def estimate_u(records: PersonRecords, comparisons: tuple[Comparison, ...], pairs: int, seed: int) -> tuple[list[np.ndarray], int]:
    """u from random pairs, with one pseudo-count per level so that no level is impossible."""
    n = len(records)
    rng = np.random.default_rng(seed)
    total = min(pairs, n * (n - 1) // 2)
    left = rng.integers(0, n, total)
    right = rng.integers(0, n - 1, total)
    right = np.where(right >= left, right + 1, right)  # never a record with itself
    levels = compare_in_chunks(records, CandidatePairs(left, right, np.zeros(len(left), np.int64), ()), comparisons)
    u = []
    for i, comparison in enumerate(comparisons):
        column = levels.matrix[:, i]
        counts = np.bincount(column[column >= 0], minlength=len(comparison.levels)).astype(np.float64)
        u.append((counts + 1.0) / (counts.sum() + len(comparison.levels)))
    return u, total


def neutral_m(comparison: Comparison) -> np.ndarray:
    """EM's start, and the m of a comparison no session could estimate: most weight on the top level, falling away."""
    start = 0.5 ** np.arange(len(comparison.levels), dtype=np.float64)
    start[0] *= 4
    return start / start.sum()


def training_sample(candidates: CandidatePairs, rule: str, limit: int, seed: int) -> np.ndarray:
    """The positions of (up to `limit` of) the pairs a rule found."""
    bit = 1 << candidates.rule_names.index(rule)
    found = np.flatnonzero(candidates.rules & bit)
    if len(found) > limit:
        found = np.sort(np.random.default_rng(seed).choice(found, limit, replace=False))
    return found


def estimate_prior(levels: ComparisonLevels, m: list[np.ndarray], u: list[np.ndarray], n_records: int) -> float:
    """The chance that two records drawn at random are the same person.

    EM over every candidate pair, with m and u fixed, estimates the share of
    candidate pairs that match; nearly every match is a candidate, so that
    many matches spread over all possible pairs is the prior.
    """
    active = [True] * len(m)
    result = expectation_maximisation(levels.matrix, u, m, active, match_share=0.1, update_m=False)
    expected_matches = result.match_share * len(levels.matrix)
    all_pairs = n_records * (n_records - 1) / 2
    return float(np.clip(expected_matches / all_pairs, 1e-12, 0.5))


def train(
    spec: LinkageSpec, records: PersonRecords, candidates: CandidatePairs, levels: ComparisonLevels,
    *, data_sha256: str, code_version: dict[str, object], trained_at: str, random_pairs: int = 2_000_000,
    session_pairs: int = 1_000_000, seed: int = 0, thresholds: Thresholds | None = None,
    labelled: LabelledPairs | None = None,
) -> LinkageModel:
    """A model trained on these records: u from random pairs, m by EM per session, then the prior.

    Pairs an analyst decided (`labelled`) join every session as known matches or non-matches, in place of
    the model's guess about them.
    """
    comparisons = spec.comparisons
    labelled = labelled or LabelledPairs.none()
    known = compare(records, labelled.left, labelled.right, comparisons).matrix if len(labelled) else None
    decided = member(pair_keys(candidates.left, candidates.right, len(records)),
                     pair_keys(labelled.left, labelled.right, len(records)))
    u, sampled = estimate_u(records, comparisons, random_pairs, seed)
    names = [c.name for c in comparisons]
    estimates: dict[str, list[np.ndarray]] = {name: [] for name in names}
    session_log: list[dict[str, object]] = []
    for session in spec.training_sessions:
        if session.rule not in candidates.rule_names:
            continue
        chosen = training_sample(candidates, session.rule, session_pairs, seed)
        chosen = chosen[~decided[chosen]]  # a decided pair counts once, as what the analyst said it is
        if len(chosen) < 50:
            session_log.append({"rule": session.rule, "pairs": int(len(chosen)), "skipped": "too few pairs"})
            continue
        fixed = spec.fixed_by(session.rule)
        active = [name not in fixed for name in names]
        result = expectation_maximisation(
            levels.matrix[chosen], u, [neutral_m(c) for c in comparisons], active, match_share=0.5,
            labelled=known, labels=labelled.match if known is not None else None,
        )
        without_evidence = []
        for name, use, table, agreeing in zip(names, active, result.m, result.agreeing_matches):
            if not use:
                continue
            if agreeing >= MIN_AGREEING_MATCHES:
                estimates[name].append(table)
            else:
                without_evidence.append(name)
        session_log.append({
            "rule": session.rule, "fixed": list(fixed), "pairs": int(len(chosen)),
            "match_share": round(result.match_share, 6),
            "iterations": result.iterations, "converged": result.converged,
            "not_estimated": without_evidence,
        })
    m = []
    for comparison in comparisons:
        found = estimates[comparison.name]
        m.append(np.mean(found, axis=0) if found else neutral_m(comparison))
    pooled = {}
    for i, comparison in enumerate(comparisons):
        m[i], groups = monotone_levels(m[i], u[i])
        if groups:
            pooled[comparison.name] = [[comparison.labels[j] for j in group] for group in groups]
    if pooled:
        session_log.append({"rule": "monotone weights", "pooled": pooled})
    if len(labelled):
        session_log.append({"rule": "analysts' decisions", "links": int(labelled.match.sum()),
                            "no_links": int((~labelled.match).sum())})
    prior = estimate_prior(levels, m, u, len(records))
    parameters = tuple(
        ComparisonParameters(
            name=comparison.name,
            levels=tuple(
                LevelParameters(label=label, m=float(max(m_i[j], M_FLOOR)), u=float(u_i[j]))
                for j, label in enumerate(comparison.labels)
            ),
            tf_levels=tuple(level.label for level in comparison.levels if level.term_frequency is not None),
        )
        for comparison, m_i, u_i in zip(comparisons, m, u)
    )
    return LinkageModel(
        prior=prior, comparisons=parameters, thresholds=thresholds or Thresholds(),
        blocking_rules=candidates.rule_names,
        training=TrainingRecord(
            trained_at=trained_at, code_version=code_version, data_sha256=data_sha256, records=len(records),
            candidate_pairs=len(candidates), random_pairs=sampled, sessions=tuple(session_log),
        ),
    )


def monotone_levels(m: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """m adjusted so that no weaker level weighs more than a stronger one, and the groups of levels pooled.

    Levels run from the strongest agreement to disagreement. Where EM leaves a weaker level with more weight
    than a stronger one (a swapped name above an exact one, a NINO with a slip above an exact NINO), the
    adjacent levels in breach are pooled as one (pool-adjacent-violators on the weights, each level weighted
    by its u): they share one weight, log2 of their summed m over their summed u, and their m keeps its total.
    """
    blocks: list[list[int]] = []
    for level in range(len(m)):
        blocks.append([level])
        while len(blocks) > 1:
            previous, last = blocks[-2], blocks[-1]
            if np.log2(m[previous].sum() / u[previous].sum()) >= np.log2(m[last].sum() / u[last].sum()):
                break
            blocks[-2:] = [previous + last]
    adjusted = m.copy()
    for block in blocks:
        if len(block) > 1:
            adjusted[block] = m[block].sum() * u[block] / u[block].sum()
    return adjusted, [block for block in blocks if len(block) > 1]


def compare_in_chunks(records: PersonRecords, candidates: CandidatePairs, comparisons: tuple[Comparison, ...],
                      chunk: int = 1_000_000) -> ComparisonLevels:
    """Every candidate pair's levels, a million pairs at a time: the levels are small, the columns
    gathered to compute them are not."""
    matrix = np.empty((len(candidates), len(comparisons)), dtype=np.int8)
    for start in range(0, len(candidates), chunk):
        stop = min(start + chunk, len(candidates))
        matrix[start:stop] = compare(records, candidates.left[start:stop], candidates.right[start:stop], comparisons).matrix
    return ComparisonLevels(matrix, tuple(c.name for c in comparisons))


def train_household(spec: LinkageSpec, model: LinkageModel, records: PersonRecords, candidates: CandidatePairs,
                    first: FirstPass, tf: TermFrequencies, *, random_pairs: int = 2_000_000, seed: int = 0,
                    chunk: int = 1_000_000, labelled: LabelledPairs | None = None) -> LinkageModel:
    """The household comparison's m and u, learnt like the others once a first pass has found persons.

    u comes from random pairs of records (two strangers almost never have linked household members); m from
    EM over the candidate pairs' second-pass evidence, every other comparison weighing in with its m and u
    as trained, and only the household's m learning.
    """
    household = spec.household
    index = spec.comparisons.index(household)
    n = len(records)
    rng = np.random.default_rng([seed, 7])
    total = min(random_pairs, n * (n - 1) // 2)
    left = rng.integers(0, n, total)
    right = rng.integers(0, n - 1, total)
    right = np.where(right >= left, right + 1, right)
    random_levels = np.concatenate([
        compare(records, left[start:start + chunk], right[start:start + chunk], (household,), first).matrix[:, 0]
        for start in range(0, total, chunk)
    ]) if total else np.array([], dtype=np.int8)
    counts = np.bincount(random_levels[random_levels >= 0], minlength=len(household.levels)).astype(np.float64)
    u_household = (counts + 1.0) / (counts.sum() + len(household.levels))

    matrix = np.concatenate([
        second_pass_evidence(spec, model, tf, records, candidates.left[start:start + chunk],
                             candidates.right[start:start + chunk], first).levels.matrix
        for start in range(0, len(candidates), chunk)
    ]) if len(candidates) else np.zeros((0, len(spec.comparisons)), dtype=np.int8)
    m = [np.array([level.m for level in params.levels]) for params in model.comparisons]
    u = [np.array([level.u for level in params.levels]) for params in model.comparisons]
    u[index] = u_household
    m[index] = neutral_m(household)
    labelled = labelled or LabelledPairs.none()
    known = second_pass_evidence(spec, model, tf, records, labelled.left, labelled.right, first).levels.matrix \
        if len(labelled) else None
    if known is not None:
        decided = member(pair_keys(candidates.left, candidates.right, n), pair_keys(labelled.left, labelled.right, n))
        matrix = matrix[~decided]
    result = expectation_maximisation(matrix, u, m, [True] * len(m), match_share=0.1,
                                      learning=[i == index for i in range(len(m))], labelled=known,
                                      labels=labelled.match if known is not None else None)
    estimated = result.agreeing_matches[index] >= MIN_AGREEING_MATCHES
    m_household = result.m[index] if estimated else neutral_m(household)
    parameters = list(model.comparisons)
    parameters[index] = ComparisonParameters(
        name=household.name,
        levels=tuple(LevelParameters(label=label, m=float(max(m_i, M_FLOOR)), u=float(u_i))
                     for label, m_i, u_i in zip(household.labels, m_household, u_household)),
    )
    session = {"rule": "second pass: household", "pairs": int(len(matrix)), "random_pairs": int(total),
               "match_share": round(result.match_share, 6), "iterations": result.iterations,
               "converged": result.converged, "not_estimated": [] if estimated else [household.name]}
    training = model.training.model_copy(update={"sessions": model.training.sessions + (session,)})
    return model.model_copy(update={"comparisons": tuple(parameters), "training": training})
