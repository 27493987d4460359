"""The cohort flow under a real (temporary) Prefect server."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from data.synth import DEFAULT_REFERENCE_DATE
from data.tables import read_parquet
from flows.cohort import cohort_run
from tests.factories import deliver_in_parts


CONFIG = {}


@pytest.fixture(autouse=True)
def _keys(submission_config):
    CONFIG["file"] = submission_config


def run(extracts, out, **kwargs):
    kwargs.setdefault("config_file", CONFIG["file"])
    return cohort_run(extracts_dir=extracts, out_dir=out, reference_date=DEFAULT_REFERENCE_DATE, return_state=True, **kwargs)


def test_a_run_ingests_every_source_and_reconciles(prefect_harness, synth_small, tmp_path, prefect_logs):
    state = run(synth_small / "extracts", tmp_path)
    assert state.is_completed(), state.message
    summary = state.result()
    root = tmp_path / "runs" / summary.run_id
    assert summary.run_dir == root
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["reconciles"] is True
    assert manifest["reference_date"] == "2026-09-30"
    assert (manifest["period_start"], manifest["period_end"]) == ("2025-10-01", "2026-09-30")
    alongside = ["pseudonymise", "gate submission"]  # begun with outcomes, and run beside them
    assert list(manifest["stages"])[11] == "pseudonymise"
    assert [stage for stage in manifest["stages"] if stage not in alongside] == [
        "prepare", "ingest", "gate inputs", "standardise", "block", "train", "score", "first persons", "second pass",
        "resolve", "criteria", "outcomes", "report", "quarterly return", "waiting for the cohort file",
        "gate quarterly return", "encrypt", "publish", "review workbook"]
    assert list(manifest["stages"]).index("gate submission") > 11
    assert manifest["code"]["version"]
    truth = read_parquet(synth_small / "truth" / "records.parquet")
    for source, counts in manifest["ingest"].items():
        assert counts["rows_read"] == counts["rows_ingested"] + counts["rows_quarantined"]
        table = read_parquet(root / "ingested" / f"{source}.parquet")
        assert len(table) == counts["rows_ingested"]
        quarantine = pd.read_csv(root / "quarantine" / f"{source}.rows.csv")
        assert len(quarantine) == counts["rows_quarantined"]
        assert manifest["inputs"][source]["sha256"] == table["source_sha256"].iloc[0]
        # every ingested record is a record the generator wrote
        assert table["record_id"].isin(truth.loc[truth["source"] == source, "record_id"]).all()
    linked = read_parquet(root / "linked_records.parquet")
    assert len(linked) == sum(counts["rows_ingested"] for counts in manifest["ingest"].values())
    assert linked["person_id"].notna().all()
    assert manifest["linkage"]["linked_records"] == len(linked)
    assert manifest["linkage"]["model"]["trained_in_run"] is True
    for name in ("match_report.html", "review_queue.csv", "person_index.parquet", "families.parquet",
                 "evidence.parquet", "needs_history.parquet", "needs_changes.csv"):
        assert (root / name).exists(), name
    criteria = manifest["criteria"]
    families = read_parquet(root / "families.parquet")
    assert criteria["framework"] == "sf-2022" and len(criteria["sha256"]) == 64
    assert criteria["families_assessed"] == len(families) == read_parquet(root / "ingested" / "la_cases.parquet")["family_id"].nunique()
    assert criteria["families_eligible"] == int(families["eligible"].sum()) > 0
    assert set(criteria["needs_per_headline"]) == {"EDU", "EYD", "HLT", "SUB", "REL", "SAF", "CRM", "DAB", "HOU", "FIN"}
    assert "Criteria:" in (root / "match_report.html").read_text()
    people = read_parquet(synth_small / "truth" / "people.parquet")
    log_text = prefect_logs.text()
    assert "rows read" in log_text
    for column in ("surname", "nino", "nhs_number", "upn"):
        sample = people[column].dropna().astype(str)
        assert not any(value in log_text for value in sample if len(value) >= 5), column


def test_the_same_inputs_and_settings_land_in_the_same_run_folder(prefect_harness, synth_small, tmp_path):
    first = run(synth_small / "extracts", tmp_path).result()
    second = run(synth_small / "extracts", tmp_path).result()
    assert first.run_id == second.run_id
    for source in first.ingest:
        assert first.ingest[source] == second.ingest[source]
    named = run(synth_small / "extracts", tmp_path, run_id="october-rerun").result()
    assert named.run_dir == tmp_path / "runs" / "october-rerun"


def test_a_broken_extract_fails_the_run_with_a_clear_message(prefect_harness, synth_small, tmp_path, prefect_logs):
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    police = extracts / "police.csv"
    lines = police.read_bytes().split(b"\r\n")
    police.write_bytes(b"\r\n".join([lines[0].replace(b"Incident Type,", b""), *lines[1:3]]))
    (extracts / "education.csv").write_bytes(b"")
    housing = extracts / "housing.xlsx"  # read by a process of its own: its error comes back all the same
    housing.write_bytes(housing.read_bytes()[:3000])

    state = run(extracts, tmp_path / "out")
    assert state.is_failed()
    assert "police.csv: missing required column(s): incident_type" in state.message
    assert "education.csv: is empty" in state.message
    assert "housing.xlsx: cannot be opened as an Excel workbook" in state.message
    runs = list((tmp_path / "out" / "runs").iterdir())
    manifest = json.loads((runs[0] / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert any("incident_type" in error for error in manifest["errors"])
    assert "Traceback" not in prefect_logs.text()
    assert "NoneType: None" not in prefect_logs.text()


def test_a_missing_extract_fails_before_a_run_folder_exists(prefect_harness, tmp_path):
    (tmp_path / "extracts").mkdir()
    state = run(tmp_path / "extracts", tmp_path / "out")
    assert state.is_failed()
    assert "no extract for 'la_cases'" in state.message
    assert not (tmp_path / "out" / "runs").exists()


def test_a_hand_made_folder_in_the_canonical_layout_runs(prefect_harness, tmp_path):
    """Extracts written by hand to the spec's canonical layout, not by the generator."""
    from pathlib import Path

    extracts = Path(__file__).resolve().parents[1] / "fixtures" / "canonical"
    state = run(extracts, tmp_path)
    assert state.is_completed(), state.message
    summary = state.result()
    counts = {source: (s.rows_read, s.rows_ingested, s.rows_quarantined) for source, s in summary.ingest.items()}
    assert counts == {
        "la_cases": (3, 3, 0), "dwp_benefits": (2, 2, 0), "housing": (1, 1, 0), "police": (2, 2, 0),
        "education": (1, 1, 0),
    }
    housing = read_parquet(summary.run_dir / "ingested" / "housing.parquet")
    assert housing.loc[0, "postcode"] == "LS1 1AA"


def test_person_ids_are_stable_from_one_month_to_the_next(prefect_harness, synth_small, tmp_path):
    first = run(synth_small / "extracts", tmp_path).result()
    later = cohort_run(extracts_dir=synth_small / "extracts", out_dir=tmp_path, config_file=CONFIG["file"],
                       reference_date=pd.Timestamp("2026-10-31").date(), return_state=True).result()
    assert later.run_id != first.run_id
    before = read_parquet(first.run_dir / "linked_records.parquet").set_index(["source", "record_id"])["person_id"]
    after = read_parquet(later.run_dir / "linked_records.parquet").set_index(["source", "record_id"])["person_id"]
    assert after.sort_index().equals(before.sort_index())
    manifest = json.loads(later.manifest.read_text())
    assert manifest["linkage"]["previous_person_index"] == str(first.run_dir / "person_index.parquet")
    assert manifest["linkage"]["ids_new"] == 0
    assert manifest["linkage"]["model"]["trained_in_run"] is False  # the first run saved the model
    changes = pd.read_csv(later.run_dir / "needs_changes.csv")
    assert set(changes["change"]) <= {"persisted", "cleared", "appeared", "still clear"}
    assert (changes["change"] == "persisted").sum() > 0
    assert manifest["criteria"]["previous_needs_history"] == str(first.run_dir / "needs_history.parquet")


def test_a_review_decision_applies_in_the_next_run(prefect_harness, synth_small, tmp_path):
    from matching.review import apply_review_file

    first = run(synth_small / "extracts", tmp_path).result()
    queue = pd.read_csv(first.run_dir / "review_queue.csv", dtype=str, keep_default_na=False)
    assert len(queue) > 0
    chosen = queue.iloc[0]
    queue.loc[0, "decision"] = "link"
    filled = tmp_path / "reviewed.csv"
    queue.to_csv(filled, index=False)
    apply_review_file(filled, tmp_path / "review" / "decisions.csv")

    later = run(synth_small / "extracts", tmp_path, run_id="after-review").result()
    linked = read_parquet(later.run_dir / "linked_records.parquet").set_index(["source", "record_id"])["person_id"]
    assert linked[(chosen["left_source"], chosen["left_record_id"])] == linked[(chosen["right_source"], chosen["right_record_id"])]
    assert later.linkage.links_from_analysts == 1 and later.linkage.decisions_applied == 1
    again = pd.read_csv(later.run_dir / "review_queue.csv", dtype=str)
    assert chosen["pair_id"] not in set(again["pair_id"])


def test_no_personal_data_in_the_report_manifest_quarantine_reasons_or_logs(prefect_harness, synth_small, tmp_path, prefect_logs):
    from tests.privacy import leaks, sensitive_values

    summary = run(synth_small / "extracts", tmp_path).result()
    values = sensitive_values(read_parquet(synth_small / "truth" / "people.parquet"))
    for name in ("match_report.html", "manifest.json"):
        assert leaks((summary.run_dir / name).read_text(encoding="utf-8"), values) == {}, name
    for path in (summary.run_dir / "quarantine").glob("*.rows.csv"):
        reasons = pd.read_csv(path, dtype=str)["reason"].fillna("")
        assert leaks("\n".join(reasons), values) == {}, path.name
    assert leaks(prefect_logs.text(), values) == {}


def test_the_framework_is_a_setting(prefect_harness, synth_small, tmp_path):
    config = tmp_path / "tf.yaml"
    config.write_text(CONFIG["file"].read_text() + "framework: tf-2015\n", encoding="utf-8")
    summary = run(synth_small / "extracts", tmp_path, config_file=config).result()
    manifest = json.loads(summary.manifest.read_text())
    assert manifest["criteria"]["framework"] == "tf-2015" and manifest["criteria"]["minimum"] == 2
    assert "need_P1-CRIME" in read_parquet(summary.run_dir / "families.parquet").columns


def test_an_unknown_framework_stops_the_run_before_any_work(prefect_harness, synth_small, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(CONFIG["file"].read_text() + "framework: sf-2099\n", encoding="utf-8")
    state = run(synth_small / "extracts", tmp_path / "out", config_file=config)
    assert state.is_failed()
    assert "framework 'sf-2099': no file" in state.message and "available: sf-2022, tf-2015" in state.message
    assert not (tmp_path / "out" / "runs").exists()


def test_an_extract_in_parts_links_as_the_same_extract_in_one_file(prefect_harness, synth_small, tmp_path):
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    # The south's file repeats one row of the north's exactly: kept once, the repeat set aside naming its file.
    north, south = deliver_in_parts(extracts, "police.csv", repeat_a_row=True)

    whole = run(synth_small / "extracts", tmp_path / "whole").result()
    parted = run(extracts, tmp_path / "parted").result()
    manifest = json.loads(parted.manifest.read_text())
    assert manifest["reconciles"] is True
    entry, counts = manifest["inputs"]["police"], manifest["ingest"]["police"]
    assert entry["file"] == "police/" and [p["file"] for p in entry["parts"]] == ["police/police_north.csv",
                                                                                 "police/police_south.csv"]
    assert [p["rows_read"] for p in entry["parts"]] == [north, south]
    assert counts["rows_read"] == whole.ingest["police"].rows_read + 1
    assert counts["rows_ingested"] == whole.ingest["police"].rows_ingested
    assert counts["quarantine_reasons"].get("duplicate row across files") == 1
    quarantine = pd.read_csv(parted.run_dir / "quarantine" / "police.rows.csv")
    repeat = quarantine[quarantine["reason"].str.startswith("repeats police/police_north.csv row 2")]
    assert list(repeat["source_file"]) == ["police/police_south.csv"]

    def linked(summary):
        frame = read_parquet(summary.run_dir / "linked_records.parquet")
        return frame.drop(columns=[c for c in frame.columns if c.startswith("source_")]) \
            .sort_values(["source", "record_id"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(linked(parted), linked(whole))
    pd.testing.assert_frame_equal(read_parquet(parted.run_dir / "families.parquet"),
                                  read_parquet(whole.run_dir / "families.parquet"))


def test_a_broken_part_fails_the_run_naming_its_file(prefect_harness, synth_small, tmp_path):
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    deliver_in_parts(extracts, "police.csv")
    (extracts / "police" / "police_south.csv").write_bytes(b"")
    state = run(extracts, tmp_path / "out")
    assert state.is_failed()
    assert "police/police_south.csv: is empty" in state.message
    manifest = json.loads((next((tmp_path / "out" / "runs").iterdir()) / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "police" not in manifest["ingest"]
