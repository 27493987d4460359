"""Clustering: two people who cannot be one are never joined, however the links chain."""

from __future__ import annotations

import numpy as np

from matching.clustering import Links, cluster, same_event_pairs

NONE = np.array([], dtype=np.int64)


def links(*edges: tuple[int, int, float]) -> Links:
    left, right, weight = zip(*edges)
    weight = np.array(weight, dtype=float)
    return Links(np.array(left), np.array(right), weight, 1 / (1 + 2.0 ** -weight))


def no_codes(n: int) -> np.ndarray:
    return np.full(n, -1)


def same(result, a: int, b: int) -> bool:
    return result.labels[a] == result.labels[b]


def test_accepted_links_form_persons_and_labels_follow_first_records():
    result = cluster(5, links((0, 1, 20), (1, 2, 18), (3, 4, 15)), (NONE, NONE), [no_codes(5)])
    assert result.labels.tolist() == [0, 0, 0, 1, 1]
    assert result.kept.all() and result.components_split == 0


def test_a_chain_never_joins_two_different_ninos_and_the_strongest_link_wins():
    # 0 and 2 carry different NINOs; 1 (no NINO) links to both, more strongly to 2.
    nino = np.array([7, -1, 8])
    result = cluster(3, links((0, 1, 12), (1, 2, 20)), (NONE, NONE), [nino])
    assert not same(result, 0, 2)
    assert same(result, 1, 2)
    assert result.kept.tolist() == [False, True]
    assert (result.components_split, result.links_left_out) == (1, 1)


def test_two_nhs_numbers_split_a_person_too():
    nhs = np.array([1, 2, -1, -1])
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
