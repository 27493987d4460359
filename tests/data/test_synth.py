"""The generator: valid identifiers, the hard cases present, deterministic for a seed, truth kept apart."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from data.contract import CONTRACTS_DIR, load_contracts
from data.identifiers import nhs_number_is_valid, nino_is_valid, postcode_is_valid, upn_is_valid
from data.ingest import ingest_extract
from data.readers import locate_extracts
from data.synth import generate
from data.synth.population import build_population
from data.synth.noise import PLACEHOLDER_NINOS
from data.tables import read_parquet
from data.synth import DEFAULT_REFERENCE_DATE


@pytest.fixture(scope="module")
def population():
    return build_population(3000, seed=11, reference_date=DEFAULT_REFERENCE_DATE)


def test_household_shape(population):
    households = population.households
    assert households["n_adults"].between(1, 2).all()
    assert households["n_children"].between(0, 5).all()
    per_household = population.people.groupby("household_id").size()
    assert (per_household == (households.set_index("household_id")["n_adults"] + households.set_index("household_id")["n_children"])).all()


def test_every_true_identifier_is_valid_and_unique(population):
    people = population.people
    for column, check in (("nino", nino_is_valid), ("nhs_number", nhs_number_is_valid), ("upn", upn_is_valid)):
        values = people[column].dropna()
        assert len(values) > 0
        assert check(values).all(), column
        assert values.is_unique, column
    assert postcode_is_valid(population.households["postcode"]).all()


def test_ninos_only_for_people_of_sixteen_and_over(population):
    people = population.people
    assert people.loc[people["nino"].notna(), "age"].min() >= 16
    assert people.loc[people["age"] >= 16, "nino"].notna().all()


def test_children_are_younger_than_their_first_adult(population):
    people = population.people
    first_adult_age = people[people["role"] == "adult"].groupby("household_id")["age"].first()
    children = people[people["role"] == "child"]
    gap = children["household_id"].map(first_adult_age) - children["age"]
    assert (gap >= 15).all()


def test_the_hard_cases_are_present(population):
    people = population.people
    children = people[people["role"] == "child"]
    twins = children.groupby(["household_id", "dob"]).size()
    assert (twins >= 2).any()
    key = ["forename", "surname", "dob"]
    same_name_and_dob = people.groupby(key)["household_id"].nunique()
    assert (same_name_and_dob >= 2).any(), "strangers sharing a name and date of birth"
    adults = people[people["role"] == "adult"].set_index("household_id")
    juniors = children.join(adults[["forename", "surname"]], on="household_id", rsuffix="_adult")
    assert ((juniors["forename"] == juniors["forename_adult"]) & (juniors["surname"] == juniors["surname_adult"])).any()
    top_surname_share = people["surname"].value_counts(normalize=True).iloc[0]
    assert top_surname_share > 0.01, "common names collide"


def file_digests(root):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "extracts").iterdir())}


def test_the_same_seed_gives_the_same_files(tmp_path):
    generate(150, seed=3, out=tmp_path / "a")
    generate(150, seed=3, out=tmp_path / "b")
    generate(150, seed=4, out=tmp_path / "c")
    a, b, c = (file_digests(tmp_path / name) for name in "abc")
    assert a == b, "byte for byte, the Excel extract included"
    assert a != c
    assert read_parquet(tmp_path / "a" / "truth" / "records.parquet").equals(read_parquet(tmp_path / "b" / "truth" / "records.parquet"))


def test_truth_is_apart_from_the_extracts_and_covers_every_record(synth_small):
    extracts = synth_small / "extracts"
    assert sorted(p.suffix for p in extracts.iterdir()) == [".csv", ".csv", ".csv", ".csv", ".xlsx"]
    assert not any("truth" in p.name for p in extracts.iterdir())
    truth = read_parquet(synth_small / "truth" / "records.parquet")
    summary = json.loads((synth_small / "synth.json").read_text())
    for source, count in summary["records"].items():
        ids = truth.loc[truth["source"] == source, "record_id"]
        assert ids.nunique() == ids.size
        assert 0 < ids.nunique() <= count


def test_each_source_carries_its_kind_of_noise(synth_small):
    contracts = load_contracts(CONTRACTS_DIR)
    located = locate_extracts(synth_small / "extracts", contracts)
    records = {s: ingest_extract(p, contracts[s]).records for s, p in located.items()}
    truth = read_parquet(synth_small / "truth" / "records.parquet")
    people = read_parquet(synth_small / "truth" / "people.parquet").set_index("person_id")

    dwp = records["dwp_benefits"]
    assert dwp["nino"].notna().mean() > 0.95, "DWP almost always has the NINO"
    assert dwp.duplicated("nino").any(), "people with several claims"
    police = records["police"]
    assert police["dob"].isna().mean() > 0.15, "police often lack the date of birth"
    housing = records["housing"]
    assert housing["nino"].isin(PLACEHOLDER_NINOS).any() or records["police"]["nino"].isin(PLACEHOLDER_NINOS).any()

    joined = police.merge(truth[truth["source"] == "police"], on="record_id").join(people, on="person_id", rsuffix="_true")
    swapped = (joined["forename"].str.upper() == joined["surname_true"].str.upper()) & (joined["surname"].str.upper() == joined["forename_true"].str.upper())
    assert swapped.any(), "police swap forename and surname"
    wrong_dob = joined["dob"].notna() & (joined["dob"] != joined["dob_true"])
    assert wrong_dob.any(), "dates of birth keyed wrongly"
    education = records["education"]
    assert education["upn"].notna().mean() > 0.95
    assert upn_is_valid(education["upn"].dropna()).mean() > 0.97


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    out = tmp_path_factory.mktemp("realistic")
    generate(1500, seed=5, out=out, difficulty="realistic")
    contracts = load_contracts(CONTRACTS_DIR)
    located = locate_extracts(out / "extracts", contracts)
    records = {s: ingest_extract(p, contracts[s]).records for s, p in located.items()}
    truth = read_parquet(out / "truth" / "records.parquet")
    people = read_parquet(out / "truth" / "people.parquet").set_index("person_id")
    return out, records, truth, people


def _joined(realistic, source):
    _, records, truth, people = realistic
    return records[source].merge(truth[truth["source"] == source], on="record_id").join(people, on="person_id",
                                                                                       rsuffix="_true")


@pytest.mark.parametrize("source", ["police", "housing"])
def test_realistic_partner_extracts_are_as_dirty_as_councils_receive(realistic, source):
    joined = _joined(realistic, source)
    forename_differs = joined["forename"].fillna("").str.upper() != joined["forename_true"].str.upper()
    assert 0.10 < forename_differs.mean() < 0.30, "about one forename in six differs from the person's"
    assert 0.03 < joined["dob"].isna().mean() < 0.15, "dates of birth missing in 5-10 % of rows"
    adults = joined[joined["role_true"] == "adult"] if "role_true" in joined else joined
    assert 0.05 < adults["nino"].notna().mean() < 0.5, "NINOs on 10-40 % of rows"


def test_realistic_mode_has_step_children_known_by_another_surname(realistic):
    out, _, _, people = realistic
    known_as = people["known_as_surname"].dropna()
    assert len(known_as) > 0 and (people.loc[known_as.index, "surname"] != known_as).all()
    police = _joined(realistic, "police")
    stepchildren = police[police["known_as_surname_true"].notna()] if "known_as_surname_true" in police else \
        police[police["known_as_surname"].notna()]
    surname = stepchildren["surname"].str.upper()
    assert (surname == stepchildren["known_as_surname"].str.upper()).any(), "police record the surname they go by"


def test_realistic_mode_leaves_the_standard_mode_as_it_was(tmp_path):
    generate(150, seed=3, out=tmp_path / "standard")
    generate(150, seed=3, out=tmp_path / "realistic", difficulty="realistic")
    assert file_digests(tmp_path / "standard") != file_digests(tmp_path / "realistic")
    assert json.loads((tmp_path / "realistic" / "synth.json").read_text())["difficulty"] == "realistic"


def test_the_council_has_families_at_every_stage_with_case_histories_that_hold_together(synth_small):
    from data.synth.cases import LEGACY_CODE

    cases = ingest_extract(synth_small / "extracts" / "la_cases.csv", load_contracts()["la_cases"]).records
    families = cases.drop_duplicates("family_id")
    taken, closed, reopened = families["taken_on"], families["closure_date"], families["reopened_date"]
    assert taken.isna().any() and (taken.notna() & closed.isna()).any()  # not taken on; open
    assert (reopened > closed).any()  # re-opened
    since = (pd.Timestamp(DEFAULT_REFERENCE_DATE) - closed).dt.days  # closed recently, and long enough ago
    assert ((since < 180) & reopened.isna()).any() and ((since > 190) & reopened.isna()).any()
    # every family's rows give the same case facts
    for column in ("taken_on", "closure_date", "entry_needs", "lead_practitioner"):
        assert (cases.groupby("family_id")[column].nunique() <= 1).all(), column
    # the faults case systems export are there, and rare
    faults = ((closed < taken).sum(), families["entry_needs"].str.contains(LEGACY_CODE).sum())
    assert all(0 < count <= 0.05 * taken.notna().sum() for count in faults), faults
    # a child's plan ended before the case closed, and then the child is no longer flagged
    ended = cases[cases["cin_cp_end"].notna()]
    assert len(ended) and not ended["cin_flag"].any() and not ended["cp_flag"].any()
    sound = ended[ended["closure_date"] >= ended["taken_on"]]  # the planted fault aside
    assert (sound["cin_cp_end"] <= sound["closure_date"]).all()
    recorded = families["outcomes_recorded"].dropna()
    assert recorded.str.fullmatch(r"[A-Z]{3}:[0-9/\-]{10}(;[A-Z]{3}:[0-9/\-]{10})*").all()
