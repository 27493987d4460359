"""The sfmatch command as the data team uses it."""

from __future__ import annotations

import json
import re
import shutil

from prefect import get_client
from prefect.client.schemas.sorting import FlowRunSort
from typer.testing import CliRunner

from data.synth import generate
from flows.cli import app

runner = CliRunner()


def test_synth_writes_extracts_truth_and_a_summary(tmp_path):
    result = runner.invoke(app, ["synth", "--households", "120", "--seed", "5", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "Synthetic extracts" in result.output
    summary = json.loads((tmp_path / "synth.json").read_text())
    assert summary["households"] == 120 and summary["seed"] == 5
    assert len(list((tmp_path / "extracts").iterdir())) == 5
    assert (tmp_path / "truth" / "records.parquet").exists()


def test_demo_runs_the_whole_flow_and_says_where_the_outputs_are(prefect_harness, tmp_path):
    result = runner.invoke(app, ["demo", "--households", "150", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "demo complete" in result.output
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 1
    assert str(run_dirs[0].name) in result.output
    manifest = json.loads((run_dirs[0] / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["reconciles"]
    said = " ".join(result.output.split())
    assert "DWP confirm-back request" in said and "the quarterly return" in said


def test_the_dwp_confirm_back_reply_reconciles_in_the_next_run(prefect_harness, tmp_path):
    """Request from the demo's run, DWP's reply from the synthetic population, then the month run on the reply."""
    assert runner.invoke(app, ["demo", "--households", "150", "--out", str(tmp_path)]).exit_code == 0
    request = tmp_path / "dwp" / "requests" / "2026-09"
    made = json.loads((request / "manifest.json").read_text())
    replied = runner.invoke(app, ["synth-dwp-reply", "--request", str(request / "dwp_request.csv.enc"),
                                  "--private-key", str(tmp_path / "keys" / "dwp_private.pem"),
                                  "--synthetic", str(tmp_path / "synthetic"), "--out", str(tmp_path / "reply")])
    assert replied.exit_code == 0, replied.output
    answered = int(" ".join(replied.output.split()).split(" found, ")[1].split(" on benefit")[0].replace(",", ""))
    result = runner.invoke(app, ["run", "--extracts", str(tmp_path / "reply"), "--out", str(tmp_path),
                                 "--config", str(tmp_path / "sfmatch-demo.yaml"), "--reference-date", "2026-09-30"])
    assert result.exit_code in (0, 3), result.output
    latest = max((tmp_path / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    dwp = json.loads((latest / "manifest.json").read_text())["outcomes"]["dwp"]
    assert dwp["requested"] == made["rows"] > 0
    assert dwp["came_back"] == answered > 0 and dwp["unknown_references"] == 0
    assert dwp["came_back_matched"] + dwp["came_back_not_matched"] == dwp["came_back"]
    assert dwp["came_back_matched"] >= 0.95 * dwp["came_back"]
    assert f"{dwp['requested']:,} adults requested, {dwp['came_back']:,} came back" in " ".join(result.output.split())


def test_run_on_a_missing_folder_is_one_clear_line(prefect_harness, tmp_path):
    result = runner.invoke(app, ["run", "--extracts", str(tmp_path / "nowhere"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "error:" in result.output and "the extracts folder does not exist" in result.output
    assert "Traceback" not in result.output


def test_run_without_keys_says_how_to_make_them(prefect_harness, tmp_path, synth_small):
    result = runner.invoke(app, ["run", "--extracts", str(synth_small / "extracts"), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "no council key" in result.output and "sfmatch keys new --kind council" in result.output
    assert not (tmp_path / "runs").exists()


def test_run_with_a_bad_config_is_one_clear_line(prefect_harness, tmp_path, synth_small):
    config = tmp_path / "bad.yaml"
    config.write_text("period_months: -3\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--extracts", str(synth_small / "extracts"), "--config", str(config)])
    assert result.exit_code == 1
    assert "period_months" in result.output
    assert "Traceback" not in result.output


def test_a_model_file_named_in_the_settings_that_is_missing_stops_the_run(prefect_harness, tmp_path, synth_small,
                                                                         submission_config):
    typo = tmp_path / "modles" / "linkage_model.json"
    config = tmp_path / "sfmatch.yaml"
    config.write_text(submission_config.read_text() + f"model_file: {typo}\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--extracts", str(synth_small / "extracts"), "--out", str(tmp_path / "out"),
                                 "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "linkage.model_file names" in result.output and "does not exist" in result.output
    assert "Traceback" not in result.output
    assert not typo.exists(), "nothing trained under the mistyped path"
    assert not (tmp_path / "out" / "runs").exists()


def test_a_run_trains_its_own_model_only_where_the_operator_allows_it(prefect_harness, tmp_path, synth_small,
                                                                     submission_config, monkeypatch):
    monkeypatch.delenv("SFMATCH_LINKAGE__TRAIN_IN_RUN", raising=False)
    result = runner.invoke(app, ["run", "--extracts", str(synth_small / "extracts"), "--out", str(tmp_path),
                                 "--config", str(submission_config)])
    assert result.exit_code == 1, result.output
    assert "no linkage model at" in result.output and "sfmatch train" in result.output
    assert not (tmp_path / "models").exists() and not (tmp_path / "runs").exists()


def test_train_then_run_uses_the_saved_model_and_evaluate_scores_it(prefect_harness, synth_small, tmp_path, submission_config):
    extracts = str(synth_small / "extracts")
    trained = runner.invoke(app, ["train", "--extracts", extracts, "--out", str(tmp_path), "--reference-date", "2026-09-30"])
    assert trained.exit_code == 0, trained.output
    model = json.loads((tmp_path / "models" / "linkage_model.json").read_text())
    assert model["model_id"] in trained.output

    ran = runner.invoke(app, ["run", "--extracts", extracts, "--out", str(tmp_path), "--reference-date", "2026-09-30",
                              "--config", str(submission_config)])
    assert ran.exit_code == 0, ran.output
    assert "trained in this run" not in ran.output
    run_dir = next((tmp_path / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["linkage"]["model"]["model_id"] == model["model_id"]
    assert manifest["linkage"]["model"]["trained_in_run"] is False

    scored = runner.invoke(app, ["evaluate", "--truth", str(synth_small / "truth" / "records.parquet"), "--out", str(tmp_path)])
    assert scored.exit_code == 0, scored.output
    assert "pairwise F1" in scored.output and "B-cubed" in scored.output

    # Another population of the same size has the same record ids: it used to score precision 0.0000, exit 0.
    other = tmp_path / "other-population"
    generate(households=400, seed=8, out=other)
    wrong = runner.invoke(app, ["evaluate", "--truth", str(other / "truth" / "records.parquet"), "--out", str(tmp_path)])
    assert wrong.exit_code == 1, wrong.output
    assert "the truth file describes other extracts than run" in wrong.output and "is it this run's truth?" in wrong.output
    assert "pairwise F1" not in wrong.output


def test_review_apply_reports_what_it_stored(tmp_path):
    import pandas as pd

    queue = pd.DataFrame([{
        "pair_id": "p1", "left_source": "police", "left_record_id": "1", "left_identity_key": "a",
        "right_source": "dwp_benefits", "right_record_id": "2", "right_identity_key": "b", "decision": "no link",
    }])
    path = tmp_path / "queue.csv"
    queue.to_csv(path, index=False)
    result = runner.invoke(app, ["review", "apply", str(path), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 decisions stored (0 link, 1 no link)" in result.output
    assert (tmp_path / "review" / "decisions.csv").exists()

    bad = runner.invoke(app, ["review", "apply", str(tmp_path / "missing.csv"), "--out", str(tmp_path)])
    assert bad.exit_code == 1 and "cannot be read" in bad.output


def test_a_run_whose_gates_warn_exits_3_and_tags_the_flow_run(prefect_harness, tmp_path, synth_small,
                                                              submission_config):
    # Two dates of birth in 1850: a warning, not a reason to stop. It used to end as exit 0, "gates passed".
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    cases = extracts / "la_cases.csv"
    lines = cases.read_text(encoding="utf-8-sig").splitlines()
    for row in (1, 2):
        lines[row] = re.sub(r",(19|20)\d\d-(\d\d)-(\d\d),", r",1850-\2-\3,", lines[row], count=1)
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    result = runner.invoke(app, ["run", "--extracts", str(extracts), "--out", str(tmp_path / "out"),
                                 "--config", str(submission_config)])
    assert result.exit_code == 3, result.output
    assert "completed with 1 warning(s)" in result.output and "dob_plausible" in result.output
    assert "published (quality gates passed with warnings)" in result.output
    run_dir = next((tmp_path / "out" / "runs").iterdir())
    report = (run_dir / "quality" / "inputs.md").read_text()
    assert report.splitlines()[2].startswith("**Passed with 1 warning**")
    assert report.index("## Warnings") < report.index("## Suites")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed" and len(manifest["warnings"]) == 1
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.START_TIME_DESC, limit=1)
    assert "warnings" in runs[0].tags and runs[0].state.is_completed()


def test_a_dwp_request_needs_a_completed_run_and_dwps_key(tmp_path, submission_config):
    nothing = runner.invoke(app, ["dwp-request", "--out", str(tmp_path), "--config", str(submission_config)])
    assert nothing.exit_code == 1 and "no completed run under" in nothing.output
    run_dir = tmp_path / "runs" / "20260930-x"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"status": "completed", "finished_at": "2026-10-01"}))
    no_key = runner.invoke(app, ["dwp-request", "--out", str(tmp_path), "--config", str(submission_config)])
    assert no_key.exit_code == 1
    assert "no DWP public key: set dwp.recipient_public_key in the settings, or give --recipient-key" in \
        " ".join(no_key.output.split())
