"""Clustering: two people who cannot be one are never joined, however the links chain."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from matching.clustering import GenerationSpan, Links, OnePerPerson, cluster, resolve_ambiguity, same_event_pairs

NONE = np.array([], dtype=np.int64)
NINOS = np.array(["AB123456C", "CE654321A", "AB123465C", "AB124365C"], dtype=object)


def links(*edges: tuple[int, int, float]) -> Links:
    left, right, weight = zip(*edges)
    weight = np.array(weight, dtype=float)
    return Links(np.array(left), np.array(right), weight, 1 / (1 + 2.0 ** -weight))


def no_codes(n: int) -> OnePerPerson:
    return codes([-1] * n)


def codes(values: list[int]) -> OnePerPerson:
    return OnePerPerson(np.array(values), NINOS)


def same(result, a: int, b: int) -> bool:
    return result.labels[a] == result.labels[b]


def test_accepted_links_form_persons_and_labels_follow_first_records():
    result = cluster(5, links((0, 1, 20), (1, 2, 18), (3, 4, 15)), (NONE, NONE), [no_codes(5)])
    assert result.labels.tolist() == [0, 0, 0, 1, 1]
    assert result.kept.all() and result.components_split == 0


def test_a_chain_never_joins_two_different_ninos_and_the_strongest_link_wins():
    # 0 and 2 carry different NINOs; 1 (no NINO) links to both, more strongly to 2.
    nino = codes([0, -1, 1])
    result = cluster(3, links((0, 1, 12), (1, 2, 20)), (NONE, NONE), [nino])
    assert not same(result, 0, 2)
    assert same(result, 1, 2)
    assert result.kept.tolist() == [False, True]
    assert (result.components_split, result.links_left_out) == (1, 1)


def test_two_nhs_numbers_split_a_person_too():
    nhs = codes([0, 1, -1, -1])
    result = cluster(4, links((0, 2, 30), (2, 3, 25), (3, 1, 10)), (NONE, NONE), [no_codes(4), nhs])
    assert not same(result, 0, 1)
    assert same(result, 0, 3)


def test_a_cannot_link_holds_across_any_path():
    cannot = (np.array([0]), np.array([3]))
    result = cluster(4, links((0, 1, 30), (1, 2, 29), (2, 3, 5)), cannot, [no_codes(4)])
    assert not same(result, 0, 3)
    assert same(result, 0, 2)


def test_a_record_matching_two_people_equally_goes_to_review():
    # Record 2 (no date of birth) matches father 0 and son 1 as well as each other; 0 and 1 cannot be one.
    cannot = (np.array([0]), np.array([1]))
    result = cluster(3, links((2, 0, 18.0), (2, 1, 17.5)), cannot, [no_codes(3)], ambiguity_bits=3)
    assert result.to_review.tolist() == [True, True]
    assert len(set(result.labels.tolist())) == 3


def test_a_clearly_stronger_link_wins_an_ambiguity():
    cannot = (np.array([0]), np.array([1]))
    result = cluster(3, links((2, 0, 25.0), (2, 1, 12.0)), cannot, [no_codes(3)], ambiguity_bits=3)
    assert result.kept.tolist() == [True, False] and not result.to_review.any()
    assert same(result, 2, 0) and not same(result, 2, 1)


def test_records_of_one_event_are_pairs_of_different_people():
    left, right, too_large = same_event_pairs(np.array([5, 5, -1, 5, 9]))
    assert set(zip(left.tolist(), right.tolist())) == {(0, 1), (0, 3), (1, 3)} and too_large == 0


def test_an_event_listing_too_many_records_is_counted_not_paired():
    left, right, too_large = same_event_pairs(np.array([7] * 5 + [3, 3]), cap=4)
    assert list(zip(left.tolist(), right.tolist())) == [(5, 6)] and too_large == 1


def test_a_nino_typed_with_a_slip_or_two_is_one_nino_not_two():
    # AB123456C and AB123465C (two digits swapped) and AB124365C (two slips from the first) are one person's.
    result = cluster(3, links((0, 1, 20), (1, 2, 20)), (NONE, NONE), [codes([0, 2, 3])])
    assert same(result, 0, 1) and same(result, 1, 2) and result.components_split == 0


def test_a_chain_through_a_record_without_a_birth_date_never_joins_a_baby_to_an_adult():
    # 0: a one-year-old; 1: a police record of the same name with no date of birth; 2: a 33-year-old claimant.
    years = GenerationSpan(np.array([2025, -1, 1993]), gap=12)
    result = cluster(3, links((0, 1, 25), (1, 2, 16)), (NONE, NONE), [no_codes(3)], generation=years)
    assert same(result, 0, 1) and not same(result, 0, 2)
    assert result.kept.tolist() == [True, False]


def test_an_identifier_may_vouch_for_a_birth_year_a_generation_out():
    years = GenerationSpan(np.array([1990, 2005]), gap=12)
    vouched = Links(np.array([0]), np.array([1]), np.array([30.0]), np.array([1.0]), np.array([True]))
    assert same(cluster(2, vouched, (NONE, NONE), [no_codes(2)], generation=years), 0, 1)
    unvouched = Links(np.array([0]), np.array([1]), np.array([30.0]), np.array([1.0]), np.array([False]))
    assert not same(cluster(2, unvouched, (NONE, NONE), [no_codes(2)], generation=years), 0, 1)


@given(st.dictionaries(st.tuples(st.integers(0, 9), st.integers(0, 9)).filter(lambda p: p[0] < p[1]),
                       st.sampled_from([5.0, 6.0, 9.5, 14.0, 20.0]), max_size=25),
       st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)).filter(lambda p: p[0] != p[1]), max_size=6))
def test_two_links_from_one_record_to_two_who_cannot_be_one_keep_the_clearly_stronger_or_go_to_review(edges, cannot):
    """Against the rule written out record by record: the record's two links, the one to the lower-numbered
    record first."""
    found = links(*((a, b, w) for (a, b), w in edges.items())) if edges else \
        Links(NONE, NONE, np.array([], dtype=float), np.array([], dtype=float))
    apart = np.array([a for a, _ in cannot], dtype=np.int64), np.array([b for _, b in cannot], dtype=np.int64)
    keep, review = resolve_ambiguity(found, apart, 10, 3.0)
    expected_keep, expected_review = np.ones(len(found), dtype=bool), np.zeros(len(found), dtype=bool)
    forbidden = {frozenset(pair) for pair in cannot}
    ends = list(zip(found.left.tolist(), found.right.tolist()))
    if cannot:
        for record in range(10):
            touching = sorted(((b if a == record else a), i) for i, (a, b) in enumerate(ends) if record in (a, b))
            for x, (other_a, link_a) in enumerate(touching):
                for other_b, link_b in touching[x + 1:]:
                    if frozenset((other_a, other_b)) not in forbidden:
                        continue
                    gap = found.weight[link_a] - found.weight[link_b]
                    if abs(gap) < 3.0:
                        expected_review[[link_a, link_b]] = True
                    else:
                        expected_keep[link_b if gap > 0 else link_a] = False
    assert keep.tolist() == (expected_keep & ~expected_review).tolist()
    assert review.tolist() == expected_review.tolist()
