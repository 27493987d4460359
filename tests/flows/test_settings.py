"""Settings: one object, validated on load, from YAML then SFMATCH_* variables then explicit options."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
import yaml

from flows.settings import PREFECT_ENVIRONMENT, SettingsError, load_settings


def test_defaults_need_no_file():
    settings = load_settings()
    assert settings.la_code == "E99999999"
    assert settings.period_months == 12
    assert len(settings.sources) == 5


def test_yaml_then_environment_then_options(tmp_path, monkeypatch):
    config = tmp_path / "sfmatch.yaml"
    config.write_text("la_code: E08000035\nperiod_months: 6\nreference_date: 2026-03-31\n", encoding="utf-8")
    monkeypatch.setenv("SFMATCH_PERIOD_MONTHS", "9")
    monkeypatch.setenv("SFMATCH_SOURCES", "[la_cases, police]")
    settings = load_settings(config, out_dir=Path("elsewhere"))
    assert settings.la_code == "E08000035"
    assert settings.period_months == 9
    assert settings.sources == ("la_cases", "police")
    assert settings.reference_date == date(2026, 3, 31)
    assert settings.out_dir == Path("elsewhere")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("la_code: Leeds\n", "la_code: String should match pattern"),
        ("period_months: 0\n", "period_months: Input should be greater than or equal to 1"),
        ("colour: blue\n", "colour: Extra inputs are not permitted"),
        ("sources: [police, police]\n", "a source is listed twice"),
        ("- just\n- a list\n", "expected a mapping"),
        ("la_code: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_bad_setting_is_named(tmp_path, text, expected):
    config = tmp_path / "sfmatch.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings(config)
    assert "sfmatch.yaml" in str(caught.value)
    assert expected in str(caught.value)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="nowhere.yaml: cannot be read"):
        load_settings(tmp_path / "nowhere.yaml")


def test_prefect_is_kept_off_the_network():
    for name, value in PREFECT_ENVIRONMENT.items():
        assert name in os.environ, name
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"].lower() == "false"
    assert os.environ["DO_NOT_TRACK"] == "1"


def test_the_example_config_is_valid():
    example = Path(__file__).resolve().parents[2] / "sfmatch.example.yaml"
    assert load_settings(example).la_code == "E99999999"


def test_settings_come_in_groups_from_a_file_and_from_nested_variables(tmp_path, monkeypatch):
    config = tmp_path / "sfmatch.yaml"
    config.write_text("linkage:\n  block_size_cap: 99\n  accept_threshold: 0.995\nsubmission:\n  enabled: false\n",
                      encoding="utf-8")
    monkeypatch.setenv("SFMATCH_LINKAGE__REVIEW_THRESHOLD", "0.9")
    settings = load_settings(config)
    assert settings.linkage.block_size_cap == 99 and settings.linkage.accept_threshold == 0.995
    assert settings.linkage.review_threshold == 0.9 and settings.submission.enabled is False


def test_a_file_in_the_earlier_flat_layout_is_read_into_the_groups(tmp_path):
    config = tmp_path / "old.yaml"
    config.write_text("model_file: /m.json\nquality_thresholds: /t.yaml\nsubmission: false\nretention_days: 30\n",
                      encoding="utf-8")
    settings = load_settings(config)
    assert settings.linkage.model_file == Path("/m.json") and settings.quality.thresholds == Path("/t.yaml")
    assert settings.submission.enabled is False and settings.orchestration.retention_days == 30


def test_review_must_be_below_accept_when_both_are_set(tmp_path):
    config = tmp_path / "sfmatch.yaml"
    config.write_text("linkage: {accept_threshold: 0.8, review_threshold: 0.9}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match=r"review_threshold \(0.9\) must be below accept_threshold \(0.8\)"):
        load_settings(config)


def test_a_variable_of_the_flat_layout_is_named_with_its_new_name(monkeypatch):
    monkeypatch.setenv("SFMATCH_MODEL_FILE", "/m.json")
    with pytest.raises(SettingsError, match="SFMATCH_MODEL_FILE \\(now SFMATCH_LINKAGE__MODEL_FILE\\)"):
        load_settings()


def test_a_setting_given_twice_is_refused(tmp_path):
    config = tmp_path / "sfmatch.yaml"
    config.write_text("model_file: /a.json\nlinkage: {model_file: /b.json}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="model_file is given both"):
        load_settings(config)


def test_the_shipped_warnings_automation_is_a_valid_prefect_automation():
    from prefect.automations import AutomationCore

    path = Path(__file__).resolve().parents[2] / "flows" / "automations" / "run-warnings.yaml"
    automation = AutomationCore.model_validate(yaml.safe_load(path.read_text()))
    assert automation.trigger.expect == {"prefect.flow-run.Completed"}
    assert automation.trigger.match_related.root == {"prefect.resource.id": "prefect.tag.warnings"}
