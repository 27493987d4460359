"""Contracts load, and a broken one fails with a message that says what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.contract import CONTRACTS_DIR, load_contract, load_contracts, normalise_header
from data.errors import ContractError

SOURCES = {"la_cases", "dwp_benefits", "housing", "police", "education"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_contracts_cover_the_five_sources():
    contracts = load_contracts(CONTRACTS_DIR)
    assert set(contracts) == SOURCES
    for contract in contracts.values():
        assert contract.key == "record_id"
        assert not contract.fields["record_id"].nullable


def test_canonical_layout_matches_the_spec():
    contracts = load_contracts(CONTRACTS_DIR)
    assert list(contracts["la_cases"].fields) == [
        "record_id", "case_id", "family_id", "forename", "surname", "dob", "sex", "nino", "nhs_number", "upn",
        "address", "postcode", "cin_flag", "cp_flag", "early_help_start", "assessed_needs",
        # the case facts a results claim rests on (outcomes.md), after the spec's layout and all optional
        "taken_on", "lead_practitioner", "assessment_date", "action_plan_date", "entry_needs", "closure_date",
        "reopened_date", "cin_cp_end", "outcomes_recorded",
    ]
    added = list(contracts["la_cases"].fields)[16:]
    assert not any(contracts["la_cases"].fields[name].required for name in added)
    assert not contracts["dwp_benefits"].fields["request_reference"].required
    assert contracts["dwp_benefits"].fields["benefit_type"].codes == ("UC", "JSA", "ESA", "IS")
    assert contracts["education"].fields["sessions_possible"].type == "integer"


MINIMAL = """
source: {name}
version: 1
file_patterns: ["{name}*.csv"]
fields:
  record_id: {{nullable: false}}
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  kind: {type: colour}", "fields.kind.type"),
        ("  kind: {type: code}", "must list its allowed 'codes'"),
        ("  kind: {type: string, codes: [A]}", "only allowed on fields of type 'code'"),
        ("  kind: {hedaer: x}", "fields.kind.hedaer"),
        ("  Kind: {}", "lower case letters"),
        ("  kind: {header: record_id}", "mapped to both"),
    ],
)
def test_a_bad_field_is_named_in_the_error(tmp_path, body, expected):
    path = write(tmp_path, "thing", MINIMAL.format(name="thing") + body + "\n")
    with pytest.raises(ContractError) as caught:
        load_contract(path)
    assert "thing.yaml" in str(caught.value)
    assert expected in str(caught.value)


def test_a_key_that_may_be_empty_is_rejected(tmp_path):
    path = write(tmp_path, "thing", MINIMAL.format(name="thing").replace("{nullable: false}", "{}"))
    with pytest.raises(ContractError, match="must be required and not nullable"):
        load_contract(path)


def test_a_bad_date_format_is_rejected(tmp_path):
    path = write(tmp_path, "thing", MINIMAL.format(name="thing") + 'date_formats: ["YYYY-MM-DD"]\n')
    with pytest.raises(ContractError, match="date_formats"):
        load_contract(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "thing", "source: thing\nfields: [unclosed\n")
    with pytest.raises(ContractError, match=r"thing.yaml: not valid YAML at line \d"):
        load_contract(path)


def test_the_file_name_must_match_the_source(tmp_path):
    path = write(tmp_path, "other", MINIMAL.format(name="thing"))
    with pytest.raises(ContractError, match="named for 'other'"):
        load_contract(path)


def test_asking_for_an_unknown_source_lists_the_known_ones(tmp_path):
    with pytest.raises(ContractError, match="no contract for source.*police_scotland.*known: "):
        load_contracts(CONTRACTS_DIR, ["police_scotland"])


def test_headers_compare_without_case_spacing_or_hyphens():
    assert normalise_header("  Record ID ") == "record_id"
    assert normalise_header("NHS-Number") == "nhs_number"
    assert normalise_header("date  of\tbirth") == "date_of_birth"


def test_patterns_match_file_names_without_case():
    contract = load_contracts(CONTRACTS_DIR, ["police"])["police"]
    assert contract.matches("Police_2026-10.CSV")
    assert contract.matches("police.xlsx")
    assert not contract.matches("housing.csv")
