"""From scored pairs to persons: decisions, constraints, clusters, stable IDs and the review queue.

`resolve` runs once per linkage, after every partition is scored. Its steps,
each a function below:

1. **accepted links**: the model's accepted pairs, less those an analyst said
   are not a link, plus those an analyst said are (scored this run or not);
2. **cannot-links**: contradicted pairs, analysts' "no link", records of one
   event, and (for a link-only spec) rivals from one source;
3. **clusters**: persons from the accepted links under those constraints
   (`matching.clustering`);
4. **record probabilities**: each record's weakest kept link;
5. **person IDs**: stable across runs (`matching.person_index`);
6. **review pairs**: the review band and ambiguous links, one pair per two
   persons;
7. **stats and tables**: counts for the manifest and report, the kept links.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data.tables import STRING
from matching.clustering import Clusters, GenerationSpan, Links, OnePerPerson, cluster, same_event_pairs
from matching.comparisons import NO_EVIDENCE, ComparisonLevels
from matching.partition import PartitionResult
from matching.pairs import KeyIndex, member, pack, pair_keys
from matching.person_index import IdAssignment, assign_person_ids
from matching.review import DecisionsForRun
from matching.scoring import Decision, identifier_agreement
from matching.spec import LinkageSpec
from matching.standardise import PersonRecords

ANALYST = "analyst"
MODEL = "model"
REVIEW_BAND = "review band"
AMBIGUOUS = "links to two people who cannot be one"
FORENAMES_DIFFER_ONLY = "all but the forename agrees: an alias, or a twin"
NO_PAIRS = (np.array([], np.int64), np.array([], np.int64))


@dataclass(frozen=True)
class LinkageStats:
    records: int
    persons: int
    links_accepted: int
    links_kept: int
    links_left_out: int
    links_from_analysts: int
    pairs_for_review: int
    ambiguous_for_review: int
    analyst_no_links: int
    decisions_applied: int
    decisions_stale: int
    components_split: int
    cluster_sizes: dict[int, int] = field(default_factory=dict)
    ids_kept: int = 0
    ids_new: int = 0
    ids_merged: int = 0
    events_too_large: int = 0
    """Events listing too many records to pair them all as different people (see same_event_pairs)."""


@dataclass(frozen=True)
class LinkageOutcome:
    linked: pd.DataFrame
    """One row per record (`matching.tables.LINKED_RECORDS`)."""
    links: pd.DataFrame
    """The links that made the persons (`matching.tables.LINKS`)."""
    review: pd.DataFrame
    """Scored pairs an analyst should decide, with the reason."""
    ids: IdAssignment
    clusters: Clusters
    stats: LinkageStats


@dataclass(frozen=True)
class AcceptedLinks:
    links: pd.DataFrame
    """left, right, weight, probability, origin (model / analyst)."""
    said_yes: np.ndarray
    """For each scored pair: an analyst said link."""
    said_no: np.ndarray
    """For each scored pair: an analyst said no link."""


def accepted_links(pairs: pd.DataFrame, decisions: DecisionsForRun, n: int) -> AcceptedLinks:
    """The model's accepted pairs and the analysts' links, with analysts' word final either way."""
    key = pair_keys(pairs["left"].to_numpy(), pairs["right"].to_numpy(), n)
    yes_keys = pair_keys(*decisions.links, n)
    said_no = member(key, pair_keys(*decisions.no_links, n))
    said_yes = member(key, yes_keys)
    accepted = pairs[((pairs["decision"] == Decision.ACCEPT) & ~said_no) | said_yes]
    accepted = accepted.assign(origin=np.where(said_yes[accepted.index], ANALYST, MODEL))
    # Analyst links between records that were not scored as candidates this time still hold.
    unscored = ~member(yes_keys, key)
    extra = pd.DataFrame({
        "left": decisions.links[0][unscored], "right": decisions.links[1][unscored],
        "weight": np.inf, "probability": 1.0, "origin": ANALYST,
    })
    links = pd.concat([accepted[["left", "right", "weight", "probability", "origin"]], extra], ignore_index=True)
    links.loc[links["origin"] == ANALYST, ["weight", "probability"]] = [np.inf, 1.0]
    return AcceptedLinks(links, said_yes, said_no)


def rival_links(links: pd.DataFrame, source_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of records of one source that link to the same record: in a link-only linkage, rivals for it."""
    both = pd.concat([links[["left", "right"]], links[["right", "left"]].set_axis(["left", "right"], axis=1)])
    rivals = both.merge(both, on="left")
    rivals = rivals[(rivals["right_x"] < rivals["right_y"])
                    & (source_codes[rivals["right_x"].to_numpy()] == source_codes[rivals["right_y"].to_numpy()])]
    return rivals["right_x"].to_numpy(np.int64), rivals["right_y"].to_numpy(np.int64)


@dataclass(frozen=True)
class CannotLinks:
    pairs: tuple[np.ndarray, np.ndarray]
    """Every pair of records that may never be one person."""
    same_event: np.ndarray
    """Pair keys of records listed in one event (a family, an incident): known to be two people."""
    events_too_large: int


def cannot_links(spec: LinkageSpec, records: PersonRecords, pairs: pd.DataFrame, accepted: AcceptedLinks,
                 decisions: DecisionsForRun) -> CannotLinks:
    """Pairs of records that may never be one person, and how many events were too large to use."""
    contradicted = (pairs["contradiction"].to_numpy() != 0) & ~accepted.said_yes  # millions at scale: not copied
    event_left, event_right, events_too_large = same_event_pairs(records.codes("event_code"))
    rival_left, rival_right = NO_PAIRS
    if spec.link_type == "link_only":
        source_codes, _ = pd.factorize(records.frame["source"])
        rival_left, rival_right = rival_links(accepted.links[accepted.links["origin"] == MODEL], source_codes)
    left = np.r_[pairs["left"].to_numpy(np.int64)[contradicted], decisions.no_links[0], event_left, rival_left]
    right = np.r_[pairs["right"].to_numpy(np.int64)[contradicted], decisions.no_links[1], event_right, rival_right]
    return CannotLinks((left, right), pair_keys(event_left, event_right, len(records)), events_too_large)


def one_per_person(spec: LinkageSpec, records: PersonRecords) -> list[OnePerPerson]:
    """The identifiers a person may hold one value of, with each code's text for the slip test."""
    found = []
    for column in spec.identifiers.one_per_person:
        codes = records.codes(column).astype(np.int64)
        text = records.strings(column.removesuffix("_code"))
        values = np.full(int(codes.max()) + 1 if len(codes) else 0, "", dtype=object)
        present = codes >= 0
        values[codes[present]] = text[present]
        found.append(OnePerPerson(codes, values))
    return found


def record_probabilities(kept: pd.DataFrame, n: int) -> np.ndarray:
    """A record's probability is that of the weakest kept link touching it; a record on its own has none."""
    touching = pd.DataFrame({
        "record": np.r_[kept["left"].to_numpy(), kept["right"].to_numpy()],
        "probability": np.r_[kept["probability"].to_numpy(), kept["probability"].to_numpy()],
    })
    weakest = touching.groupby("record")["probability"].min()
    probability = np.full(n, np.nan)
    probability[weakest.index.to_numpy()] = weakest.to_numpy()
    return probability


def review_pairs(pairs: pd.DataFrame, accepted: AcceptedLinks, clusters: Clusters, same_event: np.ndarray,
                 n: int) -> pd.DataFrame:
    """The pairs an analyst can still change: the review band, and links demoted as ambiguous.

    Records already in one person need no decision, nor records one event lists as two people. Between two
    persons, the analyst sees their strongest pair only: deciding it decides the persons.
    """
    key = pair_keys(pairs["left"].to_numpy(), pairs["right"].to_numpy(), n)
    in_band = ((pairs["decision"] == Decision.REVIEW) & ~accepted.said_no & ~accepted.said_yes
               & ~member(key, same_event))
    ambiguous = accepted.links.loc[accepted.links.index[clusters.to_review]]
    is_ambiguous = member(key, pair_keys(ambiguous["left"].to_numpy(), ambiguous["right"].to_numpy(), n))
    candidates = pairs[in_band | is_ambiguous].copy()
    candidates["reason"] = np.select(
        [is_ambiguous[candidates.index], candidates["contradiction"].to_numpy() != 0],
        [AMBIGUOUS, FORENAMES_DIFFER_ONLY], REVIEW_BAND)
    labels = clusters.labels
    person_l, person_r = labels[candidates["left"].to_numpy()], labels[candidates["right"].to_numpy()]
    candidates["person_pair"] = pair_keys(person_l, person_r, max(n, 1))
    return (
        candidates[person_l != person_r]
        .sort_values(["probability", "left", "right"], ascending=[False, True, True], kind="stable")
        .drop_duplicates("person_pair")
        .drop(columns="person_pair")
        .reset_index(drop=True)
    )


def pending_pairs(review: pd.DataFrame, records: PersonRecords) -> pd.DataFrame:
    """The review pairs by record reference (`matching.tables.PENDING_PAIRS`), for the stages after linkage."""
    frame = records.frame
    source, record_id = frame["source"].astype(STRING).array, frame["record_id"].astype(STRING).array
    left, right = review["left"].to_numpy(), review["right"].to_numpy()
    return pd.DataFrame({
        "left_source": source.take(left), "left_record_id": record_id.take(left),
        "right_source": source.take(right), "right_record_id": record_id.take(right),
        "probability": review["probability"].to_numpy(np.float64), "reason": review["reason"].astype(STRING).to_numpy(),
    })


Clusterer = Callable[..., Clusters]


@dataclass(frozen=True)
class Clustering:
    accepted: AcceptedLinks
    cannot: CannotLinks
    clusters: Clusters


def cluster_persons(spec: LinkageSpec, records: PersonRecords, pairs: pd.DataFrame, decisions: DecisionsForRun,
                    ambiguity_bits: float, clusterer: Clusterer = cluster) -> Clustering:
    """Steps 1 to 3: the accepted links and the cannot-links, and the persons they make.

    `clusterer`: `cluster`, or another way of running it with the same result (on Dask workers)."""
    n = len(records)
    accepted = accepted_links(pairs, decisions, n)
    cannot = cannot_links(spec, records, pairs, accepted, decisions)
    links = accepted.links
    vouched = (links["origin"] == ANALYST).to_numpy()
    if len(pairs) and set(spec.level_columns) <= set(pairs.columns):
        # Each link's levels from its scored pair (none for an analyst's link the run did not score).
        index = KeyIndex(pack(pairs["left"].to_numpy(), pairs["right"].to_numpy(), n))
        row = index.find(pack(links["left"].to_numpy(), links["right"].to_numpy(), n))
        matrix = np.full((len(links), len(spec.level_columns)), NO_EVIDENCE, dtype=np.int8)
        matrix[row >= 0] = pairs[spec.level_columns].to_numpy(np.int8)[row[row >= 0]]
        vouched |= identifier_agreement(spec, ComparisonLevels(matrix, tuple(c.name for c in spec.comparisons)))
    generation = (GenerationSpan(records.codes("birth_year").astype(np.int64), spec.households.generation_gap_years)
                  if spec.households is not None else None)
    clusters = clusterer(
        n,
        Links(links["left"].to_numpy(np.int64), links["right"].to_numpy(np.int64),
              links["weight"].to_numpy(np.float64), links["probability"].to_numpy(np.float64), vouched),
        cannot.pairs, one_per_person(spec, records), ambiguity_bits, generation,
    )
    return Clustering(accepted, cannot, clusters)


def resolve(
    spec: LinkageSpec, records: PersonRecords, scored: PartitionResult, decisions: DecisionsForRun,
    previous_index: pd.DataFrame | None, run_id: str, ambiguity_bits: float, clusterer: Clusterer = cluster,
) -> LinkageOutcome:
    """Apply analysts' decisions, cluster accepted links into persons, give them stable IDs."""
    pairs = scored.pairs
    n = len(records)
    decisions = decisions.as_int64()
    clustering = cluster_persons(spec, records, pairs, decisions, ambiguity_bits, clusterer)
    accepted, cannot, clusters = clustering.accepted, clustering.cannot, clustering.clusters
    links = accepted.links
    kept = links[clusters.kept]

    frame = records.frame
    # Arrow strings throughout: three million records converted to Python strings cost seconds each.
    source, record_id = frame["source"].astype(STRING).array, frame["record_id"].astype(STRING).array
    ids = assign_person_ids(
        pd.DataFrame({"source": source, "record_id": record_id, "identity_key": frame["identity_key"].astype(STRING).array,
                      "cluster": clusters.labels}),
        previous_index, run_id,
    )
    linked = pd.DataFrame({"source": source, "record_id": record_id, "person_id": ids.person_ids,
                           "match_probability": record_probabilities(kept, n)})
    review = review_pairs(pairs, accepted, clusters, cannot.same_event, n)
    stats = _stats(records, links, clusters, review, decisions, ids, cannot.events_too_large)
    left, right = kept["left"].to_numpy(), kept["right"].to_numpy()
    links_out = kept.assign(
        left_source=source.take(left), left_record_id=record_id.take(left),
        right_source=source.take(right), right_record_id=record_id.take(right),
        person_id=ids.person_ids[left],
    )
    return LinkageOutcome(linked, links_out.reset_index(drop=True), review, ids, clusters, stats)


def _stats(records: PersonRecords, links: pd.DataFrame, clusters: Clusters, review: pd.DataFrame,
           decisions: DecisionsForRun, ids: IdAssignment, events_too_large: int) -> LinkageStats:
    labels = clusters.labels
    n = len(records)
    sizes = pd.Series(labels).value_counts().value_counts().sort_index()
    return LinkageStats(
        records=n, persons=int(labels.max()) + 1 if n else 0,
        links_accepted=int((links["origin"] == MODEL).sum()), links_kept=int(clusters.kept.sum()),
        links_left_out=clusters.links_left_out, links_from_analysts=int((links["origin"] == ANALYST).sum()),
        pairs_for_review=len(review), ambiguous_for_review=int((review["reason"] == AMBIGUOUS).sum()),
        analyst_no_links=len(decisions.no_links[0]), decisions_applied=decisions.applied,
        decisions_stale=decisions.stale, components_split=clusters.components_split,
        cluster_sizes={int(k): int(v) for k, v in sizes.items()},
        ids_kept=ids.kept, ids_new=ids.new, ids_merged=ids.merged, events_too_large=events_too_large,
    )
