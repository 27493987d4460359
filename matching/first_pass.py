"""The persons a first pass of the linkage found, as evidence for the second.

After a first pass, records that were linked with strong evidence form
persons. Two kinds of evidence come from them:

- **the person's other records** (`matching.person_evidence`): a record is
  compared with every record of its candidate person, so a police record with
  an old address meets the housing record that had the same address;
- **the household** (associative matching, as in the ONS linkage of Census
  2021): records share a household context when a council family, a housing
  event or a police incident lists them together. "Another member of this
  police incident is already linked to a member of this council family" is
  evidence that the two records belong to one household, and so, with a name
  and date of birth to tell the members apart, to one person.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from matching.pairs import distinct, member, pack, pairs_within_blocks, unpack

CONTEXT_SIZE_CAP = 200
"""A context listing more records than this (a reused reference) gives no household evidence."""
BIRTHDAY_BASE = 100_000_000
"""Above any YYYYMMDD date of birth."""


@dataclass(frozen=True)
class FirstPass:
    labels: np.ndarray
    """The first pass's person for each record (0..k-1)."""
    person_contexts: np.ndarray
    """Packed (person, other person), sorted: a record of the one shares a context with a record of the
    other (and they are two first-pass persons)."""
    has_context: np.ndarray
    """Per person: some record of theirs shares a context with another person's."""
    twin_at_home: np.ndarray
    """Per record: someone else in its contexts (a family, an event) was born on its own date of birth, a twin.
    Worked out once here, as the second pass asks it of millions of record pairs."""

    @classmethod
    def of(cls, labels: np.ndarray, event_codes: np.ndarray, dob: np.ndarray) -> FirstPass:
        labels = labels.astype(np.int64)
        left, right, _ = pairs_within_blocks(event_codes.astype(np.int64), CONTEXT_SIZE_CAP)
        records = np.r_[left, right]
        others = np.r_[right, left]
        mine, theirs = labels[records], labels[others]
        two = mine != theirs
        contexts = distinct(pack(mine[two], theirs[two], len(labels) + 1))
        has_context = np.zeros(int(labels.max()) + 1 if len(labels) else 0, dtype=bool)
        has_context[mine[two]] = True
        known = dob[others] >= 0
        # (record, someone else's birthday in its contexts) against (record, its own birthday)
        birthdays = distinct(pack(records[known], dob[others][known], BIRTHDAY_BASE))
        own = pack(np.arange(len(labels)), dob, BIRTHDAY_BASE)
        twin_at_home = (member(own, birthdays) & (dob >= 0)) if len(birthdays) else np.zeros(len(labels), dtype=bool)
        return cls(labels, contexts, has_context, twin_at_home)

    @cached_property
    def members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Records sorted by person, each person's first position in that order, and its size.

        Made once: every partition of the second pass expands its pairs person to person from it, and sorting
        millions of labels again for each partition cost more than the expansion itself."""
        labels = self.labels
        order = np.argsort(labels, kind="stable")
        sizes = np.bincount(labels, minlength=int(labels.max()) + 1 if len(labels) else 0)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        return order, starts, sizes

    @cached_property
    def contexts_by_person(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The other persons of `person_contexts`, each person's first position among them, and how many.

        Made once, like `members`: every partition of the second pass looks up millions of persons' contexts,
        and searching the packed contexts for each of them cost seconds a partition at scale."""
        owners, others = unpack(self.person_contexts, len(self.labels) + 1)
        sizes = np.bincount(owners, minlength=len(self.labels) + 1)
        return others, np.r_[0, np.cumsum(sizes)[:-1]], sizes

    def in_households(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Both records' persons share a context with someone, and they are two persons."""
        person_l, person_r = self.labels[left], self.labels[right]
        return self.has_context[person_l] & self.has_context[person_r] & (person_l != person_r)

    def shared_household(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """For each pair of records of two persons: a third person shares a context (a family, an event)
        with a record of each, so the two belong to one household."""
        found = np.zeros(len(left), dtype=bool)
        if not len(left) or not len(self.person_contexts):
            return found
        base = len(self.labels) + 1
        person_l, person_r = self.labels[left], self.labels[right]
        others, first, sizes = self.contexts_by_person
        starts, counts = first[person_l], sizes[person_l]
        pair = np.repeat(np.arange(len(left)), counts)
        offsets = np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        third = others[np.repeat(starts, counts) + offsets]
        wanted = (third != person_r[pair]) & (person_l[pair] != person_r[pair])
        shared = member(pack(person_r[pair][wanted], third[wanted], base), self.person_contexts)
        found[pair[wanted][shared]] = True
        return found
