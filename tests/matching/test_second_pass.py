"""The second pass: each record against its candidate person's records, and the household as evidence.

Scenarios are added to a synthetic population of realistic difficulty, so that names have realistic
frequencies, and linked with a model trained on it.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from data.contract import load_contracts
from data.ingest import ingest_extract
from data.readers import locate_extracts
from data.synth import generate
from matching import pipeline
from matching.spec import PROGRAMME_SPEC as SPEC
from tests.factories import REFERENCE

RECORD_ONLY = dataclasses.replace(SPEC, second_pass=False, comparisons=SPEC.comparisons[:-1])
FAMILY = {"postcode": "LS1 1AA", "address": "1 Quarry Lane"}
ELSEWHERE = {"postcode": "LS9 9ZZ", "address": "9 Far Road"}
MOTHER = {"forename": "Saoirse", "surname": "Quennell", "dob": "1985-03-02"}
CHILD = {"forename": "Liliana", "surname": "Ormerod", "dob": "2015-06-11"}


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    out = tmp_path_factory.mktemp("realistic")
    generate(3000, seed=11, out=out, difficulty="realistic")
    contracts = load_contracts()
    return {source: ingest_extract(path, contracts[source]).records
            for source, path in locate_extracts(out / "extracts", contracts).items()}


@pytest.fixture(scope="module")
def model(background):
    built = pipeline.person_records(SPEC, background, REFERENCE)
    return pipeline.train(SPEC, built, data_sha256="t", code_version={}, trained_at="t", random_pairs=300_000)


def with_rows(background: dict[str, pd.DataFrame], source: str, rows: list[dict], group: dict[str, str]) -> pd.DataFrame:
    """The background table of a source with scenario rows added (record ids X0, X1, ...), one family or event."""
    table = background[source]
    added = pd.DataFrame([{**row, "record_id": f"X{i}", "source": source, "source_row": 0, **group}
                          for i, row in enumerate(rows)])
    added["dob"] = pd.to_datetime(added["dob"])
    added = added.reindex(columns=table.columns)
    added = added.astype({c: t for c, t in table.dtypes.items() if added[c].notna().any()})
    return pd.concat([table, added.dropna(axis=1, how="all")], ignore_index=True)


def linked(model, background, la_cases: list[dict], police: list[dict], spec=SPEC):
    tables = dict(background)
    tables["la_cases"] = with_rows(background, "la_cases", la_cases, {"family_id": "FX", "case_id": "CX"})
    tables["police"] = with_rows(background, "police", police, {"incident_id": "INX", "incident_type": "call_out"})
    built = pipeline.person_records(spec, tables, REFERENCE)
    chosen = model if spec is SPEC else model.model_copy(update={"comparisons": model.comparisons[:-1]})
    outcome = pipeline.link(spec, chosen, built).outcome
    frame = outcome.linked.astype({"source": str, "record_id": str})
    return lambda source, record: frame.loc[(frame["source"] == source) & (frame["record_id"] == record),
                                            "person_id"].item()


def test_a_step_child_known_by_the_step_parents_surname_is_found_through_the_household(model, background):
    council = [{**MOTHER, **FAMILY}, {**CHILD, **FAMILY}]
    incident = [{**MOTHER, **ELSEWHERE}, {**CHILD, "surname": MOTHER["surname"], **ELSEWHERE}]
    person = linked(model, background, council, incident)
    assert person("police", "X0") == person("la_cases", "X0"), "the mother links on her own"
    assert person("police", "X1") == person("la_cases", "X1"), "her child, through her"
    record_only = linked(model, background, council, incident, RECORD_ONLY)
    assert record_only("police", "X1") != record_only("la_cases", "X1"), \
        "record to record, a child under another surname at another address is not enough"


def test_an_alias_is_linked_where_no_one_else_in_the_household_shares_the_birthday(model, background):
    council = [{**MOTHER, **FAMILY}, {**CHILD, **FAMILY}]
    incident = [{**MOTHER, **ELSEWHERE}, {**CHILD, "forename": "Kayleigh", **ELSEWHERE}]
    person = linked(model, background, council, incident)
    assert person("police", "X1") == person("la_cases", "X1")


def test_twins_are_kept_apart_whatever_the_household_says(model, background):
    twin = {**CHILD, "forename": "Rosalind"}
    council = [{**MOTHER, **FAMILY}, {**CHILD, **FAMILY}, {**twin, **FAMILY}]
    incident = [{**MOTHER, **ELSEWHERE}, {**CHILD, "forename": "Kayleigh", **ELSEWHERE}, {**twin, **ELSEWHERE}]
    person = linked(model, background, council, incident)
    assert person("la_cases", "X1") != person("la_cases", "X2")
    assert person("police", "X2") == person("la_cases", "X2"), "a twin's own record links to her"
    assert person("police", "X1") not in {person("la_cases", "X1"), person("la_cases", "X2")}, \
        "an unknown forename for a twin's birthday is nobody's without an analyst"


def test_twins_carrying_a_placeholder_nhs_number_stay_two_people(model, background):
    """Twins in two council cases (one lives with each parent), both recorded with 2222222222, which passes
    modulus 11: the number must not make them one person."""
    placeholder = {"nhs_number": "2222222222"}
    twin = {**CHILD, "forename": "Rosalind", **placeholder, **ELSEWHERE}
    tables = dict(background)
    council = with_rows(background, "la_cases", [{**MOTHER, **FAMILY}, {**CHILD, **placeholder, **FAMILY}],
                        {"family_id": "FX", "case_id": "CX"})
    council = with_rows({"la_cases": council}, "la_cases", [twin], {"family_id": "FY", "case_id": "CY"})
    council.loc[council.index[-1], "record_id"] = "Y0"
    tables["la_cases"] = council
    outcome = pipeline.link(SPEC, model, pipeline.person_records(SPEC, tables, REFERENCE)).outcome
    frame = outcome.linked.astype({"source": str, "record_id": str}).set_index(["source", "record_id"])["person_id"]
    assert frame[("la_cases", "X1")] != frame[("la_cases", "Y0")], "a stand-in number is nobody's identifier"
