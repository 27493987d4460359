"""Constrained clustering spread over the workers, a group of whole components each.

Constraints (cannot-links, one NINO and NHS number per person, a generation's span) act only inside
a component of the accepted links: a cannot-link between two components never binds, and an ambiguous
record's rival links share the record. So the components are found first (one integer per record, with
scipy: 240 MB at thirty million records), dealt into groups, and each group is clustered on a worker by
`matching.clustering.cluster`, the same function one process runs on everything. The persons come back
the same; they are numbered as `cluster` numbers them, in order of each person's first record.
"""

from __future__ import annotations

import dataclasses

import dask
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from matching.clustering import Clusters, GenerationSpan, Links, OnePerPerson, cluster, numbered_by_first_record


@dataclasses.dataclass(frozen=True)
class Group:
    """One group of components, re-indexed from 0, and where its records and links came from."""

    records: np.ndarray
    links: np.ndarray
    problem: dict
    """`cluster`'s arguments for this group."""


def _local_codes(identifier: OnePerPerson, records: np.ndarray) -> OnePerPerson:
    """The identifier restricted to some records, its codes renumbered in the same order (so code order,
    and every comparison made on codes, stays as it was)."""
    codes = identifier.codes[records]
    present = codes >= 0
    used, local = np.unique(codes[present], return_inverse=True)
    renumbered = np.full(len(codes), -1, dtype=codes.dtype)
    renumbered[present] = local
    return dataclasses.replace(identifier, codes=renumbered, values=identifier.values[used])


def _groups(n_records: int, links: Links, cannot_link: tuple[np.ndarray, np.ndarray], identifiers: list[OnePerPerson],
            generation: GenerationSpan | None, groups: int) -> list[Group]:
    graph = coo_matrix((np.ones(len(links)), (links.left, links.right)), shape=(n_records, n_records))
    _, component = connected_components(graph, directed=False)
    group_of = component % groups
    link_group = group_of[links.left]
    a, b = cannot_link
    binding = group_of[a] == group_of[b]  # across groups means across components: it never binds
    out = []
    for g in range(groups):
        records = np.flatnonzero(group_of == g)
        if not len(records):
            continue
        rows = np.flatnonzero(link_group == g)
        local = lambda positions: np.searchsorted(records, positions)  # noqa: E731 (records are sorted)
        sub_links = Links(local(links.left[rows]), local(links.right[rows]), links.weight[rows],
                          links.probability[rows], None if links.vouched is None else links.vouched[rows])
        chosen = binding & (group_of[a] == g)
        sub_cannot = (local(a[chosen]), local(b[chosen]))
        sub_ids = [_local_codes(identifier, records) for identifier in identifiers]
        sub_generation = None if generation is None else dataclasses.replace(generation, years=generation.years[records])
        out.append(Group(records, rows, {"n_records": len(records), "links": sub_links, "cannot_link": sub_cannot,
                                         "identifiers": sub_ids, "generation": sub_generation}))
    return out


def cluster_on_cluster(n_records: int, links: Links, cannot_link: tuple[np.ndarray, np.ndarray],
                       identifiers: list[OnePerPerson], ambiguity_bits: float = 3.0,
                       generation: GenerationSpan | None = None, *, groups: int) -> Clusters:
    """What `matching.clustering.cluster` gives for the same arguments, with the components dealt into
    `groups` clustered on the Dask cluster in use (or Dask's local scheduler)."""
    parts = _groups(n_records, links, cannot_link, identifiers, generation, max(groups, 1))
    results = _clustered([part.problem for part in parts], ambiguity_bits)
    labels = np.zeros(n_records, dtype=np.int64)
    kept = np.ones(len(links), dtype=bool)
    review = np.zeros(len(links), dtype=bool)
    offset = 0
    for part, result in zip(parts, results):
        labels[part.records] = result.labels + offset
        offset += int(result.labels.max()) + 1
        kept[part.links] = result.kept
        review[part.links] = result.to_review
    return Clusters(numbered_by_first_record(labels), kept, review,
                    sum(r.components_split for r in results), sum(r.links_left_out for r in results))


def _clustered(problems: list[dict], ambiguity_bits: float) -> list[Clusters]:
    """Each group's `cluster` on a worker. On a distributed cluster the groups' arrays (hundreds of MB at a
    county's scale) are scattered to the workers first, so the task graph the scheduler receives holds only
    references to them; without one, Dask's local scheduler runs them."""
    try:
        from distributed import get_client

        client = get_client()
    except (ImportError, ValueError):
        return list(dask.compute(*[dask.delayed(cluster)(**problem, ambiguity_bits=ambiguity_bits)
                                   for problem in problems]))
    scattered = client.scatter(problems)
    return client.gather(client.map(cluster_group, scattered, ambiguity_bits=ambiguity_bits, pure=False))


def cluster_group(problem: dict, ambiguity_bits: float) -> Clusters:
    return cluster(**problem, ambiguity_bits=ambiguity_bits)
