"""Write-audit-publish: a run publishes only what passed its gates; a failed gate publishes nothing."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from prefect.client.orchestration import get_client

import flows.submission_tasks
import pseudonymise.submission
from data.synth import DEFAULT_REFERENCE_DATE
from flows.cohort import cohort_run


def run(extracts, out, config):
    return cohort_run(extracts_dir=extracts, out_dir=out, config_file=config, reference_date=DEFAULT_REFERENCE_DATE,
                      return_state=True)


def test_a_clean_run_passes_its_gates_and_publishes(prefect_harness, synth_small, submission_config, tmp_path):
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_completed(), state.message
    summary = state.result()
    published = tmp_path / "published" / "2026-09" / "v1"
    assert summary.published == published
    assert {p.name: sorted(f.name for f in p.iterdir()) for p in published.iterdir()} == {
        "cohort": ["cohort.csv.enc", "cohort.parquet.enc", "manifest.json", "withdrawals.csv.enc"],
        "aggregates": ["aggregates.csv.enc", "manifest.json"],
        "progress": ["manifest.json", "quarterly_return.csv.enc"],
    }
    latest = json.loads((tmp_path / "published" / "latest.json").read_text())
    assert (latest["run_id"], latest["folder"], latest["supersedes"]) == (summary.run_id, "2026-09/v1", None)
    manifest = json.loads(summary.manifest.read_text())
    assert manifest["quality"]["inputs"]["passed"] and manifest["quality"]["submission"]["passed"]
    sources = ("la_cases", "dwp_benefits", "housing", "police", "education")
    assert set(manifest["quality"]["inputs"]["suites"]) == {f"{suite}_{s}" for s in sources for suite in ("input", "ingest")}
    assert manifest["warnings"] == []
    for package in ("cohort", "aggregates"):
        assert json.loads((published / package / "manifest.json").read_text())["quality_gate"]["passed"] is True
    for gate in ("inputs", "submission"):
        assert (summary.run_dir / "data_docs" / gate / "index.html").exists()
        assert (summary.run_dir / "quality" / f"{gate}.md").exists()
    with get_client(sync_client=True) as client:
        artifact = client.read_latest_artifacts()
        keys = {a.key for a in artifact}
    assert {"sfmatch-quality-inputs", "sfmatch-quality-submission"} <= keys


def test_a_broken_extract_stops_the_run_with_a_report_and_publishes_nothing(prefect_harness, synth_small,
                                                                           submission_config, tmp_path):
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    dwp = extracts / "dwp_benefits.csv"
    table = pd.read_csv(dwp, dtype=str, keep_default_na=False)
    table.loc[: len(table) // 5, "NINO"] = "Q" + table.loc[: len(table) // 5, "NINO"].str.slice(1)  # Q is never used
    table.to_csv(dwp, index=False)

    state = run(extracts, tmp_path / "out", submission_config)
    assert state.is_failed()
    assert "inputs gate failed, nothing published" in state.message
    assert "input_dwp_benefits: identifier_format (expect_column_values_to_match_regex on nino)" in state.message
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    report = (run_dir / "quality" / "inputs.md").read_text()
    assert "## Blocking failures" in report and "present nino values malformed" in report
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["quality"]["inputs"]["passed"] is False
    assert not (tmp_path / "out" / "published").exists()
    assert not (run_dir / "linked_records.parquet").exists(), "nothing after the failed gate ran"


def test_a_failed_submission_gate_publishes_nothing(prefect_harness, synth_small, submission_config, tmp_path, monkeypatch):
    genuine = pseudonymise.submission.build_submission

    def leaky(*args, **kwargs):
        cohort, crosswalk, counts = genuine(*args, **kwargs)
        cohort.loc[0, "postcode_district"] = "LS1 4AP"  # a full postcode slips into the file
        return cohort, crosswalk, counts

    monkeypatch.setattr(pseudonymise.submission, "build_submission", leaky)
    # the cohort staged in this process, where the fault is put in, rather than in one of its own
    monkeypatch.setattr(flows.submission_tasks, "call_in_child", lambda call, what: call())
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_failed()
    assert "submission gate failed" in state.message and "no_identifiers" in state.message
    assert "LS1 4AP" not in state.message
    run_dir = next((tmp_path / "runs").iterdir())
    assert not list((run_dir / "submission").rglob("*.enc")), "nothing is encrypted for sending"
    assert not (tmp_path / "published").exists()
    assert "postcode_district" in (run_dir / "quality" / "submission.md").read_text()
    assert "LS1 4AP" not in (run_dir / "quality" / "submission.md").read_text()
