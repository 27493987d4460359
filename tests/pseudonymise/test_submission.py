"""The cohort file as it leaves: the spec's columns, no identifier anywhere, opt-outs left out, openable."""

from __future__ import annotations

import json
import re
import stat

import pandas as pd
import pytest
from typer.testing import CliRunner

from data.synth import DEFAULT_REFERENCE_DATE
from data.tables import read_parquet
from flows.cli import app
from flows.cohort import cohort_run
from pseudonymise.keys import load_private_key
from pseudonymise.transfer import decrypt_file
from tests.privacy import leaks

RUN_COLUMNS = ["la_code", "run_id", "reference_date", "framework_version"]
SPEC_COLUMNS = [
    "la_code", "run_id", "reference_date", "framework_version", "family_pseudo_id", "person_pseudo_id", "role", "sex",
    "birth_year_month", "postcode_district",
]


@pytest.fixture(scope="module")
def submitted(prefect_harness, synth_small, submission_config, tmp_path_factory):
    out = tmp_path_factory.mktemp("submission-run")
    config = out / "config.yaml"
    config.write_text(submission_config.read_text() + f"opt_outs: {synth_small / 'opt_outs.csv'}\n", encoding="utf-8")
    state = cohort_run(extracts_dir=synth_small / "extracts", out_dir=out, config_file=config,
                       reference_date=DEFAULT_REFERENCE_DATE, return_state=True)
    assert state.is_completed(), state.message
    return state.result(), config


def input_identifiers(run_dir) -> dict[str, set[str]]:
    """Every NINO, NHS number, UPN, name, full date of birth and full postcode the inputs contain."""
    values: dict[str, set[str]] = {"nino": set(), "nhs_number": set(), "upn": set(), "dob": set(), "postcode": set(), "name": set()}
    for path in (run_dir / "ingested").glob("*.parquet"):
        table = read_parquet(path)
        for column in ("nino", "nhs_number", "upn", "postcode"):
            if column in table:
                values[column] |= set(table[column].dropna().astype(str))
        if "dob" in table:
            dobs = pd.to_datetime(table["dob"]).dropna()
            values["dob"] |= set(dobs.dt.strftime("%Y-%m-%d")) | set(dobs.dt.strftime("%d/%m/%Y")) | set(dobs.dt.strftime("%Y%m%d"))
        for column in ("forename", "surname"):
            if column in table:
                names = table[column].dropna().astype(str)
                values["name"] |= {n for n in set(names) | set(names.str.upper()) if len(n) >= 4}
    return values


def test_the_file_has_the_spec_columns_and_formats(submitted):
    summary, _ = submitted
    cohort = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv", dtype=str, keep_default_na=False)
    codes = ["EDU", "EYD", "HLT", "SUB", "REL", "SAF", "CRM", "DAB", "HOU", "FIN"]
    assert cohort.columns.tolist() == SPEC_COLUMNS + [f"need_{c}" for c in codes] + [
        "needs_count", "eligible", "mk_nino", "mk_nhs_number", "mk_name_dob"]
    assert len(cohort) > 0 and cohort["person_pseudo_id"].is_unique
    assert cohort["family_pseudo_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    for column in ("mk_nino", "mk_nhs_number", "mk_name_dob"):
        assert cohort[column].str.fullmatch(r"([0-9a-f]{64})?").all()
    assert cohort["birth_year_month"].str.fullmatch(r"(\d{4}-\d{2})?").all()
    assert cohort["postcode_district"].str.fullmatch(r"([A-Z]{1,2}\d[A-Z\d]?)?").all()
    assert set(cohort["role"]) <= {"adult", "child"} and set(cohort["sex"]) <= set("MFUX")
    assert (cohort["eligible"] == "1").all() and (cohort["needs_count"].astype(int) >= 3).all()
    assert set(cohort["la_code"]) == {"E99999999"} and set(cohort["framework_version"]) == {"sf-2022 v3"}


def test_no_value_of_the_file_is_an_identifier_of_the_inputs(submitted):
    summary, _ = submitted
    values = input_identifiers(summary.run_dir)
    assert all(values[kind] for kind in ("nino", "nhs_number", "upn", "dob", "postcode", "name"))
    staging = summary.run_dir / "submission"
    # The run's own metadata (its code, id, reference date, framework) is the same on every row and names no one.
    about_people = pd.read_csv(staging / "cohort" / "cohort.csv", dtype=str, keep_default_na=False).drop(
        columns=RUN_COLUMNS)
    text = about_people.to_csv(index=False) + (staging / "aggregates" / "aggregates.csv").read_text()
    assert leaks(text, values) == {}
    cells = set(read_parquet(staging / "cohort" / "cohort.parquet").drop(columns=RUN_COLUMNS).astype(str).to_numpy().ravel())
    for kind, identifiers in values.items():
        assert not (cells & identifiers), kind
    for cell in cells:  # nothing shaped like a NINO, NHS number, UPN, full postcode or full date either
        assert not re.fullmatch(r"[A-Z]{2}\d{6}[A-D]|\d{10}|[A-Z]\d{12}|[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}|\d{4}-\d{2}-\d{2}", cell)


def test_people_who_opted_out_are_left_out_and_counted_without_names(submitted, synth_small):
    summary, _ = submitted
    opted = read_parquet(synth_small / "truth" / "opt_outs.parquet")["person_id"]
    truth = read_parquet(synth_small / "truth" / "records.parquet")
    linked = read_parquet(summary.run_dir / "linked_records.parquet").merge(truth, on=["source", "record_id"], suffixes=("", "_true"))
    their_persons = set(linked.loc[linked["person_id_true"].isin(opted), "person_id"])
    assert their_persons
    crosswalk = read_parquet(summary.run_dir / "criteria" / "submission_crosswalk.parquet")
    assert not set(crosswalk["person_id"]) & their_persons
    manifest = json.loads((summary.run_dir / "submission" / "cohort" / "manifest.json").read_text())
    assert manifest["opt_outs"]["listed"] == len(opted) and manifest["opt_outs"]["matched"] == len(opted)
    # Families are reassessed without them: every family sent still meets the rule on what is sent.
    assert manifest["counts"]["families_no_longer_eligible_without_opt_outs"] >= 0
    cohort = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv")
    assert (cohort["needs_count"] >= 2).all() and (cohort["eligible"] == 1).all()
    assert leaks(json.dumps(manifest), input_identifiers(summary.run_dir)) == {}


def test_each_package_opens_with_its_own_recipients_key_only_and_the_hashes_match(submitted, tmp_path,
                                                                                   submission_config):
    from data.readers import file_sha256
    from pseudonymise.transfer import TransferError

    summary, _ = submitted
    staging = summary.run_dir / "submission"
    keys = {"cohort": "recipient_private.pem", "aggregates": "aggregates_private.pem"}
    for package, key_file in keys.items():
        manifest = json.loads((staging / package / "manifest.json").read_text())
        private = load_private_key(submission_config.parent / key_file)
        for name, digest in manifest["files_sha256"].items():
            decrypt_file(staging / package / f"{name}.enc", tmp_path / name, private)
            assert file_sha256(tmp_path / name) == digest
        other = load_private_key(submission_config.parent / keys["aggregates" if package == "cohort" else "cohort"])
        with pytest.raises(TransferError, match="encrypted for recipient key"):
            decrypt_file(staging / package / f"{next(iter(manifest['files_sha256']))}.enc", tmp_path / "x", other)
    cohort = json.loads((staging / "cohort" / "manifest.json").read_text())
    aggregates = json.loads((staging / "aggregates" / "manifest.json").read_text())
    assert set(cohort["files_sha256"]) == {"cohort.csv", "cohort.parquet"}
    assert set(aggregates["files_sha256"]) == {"aggregates.csv"}, "no row-level data beside the aggregates"
    assert set(cohort["key_fingerprints"]) == {"council", "evaluation", "recipient"}
    assert set(aggregates["key_fingerprints"]) == {"recipient"}
    assert cohort["key_fingerprints"]["recipient"] != aggregates["key_fingerprints"]["recipient"]
    assert "pseudonymised personal data, not anonymous" in cohort["about"]
    key_text = (submission_config.parent / "council.key").read_text().splitlines()[1]
    assert key_text not in json.dumps(cohort) and key_text not in summary.manifest.read_text()


def test_rotating_the_council_key_maps_every_pseudonym(submitted, tmp_path, submission_config):
    summary, _ = submitted
    runner = CliRunner()
    new_key = tmp_path / "council-2027.key"
    assert runner.invoke(app, ["keys", "new", "--kind", "council", "--out", str(new_key)]).exit_code == 0
    mapping_file = tmp_path / "rotation.csv"
    result = runner.invoke(app, ["keys", "rotate", "--kind", "council", "--old", str(submission_config.parent / "council.key"),
                                 "--new", str(new_key), "--run", str(summary.run_dir), "--out", str(mapping_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(mapping_file.stat().st_mode) == 0o600
    mapping = pd.read_csv(mapping_file)
    cohort = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv")
    persons = mapping[mapping["field"] == "person_pseudo_id"]
    assert set(persons["old"]) == set(cohort["person_pseudo_id"])
    assert not set(persons["new"]) & set(cohort["person_pseudo_id"])
    families = mapping[mapping["field"] == "family_pseudo_id"]
    assert set(families["old"]) == set(cohort["family_pseudo_id"])


def test_rotation_refuses_an_old_key_the_run_did_not_use_and_writes_nothing(submitted, tmp_path):
    """The issue's case: with another key as --old it exited 0 and wrote a useless, world-readable mapping."""
    summary, _ = submitted
    runner = CliRunner()
    stranger, new_key = tmp_path / "stranger.key", tmp_path / "council-2027.key"
    for path in (stranger, new_key):
        assert runner.invoke(app, ["keys", "new", "--kind", "council", "--out", str(path)]).exit_code == 0
    mapping_file = tmp_path / "rotation.csv"
    result = runner.invoke(app, ["keys", "rotate", "--kind", "council", "--old", str(stranger), "--new", str(new_key),
                                 "--run", str(summary.run_dir), "--out", str(mapping_file)])
    assert result.exit_code == 1
    assert "is not the one run" in result.output and "give the key its submission was made with" in result.output
    assert not mapping_file.exists()


def test_rotation_encrypts_the_mapping_for_the_recipient_when_asked(submitted, tmp_path, submission_config):
    summary, _ = submitted
    runner = CliRunner()
    new_key = tmp_path / "council-2027.key"
    assert runner.invoke(app, ["keys", "new", "--kind", "council", "--out", str(new_key)]).exit_code == 0
    sealed = tmp_path / "rotation.csv.enc"
    result = runner.invoke(app, ["keys", "rotate", "--kind", "council", "--old", str(submission_config.parent / "council.key"),
                                 "--new", str(new_key), "--run", str(summary.run_dir), "--out", str(sealed), "--encrypt"])
    assert result.exit_code == 0, result.output
    assert "encrypted for recipient key" in result.output
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    decrypt_file(sealed, tmp_path / "rotation.csv", load_private_key(submission_config.parent / "recipient_private.pem"))
    mapping = pd.read_csv(tmp_path / "rotation.csv")
    cohort = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv")
    assert set(mapping.loc[mapping["field"] == "person_pseudo_id", "old"]) == set(cohort["person_pseudo_id"])


def test_rotating_the_evaluation_key_maps_every_match_key_that_was_sent(submitted, tmp_path, submission_config):
    summary, _ = submitted
    runner = CliRunner()
    new_key = tmp_path / "evaluation-2027.key"
    assert runner.invoke(app, ["keys", "new", "--kind", "evaluation", "--out", str(new_key)]).exit_code == 0
    mapping_file = tmp_path / "rotation.csv"
    result = runner.invoke(app, ["keys", "rotate", "--kind", "evaluation",
                                 "--old", str(submission_config.parent / "evaluation.key"), "--new", str(new_key),
                                 "--run", str(summary.run_dir), "--out", str(mapping_file)])
    assert result.exit_code == 0, result.output
    mapping = pd.read_csv(mapping_file, dtype=str)
    cohort = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv", dtype=str, keep_default_na=False)
    for field in ("mk_nino", "mk_nhs_number", "mk_name_dob"):
        sent = set(cohort[field]) - {""}
        assert sent and set(mapping.loc[mapping["field"] == field, "old"]) == sent, field


def test_the_same_key_gives_the_same_pseudonyms_next_month(submitted, synth_small):
    summary, config = submitted
    later = cohort_run(extracts_dir=synth_small / "extracts", out_dir=summary.run_dir.parents[1], config_file=config,
                       reference_date=pd.Timestamp("2026-10-31").date(), return_state=True).result()
    before = pd.read_csv(summary.run_dir / "submission" / "cohort" / "cohort.csv")
    after = pd.read_csv(later.run_dir / "submission" / "cohort" / "cohort.csv")
    shared = set(before["person_pseudo_id"]) & set(after["person_pseudo_id"])
    assert len(shared) >= 0.9 * len(before)
