"""The model file: versioned, validated, and refused when edited or trained for other comparisons."""

from __future__ import annotations

import json

import pytest

from matching.comparisons import ForenameComparison
from matching.model import ModelError, Thresholds, load_model, save_model
from matching.spec import PROGRAMME_SPEC
from tests.factories import flat_model


def test_a_model_survives_a_round_trip_with_the_same_id(tmp_path):
    model = flat_model()
    path = save_model(model, tmp_path / "model.json")
    loaded = load_model(path)
    assert loaded == model and loaded.model_id == model.model_id
    document = json.loads(path.read_text())
    assert document["format"] == "sfmatch-linkage-model" and document["model_id"] == model.model_id


def test_thresholds_are_policy_not_parameters(tmp_path):
    model = flat_model()
    changed = model.with_threshold_overrides(0.95, 0.5)
    assert changed.thresholds == Thresholds(accept=0.95, review=0.5) and changed.model_id == model.model_id


def test_an_edited_parameter_is_detected(tmp_path):
    path = save_model(flat_model(), tmp_path / "model.json")
    document = json.loads(path.read_text())
    document["comparisons"][0]["levels"][0]["m"] = 0.5
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match="do not match its model_id"):
        load_model(path)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(format="other"), "not an sfmatch linkage model"),
    (lambda d: d.update(format_version=99), "format version 99"),
    (lambda d: d.update(prior=2.0), "prior"),
])
def test_a_bad_model_file_is_named(tmp_path, change, message):
    path = save_model(flat_model(), tmp_path / "model.json")
    document = json.loads(path.read_text())
    document.pop("model_id")
    change(document)
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match=message):
        load_model(path)


def test_a_model_for_other_comparisons_is_refused():
    model = flat_model()
    model.check_matches(PROGRAMME_SPEC.comparisons)
    other = (ForenameComparison(close=0.95),) + PROGRAMME_SPEC.comparisons[1:]
    with pytest.raises(ModelError, match="train a new model"):
        model.check_matches(other)


def test_review_must_sit_below_accept():
    with pytest.raises(ValueError):
        Thresholds(accept=0.6, review=0.9)


@pytest.mark.parametrize(("accept", "review", "message"), [
    (0.5, None, r"review_threshold 0.6 \(the model's\) must be below accept_threshold 0.5 \(set\)"),
    (None, 0.995, r"review_threshold 0.995 \(set\) must be below accept_threshold 0.99 \(the model's\)"),
    (1.5, None, "accept_threshold 1.5 is not a probability"),
])
def test_thresholds_set_over_the_model_are_checked_with_a_clear_message(accept, review, message):
    with pytest.raises(ModelError, match=message):
        flat_model().with_threshold_overrides(accept, review)
