"""Clustering in groups of components on Dask gives exactly the persons, kept links and reviews of one process."""

from __future__ import annotations

import dask
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.clustering import GenerationSpan, Links, OnePerPerson, cluster
from matching.dask_backend.clustering import cluster_on_cluster

NINOS = np.array(["AB123456C", "CE654321A", "AB123465C", "AB124365C", "JK987654D"], dtype=object)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 30))
    record = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(record, record, st.floats(-5, 30)), max_size=60))
    edges = [(a, b, w) for a, b, w in edges if a != b]
    cannot = draw(st.lists(st.tuples(record, record), max_size=10))
    nino = draw(st.lists(st.integers(-1, len(NINOS) - 1), min_size=n, max_size=n))
    years = draw(st.lists(st.sampled_from([-1, 1950, 1985, 2012]), min_size=n, max_size=n))
    vouched = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    weight = np.array([w for _, _, w in edges], dtype=float)
    links = Links(np.array([a for a, _, _ in edges], dtype=np.int64), np.array([b for _, b, _ in edges], dtype=np.int64),
                  weight, 1 / (1 + 2.0 ** -weight), np.array(vouched, dtype=bool))
    cannot_link = (np.array([a for a, _ in cannot], dtype=np.int64), np.array([b for _, b in cannot], dtype=np.int64))
    return (n, links, cannot_link, [OnePerPerson(np.array(nino), NINOS)],
            GenerationSpan(np.array(years, dtype=np.int64), 25))


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(1, 5))
def test_clustering_in_groups_of_components_is_the_same_as_in_one_process(problem, groups):
    n, links, cannot_link, identifiers, generation = problem
    expected = cluster(n, links, cannot_link, identifiers, 3.0, generation)
    with dask.config.set(scheduler="sync"):
        got = cluster_on_cluster(n, links, cannot_link, identifiers, 3.0, generation, groups=groups)
    assert got.labels.tolist() == expected.labels.tolist()
    assert got.kept.tolist() == expected.kept.tolist()
    assert got.to_review.tolist() == expected.to_review.tolist()
    assert (got.components_split, got.links_left_out) == (expected.components_split, expected.links_left_out)
