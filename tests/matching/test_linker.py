"""The whole linkage on the small synthetic population: every record gets a person, decisions bite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.tables import read_parquet
from matching import pipeline
from matching.evaluate import evaluate
from matching.partition import PartitionResult, partitions
from matching.review import DecisionsForRun
from matching.scoring import Decision
from matching.spec import PROGRAMME_SPEC as SPEC

NO_DECISIONS = DecisionsForRun.none()


def resolve(records, scored, decisions, previous, run_id):
    return pipeline.resolve(SPEC, records, scored, decisions, previous, run_id, pipeline.AMBIGUITY_BITS)


@pytest.fixture(scope="module")
def linkage(synth_records):
    model = pipeline.train(SPEC, synth_records, data_sha256="t", code_version={}, trained_at="now",
                           random_pairs=200_000)
    linked = pipeline.link(SPEC, model, synth_records, partition_pairs=300)
    return linked.candidates, model, linked.scored


def test_partitions_cover_every_pair_once():
    slices = partitions(10, 4)
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]
    assert [(s.start, s.stop) for s in partitions(0, 4)] == [(0, 0)]


def test_scoring_in_partitions_gives_the_same_pairs_as_scoring_at_once(synth_records, linkage):
    candidates, model, combined = linkage
    slices = partitions(len(candidates), 300)
    assert len(slices) > 1
    first_parts = PartitionResult.combine([pipeline.score(SPEC, model, synth_records, candidates.take(s)) for s in slices])
    first_whole = pipeline.score(SPEC, model, synth_records, candidates)
    assert first_whole.pairs.reset_index(drop=True).equals(first_parts.pairs.reset_index(drop=True))
    first = pipeline.first_pass(SPEC, synth_records, first_whole, NO_DECISIONS)
    whole = pipeline.score(SPEC, model, synth_records, candidates, first)
    assert whole.pairs.reset_index(drop=True).equals(combined.pairs.reset_index(drop=True))
    assert np.array_equal(whole.weight_histogram, combined.weight_histogram)
    assert whole.decisions == combined.decisions


def test_every_record_gets_a_person_and_the_linkage_is_accurate(synth_small, synth_records, linkage):
    _, _, combined = linkage
    outcome = resolve(synth_records, combined, NO_DECISIONS, None, "run1")
    assert len(outcome.linked) == len(synth_records)
    assert outcome.linked["person_id"].notna().all()
    truth = read_parquet(synth_small / "truth" / "records.parquet")
    joined = outcome.linked.merge(truth, on=["source", "record_id"], suffixes=("", "_true"))
    metrics = evaluate(joined["person_id"], joined["person_id_true"])
    assert metrics.precision > 0.97 and metrics.recall > 0.9
    linked = outcome.linked.dropna(subset=["match_probability"])
    assert (linked["match_probability"] >= linkage[1].thresholds.accept).all()


def test_analysts_decisions_override_the_model(synth_records, linkage):
    _, _, combined = linkage
    pairs = combined.pairs
    first_accepted = pairs[pairs["decision"] == Decision.ACCEPT].iloc[0]
    before = resolve(synth_records, combined, NO_DECISIONS, None, "run1")
    accepted = {side: int(first_accepted[side]) for side in ("left", "right")}
    review = {side: int(before.review.iloc[0][side]) for side in ("left", "right")}
    decisions = DecisionsForRun(
        links=(np.array([review["left"]]), np.array([review["right"]])),
        no_links=(np.array([accepted["left"]]), np.array([accepted["right"]])), applied=2, stale=0,
    )
    after = resolve(synth_records, combined, decisions, None, "run1")
    person = after.linked["person_id"].to_numpy()
    assert person[review["left"]] == person[review["right"]]
    assert person[accepted["left"]] != person[accepted["right"]]
    assert after.stats.links_from_analysts == 1 and after.stats.analyst_no_links == 1
    assert not ((after.review["left"] == review["left"]) & (after.review["right"] == review["right"])).any()


def test_the_review_queue_holds_only_pairs_an_analyst_can_still_change(synth_records, linkage):
    _, _, combined = linkage
    outcome = resolve(synth_records, combined, NO_DECISIONS, None, "run1")
    review = outcome.review
    assert len(review) > 0
    labels = outcome.clusters.labels
    assert (labels[review["left"]] != labels[review["right"]]).all()
    assert set(review["reason"]) <= {"review band", "links to two people who cannot be one"}


def test_the_same_data_gives_the_same_persons_and_ids(synth_records, linkage):
    _, _, combined = linkage
    first = resolve(synth_records, combined, NO_DECISIONS, None, "run1")
    again = resolve(synth_records, combined, NO_DECISIONS, first.ids.index, "run2")
    pd.testing.assert_series_equal(first.linked["person_id"], again.linked["person_id"])
    assert again.stats.ids_new == 0
