"""Caching, retries, locks, artifacts and housekeeping, in one process on the test harness."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from filelock import FileLock
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from typer.testing import CliRunner

import flows.cohort
import flows.settings
import flows.tasks
from data.synth import DEFAULT_REFERENCE_DATE
from data.tables import read_parquet
from flows.cli import app
from flows.cohort import cohort_run
from flows.housekeeping import housekeeping
from tests.privacy import leaks, sensitive_values

ALL_STAGES = {"gate inputs", "standardise", "block", "resolve persons", "assess families", "match report",
              "pseudonymise", "gate submission", "encrypt"}


def run(extracts, out, config, **kwargs):
    return cohort_run(extracts_dir=extracts, out_dir=out, config_file=config, reference_date=DEFAULT_REFERENCE_DATE,
                      return_state=True, **kwargs)


def digests(folder: Path, skip=("manifest.json",), plain_only=False) -> dict[str, str]:
    """Every output file's hash, by path; the manifest (timings) and caches aside."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if not path.is_file() or relative.startswith((".cache/", "data_docs/")) or path.name in skip:
            continue
        if path.name.startswith(".") or (plain_only and path.suffix == ".enc"):
            continue
        found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_a_rerun_reuses_every_stage_and_its_outputs_are_byte_identical(prefect_harness, synth_small, submission_config, tmp_path):
    first = run(synth_small / "extracts", tmp_path, submission_config).result()
    before = digests(first.run_dir)
    again = run(synth_small / "extracts", tmp_path, submission_config).result()
    assert again.run_id == first.run_id
    hits = set(json.loads(again.manifest.read_text())["cache_hits"])
    assert ALL_STAGES <= hits and {f"ingest-{s}" for s in first.ingest} <= hits
    assert digests(again.run_dir) == before, "nothing rewritten, the encrypted files included"
    assert again.published == first.published == tmp_path / "published" / "2026-09" / "v1", "no new version"
    staged = first.run_dir / "submission" / "cohort" / "cohort.csv.enc"
    assert (first.published / "cohort" / "cohort.csv.enc").read_bytes() == staged.read_bytes()


def test_recomputing_everything_gives_the_same_data(prefect_harness, synth_small, submission_config, tmp_path):
    run(synth_small / "extracts", tmp_path, submission_config).result()  # trains and saves the model
    first = run(synth_small / "extracts", tmp_path, submission_config, refresh=True).result()
    before = digests(first.run_dir, skip=("manifest.json",), plain_only=True)
    again = run(synth_small / "extracts", tmp_path, submission_config, refresh=True).result()
    assert json.loads(again.manifest.read_text())["cache_hits"] == []
    after = digests(again.run_dir, skip=("manifest.json",), plain_only=True)
    # Encryption is randomised on purpose: its files (and the submission manifest that hashes them) are left out.
    assert after == before


def test_a_changed_extract_recomputes_what_depends_on_it_and_nothing_else(prefect_harness, synth_small, submission_config, tmp_path):
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    run(extracts, tmp_path / "out", submission_config, run_id="month").result()
    police = extracts / "police.csv"
    police.write_bytes(police.read_bytes().rstrip(b"\r\n") + b"\r\n")  # same rows, new bytes: a re-export
    again = run(extracts, tmp_path / "out", submission_config, run_id="month").result()
    hits = set(json.loads(again.manifest.read_text())["cache_hits"])
    assert {"ingest-la_cases", "ingest-dwp_benefits", "ingest-housing", "ingest-education"} <= hits
    assert "ingest-police" not in hits and "standardise" not in hits and "pseudonymise" not in hits


def test_a_rerun_of_the_same_run_id_on_a_later_day_reuses_no_assessment(prefect_harness, synth_small, submission_config,
                                                                        tmp_path, monkeypatch):
    """With no reference date set, a run takes today's; the next day's rerun covers another period."""
    def on(day):
        monkeypatch.setattr(flows.settings.Settings, "resolved_reference_date", lambda self: day)
        return cohort_run(extracts_dir=synth_small / "extracts", out_dir=tmp_path, config_file=submission_config,
                          run_id="month", return_state=True).result()

    first = json.loads(on(DEFAULT_REFERENCE_DATE).manifest.read_text())
    later = json.loads(on(DEFAULT_REFERENCE_DATE + timedelta(days=31)).manifest.read_text())
    assert later["period_end"] != first["period_end"]
    assert not {"gate inputs", "standardise", "assess families", "pseudonymise"} & set(later["cache_hits"])


def test_a_transient_read_error_is_retried(prefect_harness, synth_small, submission_config, tmp_path, monkeypatch):
    monkeypatch.setattr(flows.tasks.ingest_source, "retry_delay_seconds", [0, 0])
    genuine, failures = Path.read_bytes, {"left": 1}

    def flaky(path: Path):
        if path.name == "police.csv" and failures["left"]:
            failures["left"] -= 1
            raise TimeoutError(110, "Connection timed out")
        return genuine(path)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_completed(), state.message
    assert failures["left"] == 0


def test_an_extract_that_stays_unreadable_fails_cleanly_after_its_retries(prefect_harness, synth_small,
                                                                       submission_config, tmp_path, monkeypatch):
    monkeypatch.setattr(flows.tasks.ingest_source, "retry_delay_seconds", [0, 0])
    genuine = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda p: (_ for _ in ()).throw(TimeoutError(110, "Connection timed out"))
                        if p.name == "police.csv" else genuine(p))
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_failed()
    assert "police.csv: cannot be read (connection timed out), after 3 tries" in state.message


def test_a_permission_error_is_not_retried(prefect_harness, synth_small, submission_config, tmp_path, monkeypatch):
    # A permission or a path fails the same way every time: it used to be retried for 35-48 s.
    genuine, tries = Path.read_bytes, {"police.csv": 0}

    def refused(path: Path):
        if path.name == "police.csv":
            tries["police.csv"] += 1
            raise PermissionError(13, "Permission denied")
        return genuine(path)

    monkeypatch.setattr(Path, "read_bytes", refused)
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_failed() and tries["police.csv"] == 1
    assert "police.csv: cannot be read (permission denied)" in state.message and "tries" not in state.message


def test_an_output_folder_that_cannot_be_made_is_one_clear_line_at_once(prefect_harness, synth_small,
                                                                        submission_config):
    started = time.perf_counter()
    state = run(synth_small / "extracts", Path("/dev/null/sfmatch-out"), submission_config)
    assert state.is_failed() and time.perf_counter() - started < 20
    assert state.message.startswith("cannot prepare the run: /dev/null/sfmatch-out") and "not a directory" in state.message


def test_stage_timeouts_come_from_the_settings(prefect_harness, synth_small, submission_config, tmp_path,
                                               monkeypatch):
    monkeypatch.setenv("SFMATCH_ORCHESTRATION__STAGE_TIMEOUT_MINUTES", "7")
    seen = {}
    genuine = flows.cohort.Stages.task

    def spy(self, task, key):
        bounded = genuine(self, task, key)
        seen[task.name] = bounded.timeout_seconds
        return bounded

    monkeypatch.setattr(flows.cohort.Stages, "task", spy)
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_completed(), state.message
    assert {"ingest", "gate inputs", "standardise", "score", "resolve persons"} <= set(seen)
    assert set(seen.values()) == {7 * 60}


def test_a_run_longer_than_its_timeout_is_stopped_and_publishes_nothing(prefect_harness, synth_small,
                                                                       submission_config, tmp_path, monkeypatch):
    monkeypatch.setenv("SFMATCH_ORCHESTRATION__RUN_TIMEOUT_MINUTES", "0.05")  # three seconds
    # A small month can finish inside three seconds on a fast machine: hashing the extracts is made slow.
    hash_now = flows.tasks.extract_sha256

    def hashed_slowly(path):
        time.sleep(4)
        return hash_now(path)

    monkeypatch.setattr(flows.tasks, "extract_sha256", hashed_slowly)
    result = CliRunner().invoke(app, ["run", "--extracts", str(synth_small / "extracts"), "--out", str(tmp_path),
                                      "--config", str(submission_config)])
    assert result.exit_code == 1, result.output
    assert "ran longer than its time limit (orchestration.run_timeout_minutes 0.05 for the run" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "published").exists()


def test_a_second_run_of_the_same_inputs_waits_for_nobody_and_says_why(prefect_harness, synth_small, submission_config, tmp_path):
    first = run(synth_small / "extracts", tmp_path, submission_config).result()
    with FileLock(str(first.run_dir / ".run.lock"), timeout=0):
        state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_failed()
    assert f"run {first.run_id} is already in progress in another process" in state.message


def test_artifacts_hold_counts_and_no_personal_data(prefect_harness, synth_small, submission_config, tmp_path, prefect_logs):
    state = run(synth_small / "extracts", tmp_path, submission_config)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    keys = {a.key for a in artifacts}
    assert {"sfmatch-run-summary", "sfmatch-match-summary"} <= keys
    people = read_parquet(synth_small / "truth" / "people.parquet")
    values = sensitive_values(people)
    texts = [json.dumps(a.data) if not isinstance(a.data, str) else a.data for a in artifacts]
    assert leaks("\n".join(texts) + "\n" + prefect_logs.text(), values) == {}
    summary = next(a for a in artifacts if a.key == "sfmatch-match-summary")
    assert "persons" in summary.data and "families eligible" in summary.data


def make_run(folder: Path, finished: datetime, status: str = "completed") -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"status": status, "finished_at": finished.isoformat()}))
    (folder / "person_index.parquet").write_bytes(b"x")
    return folder


def test_housekeeping_deletes_old_runs_but_keeps_the_latest_and_those_in_progress(prefect_harness, tmp_path):
    now = datetime.now(timezone.utc)
    old = make_run(tmp_path / "runs" / "2025-old", now - timedelta(days=200))
    busy = make_run(tmp_path / "runs" / "2025-busy", now - timedelta(days=150))
    recent = make_run(tmp_path / "runs" / "2026-recent", now - timedelta(days=10))
    training = make_run(tmp_path / "training" / "2025-train", now - timedelta(days=120))
    (tmp_path / "published" / ".x.partial").mkdir(parents=True)
    # A publish killed before its rename leaves its folder half-written beside the versions.
    half_written = tmp_path / "published" / "2026-09" / ".v2.partial" / "cohort"
    half_written.mkdir(parents=True)
    (tmp_path / "published" / "2026-09" / "v1").mkdir()

    dry = housekeeping(out_dir=tmp_path, retention_days=90, dry_run=True)
    assert sorted(dry.deleted) == ["runs/2025-busy", "runs/2025-old", "training/2025-train"] and old.exists()
    assert dry.publish_debris == [".x.partial", "2026-09/.v2.partial"] and half_written.exists()

    with FileLock(str(busy / ".run.lock"), timeout=0):
        done = housekeeping(out_dir=tmp_path, retention_days=90)
    assert not old.exists() and not training.exists() and busy.exists() and recent.exists()
    assert done.in_progress == ["2025-busy"] and done.kept_latest == "2026-recent"
    assert not (tmp_path / "published" / ".x.partial").exists()
    assert not half_written.parent.exists() and (tmp_path / "published" / "2026-09" / "v1").exists()

    make_run(tmp_path / "runs" / "2024-only", now - timedelta(days=400))
    shutil.rmtree(recent)
    shutil.rmtree(busy)
    last = housekeeping(out_dir=tmp_path, retention_days=90)
    assert last.deleted == [] and last.kept_latest == "2024-only", "the one run the next month needs stays"
