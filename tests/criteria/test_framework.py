"""Framework versions: the national ones load, a local one can be added, mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from criteria.framework import FRAMEWORKS_DIR, FrameworkError, load_framework
from data.contract import load_contracts

CONTRACTS = load_contracts()


def test_sf_2022_has_ten_headlines_and_needs_three():
    loaded = load_framework("sf-2022", CONTRACTS)
    framework = loaded.framework
    assert framework.headline_codes == ("EDU", "EYD", "HLT", "SUB", "REL", "SAF", "CRM", "DAB", "HOU", "FIN")
    assert (framework.eligibility.rule, framework.eligibility.minimum) == ("distinct_headlines", 3)
    assert framework.eligibility.requires_dependent_child
    assert len(loaded.sha256) == 64 and loaded.label == "sf-2022 v3"


def test_tf_2015_needs_two_of_six():
    framework = load_framework("tf-2015", CONTRACTS).framework
    assert len(framework.headlines) == 6 and framework.eligibility.minimum == 2


def local_version(tmp_path: Path, change) -> Path:
    document = yaml.safe_load((FRAMEWORKS_DIR / "sf-2022.yaml").read_text())
    document["framework"] = "sf-2022-local"
    change(document)
    path = tmp_path / "sf-2022-local.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_council_adds_a_local_version_with_its_own_descriptor(tmp_path):
    def add_unauthorised_absence(document):
        edu = next(h for h in document["headlines"] if h["code"] == "EDU")
        edu["descriptors"].append({
            "id": "EDU-unauthorised", "description": "unauthorised absence of 5% or more", "source": "education",
            "applies_to": "child", "period": {"rule": "whole_record"},
            "conditions": [{"ratio": {"of": ["sessions_missed_unauthorised"], "to": "sessions_possible"},
                            "op": "ge", "value": 0.05}],
        })
        document["eligibility"]["rule"] = "needs"

    path = local_version(tmp_path, add_unauthorised_absence)
    by_name = load_framework("sf-2022-local", CONTRACTS, frameworks_dir=tmp_path).framework
    by_path = load_framework(path, CONTRACTS).framework
    assert by_name == by_path
    assert "EDU-unauthorised" in {d.id for _, d in by_name.descriptors()}
    assert by_name.eligibility.rule == "needs"


def edit(headline: str, descriptor: int, **changes):
    def apply(document):
        target = next(h for h in document["headlines"] if h["code"] == headline)["descriptors"][descriptor]
        for key, value in changes.items():
            target[key] = value
    return apply


@pytest.mark.parametrize(("change", "message"), [
    (edit("HOU", 0, source="council_tax"), "headline HOU, descriptor HOU-event: unknown source 'council_tax'"),
    (edit("EDU", 1, conditions=[{"field": "suspension", "op": "ge", "value": 3}]),
     "descriptor EDU-suspensions, condition 1: field 'suspension' is not a field of source 'education'"),
    (edit("CRM", 0, conditions=[{"field": "incident_type", "op": "in", "value": ["burglary"]}]),
     "burglary is not a code of 'incident_type'"),
    (edit("SAF", 0, conditions=[{"field": "cin_flag", "op": "ge", "value": 1}]), "'ge' needs a number or a date"),
    (edit("FIN", 0, conditions=[{"field": "benefit_type", "op": "is_true"}]), "'is_true' needs a Y/N flag"),
    (edit("FIN", 0, period={"rule": "event", "date": "benefit_type"}), "period: 'benefit_type' is not a date field"),
    (edit("FIN", 0, period={"rule": "spell", "start": "start_date"}), "period rule 'spell' takes end, start"),
    (edit("HLT", 0, period={"rule": "current", "date": "assessed_needs"}), "period: 'assessed_needs' is not a date field"),
    (edit("HLT", 0, period={"rule": "current", "start": "early_help_start"}), "period rule 'current' takes at most a date"),
    (edit("FIN", 0, applies_to="toddler"), "applies_to"),
    (edit("FIN", 0, conditions=[{"field": "benefit_type", "sum": ["a"], "op": "eq", "value": 1}]),
     "exactly one of 'field', 'sum' or 'ratio'"),
    (edit("FIN", 0, conditions=[{"field": "benefit_type", "op": "in", "value": "UC"}]), "needs a list"),
    (edit("FIN", 0, conditions=[]), "conditions"),
    (lambda d: d["headlines"].append(dict(d["headlines"][0])), "a headline code appears twice"),
    (lambda d: d["eligibility"].update(minimum=11), "eligibility needs 11 but the framework has only 10"),
])
def test_a_mistake_is_refused_with_where_it_is(tmp_path, change, message):
    path = local_version(tmp_path, change)
    with pytest.raises(FrameworkError) as caught:
        load_framework(path, CONTRACTS)
    assert "sf-2022-local.yaml" in str(caught.value)
    assert message in str(caught.value)


def test_an_unknown_framework_lists_the_available_ones():
    with pytest.raises(FrameworkError, match=r"framework 'sf-2030': no file .*available: sf-2022, tf-2015"):
        load_framework("sf-2030", CONTRACTS)


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("framework: x\nheadlines: [unclosed\n")
    with pytest.raises(FrameworkError, match=r"broken.yaml: not valid YAML at line \d"):
        load_framework(path, CONTRACTS)
