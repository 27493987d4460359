"""From accepted links to persons, without ever joining two people who cannot be one.

How it works:

1. **Cannot-links.** A scored pair that showed a contradiction (different valid
   NINOs or NHS numbers; clearly different forenames with nothing else to tell
   them apart; the same name a generation apart) is a cannot-link, and so are
   two records listed in one housing event or one police incident: those two
   records are never in one person, whatever path joins them.
2. **Ambiguous records.** When a record's accepted links reach two records
   that cannot be one person (a father's housing record with no date of birth
   matches both the father and the son named after him), the record is
   ambiguous. If the two links are within `ambiguity_bits` of each other, both
   go to review; otherwise only the stronger is kept.
3. **Components.** Connected components of the accepted links give the
   candidate persons, computed with scipy in one pass.
4. **Splitting.** Only a component that breaks a constraint (two valid NINOs
   or NHS numbers more than two slips apart, or a cannot-link inside it) is rebuilt: its
   links are added strongest first, and a link that would join two groups that
   cannot be one person is left out. The strongest evidence wins, and what was
   left out is counted.

Duplicates within one source are people too: nothing here treats two records
of the same source differently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from rapidfuzz.distance import OSA
from scipy.sparse.csgraph import connected_components

from matching.pairs import distinct, member, pair_keys, pairs_within_blocks


@dataclass(frozen=True)
class Links:
    """Accepted links between records: positions, match weight and probability."""

    left: np.ndarray
    right: np.ndarray
    weight: np.ndarray
    probability: np.ndarray
    vouched: np.ndarray | None = None
    """Links an agreeing identifier (or an analyst) vouches for: they may join records a generation apart."""

    def __len__(self) -> int:
        return len(self.left)


@dataclass(frozen=True)
class OnePerPerson:
    """An identifier a person holds one value of (a NINO, an NHS number), allowing for typing slips.

    Two values a slip or two apart (a digit mistyped, two swapped) are one value typed twice; random values
    of two people are almost never that close. Only values further apart make two people.
    """

    codes: np.ndarray
    """Each record's value as a code (-1 for none)."""
    values: np.ndarray
    """The text of each code."""
    slips: int = 2

    def compatible(self, a: int, b: int) -> bool:
        return a == b or OSA.distance(self.values[a], self.values[b]) <= self.slips

    def all_compatible(self, codes: set[int]) -> bool:
        ordered = sorted(codes)
        return all(self.compatible(a, b) for i, a in enumerate(ordered) for b in ordered[i + 1:])


@dataclass(frozen=True)
class GenerationSpan:
    """A person's records may not give birth years a generation apart, unless an identifier vouches for the link
    that would make them one: otherwise a chain through a record with no date of birth can join a baby to an
    adult (a baby's record, a police record of the same name with none, the father's)."""

    years: np.ndarray
    """Each record's birth year (-1 unknown)."""
    gap: int

    def spans(self, labels: np.ndarray) -> pd.Series:
        known = self.years >= 0
        years = pd.Series(self.years[known]).groupby(labels[known])
        return years.max() - years.min()


@dataclass(frozen=True)
class Clusters:
    labels: np.ndarray
    """A cluster number per record (0..n_clusters-1), in order of each cluster's first record."""
    kept: np.ndarray
    """For each input link: kept (True) or left out to respect a constraint or an ambiguity."""
    to_review: np.ndarray
    """For each input link: demoted to review because it was ambiguous."""
    components_split: int
    links_left_out: int


EVENT_SIZE_CAP = 2_000


def same_event_pairs(event_codes: np.ndarray, cap: int = EVENT_SIZE_CAP) -> tuple[np.ndarray, np.ndarray, int]:
    """Every pair of records listed in one event (one incident, one housing event): always two people.

    An event listing more than `cap` records (a million pairs at the default)
    is more likely a reused reference than one incident; it gives no pairs and
    is counted, third in the result, so the run reports it.
    """
    codes = event_codes.astype(np.int64)
    left, right, oversized = pairs_within_blocks(codes, cap)
    return left, right, len(distinct(codes[oversized]))


def resolve_ambiguity(links: Links, cannot_link: tuple[np.ndarray, np.ndarray], n: int, ambiguity_bits: float
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Which links survive (keep) and which go to review, for records whose links reach two people."""
    keep = np.ones(len(links), dtype=bool)
    review = np.zeros(len(links), dtype=bool)
    if not len(links) or not len(cannot_link[0]):
        return keep, review
    record, other = np.r_[links.left, links.right], np.r_[links.right, links.left]
    weight, link = np.r_[links.weight, links.weight], np.r_[np.arange(len(links)), np.arange(len(links))]
    # Only links reaching a record under a cannot-link can clash: two of them from one record, each pair of
    # them once (the record's links are its block), the one to the lower-numbered record first.
    constrained = np.zeros(n, dtype=bool)
    constrained[cannot_link[0]] = constrained[cannot_link[1]] = True
    rows = np.flatnonzero(constrained[other])
    first, second, _ = pairs_within_blocks(record[rows], max(len(rows), 2))
    first, second = rows[first], rows[second]
    lower = other[first] < other[second]
    a, b = np.where(lower, first, second), np.where(lower, second, first)
    forbidden = pair_keys(cannot_link[0], cannot_link[1], n)
    clash = member(pair_keys(other[a], other[b], n), forbidden) & (other[a] != other[b])
    for row_a, row_b in zip(a[clash].tolist(), b[clash].tolist()):
        gap = weight[row_a] - weight[row_b]
        if abs(gap) < ambiguity_bits:
            review[[link[row_a], link[row_b]]] = True
        else:
            keep[link[row_b] if gap > 0 else link[row_a]] = False
    return keep & ~review, review


def cluster(
    n_records: int,
    links: Links,
    cannot_link: tuple[np.ndarray, np.ndarray],
    identifiers: list[OnePerPerson],
    ambiguity_bits: float = 3.0,
    generation: GenerationSpan | None = None,
) -> Clusters:
    """Persons from accepted links, honouring cannot-links, one valid NINO / NHS number per person and, with
    `generation`, no person spanning a generation of birth years without an identifier to vouch for it."""
    keep, review = resolve_ambiguity(links, cannot_link, n_records, ambiguity_bits)
    used = np.flatnonzero(keep)
    graph = coo_matrix(
        (np.ones(len(used)), (links.left[used], links.right[used])), shape=(n_records, n_records)
    )
    _, labels = connected_components(graph, directed=False)

    conflicted = set()
    for identifier in identifiers:
        has = identifier.codes >= 0
        held = pd.DataFrame({"label": labels[has], "code": identifier.codes[has]}).drop_duplicates()
        several = held[held["label"].duplicated(keep=False)]
        for label, codes in several.groupby("label")["code"]:
            if not identifier.all_compatible(set(codes.tolist())):
                conflicted.add(label)
    a, b = cannot_link
    inside = labels[a] == labels[b]
    conflicted.update(distinct(labels[a[inside]]).tolist())
    if generation is not None:
        spans = generation.spans(labels)
        conflicted.update(spans.index[spans >= generation.gap].tolist())

    split = 0
    left_out = 0
    if conflicted:
        split = len(conflicted)
        labels, dropped = _rebuild(labels, links, used, conflicted, cannot_link, identifiers, generation)
        keep[dropped] = False
        left_out = len(dropped)

    return Clusters(numbered_by_first_record(labels), keep, review, split, left_out)


def numbered_by_first_record(labels: np.ndarray) -> np.ndarray:
    """Clusters renumbered 0.. in order of their first record, so that numbering depends on the persons
    alone, not on the graph library or on how the work was split."""
    seen, first_seen = np.unique(labels, return_index=True)
    order = np.argsort(first_seen)
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return renumber[np.searchsorted(seen, labels)]


def _rebuild(labels: np.ndarray, links: Links, used: np.ndarray, conflicted: set[int],
             cannot_link: tuple[np.ndarray, np.ndarray], identifiers: list[OnePerPerson],
             generation: GenerationSpan | None = None) -> tuple[np.ndarray, list[int]]:
    """Greedy, strongest link first, inside the components that broke a constraint."""
    labels = labels.copy()
    conflicted_labels = np.fromiter(conflicted, dtype=labels.dtype)
    in_conflict = member(labels[links.left[used]], conflicted_labels)
    edges = used[in_conflict]
    edges = edges[np.argsort(-links.weight[edges], kind="stable")]
    members = np.flatnonzero(member(labels, conflicted_labels))

    parent = {int(r): int(r) for r in members}
    ids = {int(r): [{int(i.codes[r])} if i.codes[r] >= 0 else set() for i in identifiers] for r in members}
    forbidden: dict[int, set[int]] = {int(r): set() for r in members}
    unknown = (10**6, -10**6)
    years = {int(r): ((int(generation.years[r]),) * 2 if generation is not None and generation.years[r] >= 0
                      else unknown) for r in members}
    for x, y in zip(*cannot_link):
        if int(x) in forbidden and int(y) in forbidden:
            forbidden[int(x)].add(int(y))
            forbidden[int(y)].add(int(x))

    def root(r: int) -> int:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    dropped: list[int] = []
    for edge in edges:
        ra, rb = root(int(links.left[edge])), root(int(links.right[edge]))
        if ra == rb:
            continue
        clash_ids = any(not identifier.all_compatible(p | q)
                        for identifier, p, q in zip(identifiers, ids[ra], ids[rb]) if p and q and p != q)
        clash_pairs = any(root(x) == rb for x in forbidden[ra]) or any(root(x) == ra for x in forbidden[rb])
        span = (min(years[ra][0], years[rb][0]), max(years[ra][1], years[rb][1]))
        vouched = links.vouched is not None and bool(links.vouched[edge])
        clash_years = generation is not None and span[1] - span[0] >= generation.gap and not vouched
        if clash_ids or clash_pairs or clash_years:
            dropped.append(int(edge))
            continue
        parent[rb] = ra
        ids[ra] = [p | q for p, q in zip(ids[ra], ids[rb])]
        forbidden[ra] |= forbidden.pop(rb)
        ids.pop(rb)
        years[ra] = span
        years.pop(rb)

    fresh = labels.max() + 1
    roots = {}
    for r in members:
        top = root(int(r))
        if top not in roots:
            roots[top] = fresh
            fresh += 1
        labels[r] = roots[top]
    return labels, dropped
