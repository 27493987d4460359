"""Outcomes and claims in the monthly run: the outputs, the register, the quarterly package, nothing leaked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from data.private_files import exposed
from data.synth import DEFAULT_REFERENCE_DATE
from data.tables import read_parquet
from flows.cohort import cohort_run
from pseudonymise.publish import PROGRESS
from tests.privacy import leaks, sensitive_values


def test_a_run_tracks_outcomes_claims_and_registers_them(prefect_harness, synth_small, tmp_path, submission_config,
                                                        prefect_logs, monkeypatch):
    # The case facts worked out by a process of their own while persons are resolved, as a county's are:
    # this process (the outcomes' step) must not work them out.
    monkeypatch.setattr("flows.cohort.CASE_FACTS_APART_FROM", 0)

    def not_here(*args, **kwargs):
        raise AssertionError("the case facts were worked out in the run's own process")

    monkeypatch.setattr("flows.outcome_tasks.case_facts", not_here)
    state = cohort_run(extracts_dir=synth_small / "extracts", out_dir=tmp_path, config_file=submission_config,
                       reference_date=DEFAULT_REFERENCE_DATE, return_state=True)
    assert state.is_completed(), state.message
    summary = state.result()
    root = summary.run_dir
    manifest = json.loads((root / "manifest.json").read_text())
    outcomes = manifest["outcomes"]
    in_turn = [stage for stage in manifest["stages"] if stage not in ("pseudonymise", "gate submission")]
    assert in_turn.index("outcomes") == in_turn.index("criteria") + 1
    assert outcomes["plan"] == "sf-2022-outcomes v1"
    # the synthetic council has families at every stage of the programme
    assert all(count > 0 for count in outcomes["families_by_stage"].values()), outcomes["families_by_stage"]
    claims = pd.read_csv(root / "claims" / "claims.csv", dtype=str)
    status = pd.read_csv(root / "claims" / "claim_status.csv", dtype=str)
    assert len(claims) == outcomes["claims_this_period"] == (status["claim_status"] == "claimable").sum() > 0
    assert outcomes["families_taken_on"] == len(status)
    for claim in claims.itertuples():
        assert (root / "claims" / "audit" / f"{claim.claim_id}.html").exists()
    # the case faults the generator plants are caught and hold those families back
    problems = pd.read_csv(root / "claims" / "case_problems.csv", dtype=str)
    assert outcomes["case_problems"] == len(problems)
    held = set(problems["family_id"])
    assert not held & set(claims["family_id"])
    # the register holds this period's claims once the run completed
    register = read_parquet(tmp_path / "claims" / "register.parquet")
    assert sorted(register["claim_id"]) == sorted(claims["claim_id"])
    # the quarterly return is published as its own package, for the department's key
    package = summary.published / PROGRESS.name
    published = json.loads((package / "manifest.json").read_text())
    assert published["quarter"] == "2026-Q3" and (package / "quarterly_return.csv.enc").exists()
    # audited by a gate of its own, as the return is staged after the cohort's gate has run
    assert manifest["quality"]["quarterly"]["passed"] and manifest["quality"]["quarterly"]["suites"]["quarterly"]["rows"]
    assert set(manifest["quality"]["submission"]["suites"]) == {"cohort", "aggregates"}
    assert published["quality_gate"] == {"passed": True, "suites": {"quarterly": {
        k: manifest["quality"]["quarterly"]["suites"]["quarterly"][k] for k in ("rows", "evaluated", "passed")}}}
    quarterly = pd.read_csv(root / "submission" / "progress" / "quarterly_return.csv", dtype=str)
    assert quarterly["families"].str.fullmatch(r"\[c\]|[1-9]\d*[05]").all()
    assert "Outcomes and results claims" in (root / "match_report.html").read_text()
    # nothing the run wrote outside the audit packs names anyone; the packs are the owner's only
    values = sensitive_values(read_parquet(synth_small / "truth" / "people.parquet"))
    for name in ("manifest.json", "submission/progress/quarterly_return.csv", "match_report.html"):
        assert leaks((root / name).read_text(encoding="utf-8"), values) == {}, name
    # The claim files hold the dates of cases and outcomes, which can fall on someone's birthday: they are
    # checked for names and identifiers, and for holding no column about a person.
    case_dates = {key: found for key, found in values.items() if key != "dob"}
    for name in ("claims/claims.csv", "claims/claim_status.csv", "claims/case_problems.csv"):
        assert leaks((root / name).read_text(encoding="utf-8"), case_dates) == {}, name
    headers = set(claims.columns) | set(status.columns)
    assert not headers & {"forename", "surname", "dob", "nino", "nhs_number", "upn", "address", "postcode",
                          "person_id"}
    assert leaks(prefect_logs.text(), values) == {}
    assert exposed(root / "claims") == [] and exposed(tmp_path / "claims") == []


def test_a_family_claimed_is_not_claimed_again_next_month(prefect_harness, synth_small, tmp_path, submission_config):
    def run(day):
        return cohort_run(extracts_dir=synth_small / "extracts", out_dir=tmp_path, config_file=submission_config,
                          reference_date=day, return_state=True).result()

    first = run(DEFAULT_REFERENCE_DATE)
    claimed = set(pd.read_csv(first.run_dir / "claims" / "claims.csv", dtype=str)["family_id"])
    later = run(pd.Timestamp("2026-10-31").date())
    status = pd.read_csv(later.run_dir / "claims" / "claim_status.csv", dtype=str).set_index("family_id")
    assert claimed and (status.loc[sorted(claimed), "claim_status"] == "claimed before").all()
    assert (status.loc[sorted(claimed), "claimed_in"] == "2026-09").all()
    assert not claimed & set(pd.read_csv(later.run_dir / "claims" / "claims.csv", dtype=str)["family_id"])


def test_an_outcome_plan_that_does_not_fit_stops_the_run_before_any_work(prefect_harness, synth_small, tmp_path,
                                                                        submission_config):
    plan = tmp_path / "local.yaml"
    plan.write_text((Path(__file__).resolve().parents[2] / "criteria" / "outcomes" / "sf-2022.yaml").read_text()
                    .replace("source: housing", "source: probation"), encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(submission_config.read_text() + f"outcomes: {{plan: {plan}}}\n", encoding="utf-8")
    state = cohort_run(extracts_dir=synth_small / "extracts", out_dir=tmp_path / "out", config_file=config,
                       reference_date=DEFAULT_REFERENCE_DATE, return_state=True)
    assert state.is_failed()
    assert "outcome plan local.yaml does not fit" in state.message
    assert "headline HOU, test 1 (no_record): unknown source 'probation'" in state.message
    assert not (tmp_path / "out" / "runs").exists()
