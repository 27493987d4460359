"""Against a real `prefect server`: deployments and their schedules, Dask, concurrent and killed runs.

Runs here are separate `sfmatch` processes, as the data team or a worker starts them.
"""

from __future__ import annotations

import json
import shutil
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
from prefect.settings import PREFECT_API_URL, temporary_settings

from dask.utils import key_split
from distributed import get_task_stream

from data.readers import file_sha256
from flows.process_guard import PROCESS_LABEL
from matching.spec import PROGRAMME_SPEC
from pseudonymise.keys import load_private_key
from pseudonymise.transfer import decrypt_file
from tests.conftest import sfmatch_command
from tests.factories import deliver_in_parts

ROOT = Path(__file__).resolve().parents[2]
COMPARED = [
    "linked_records.parquet", "person_index.parquet", "families.parquet", "evidence.parquet", "review_queue.csv",
    "needs_changes.csv", "linkage/links.parquet", "match_report.html", "submission/cohort/cohort.csv",
    "submission/cohort/cohort.parquet", "submission/aggregates/aggregates.csv",
]


def environment(server) -> dict[str, str]:
    return {**os.environ, "PREFECT_API_URL": server["url"]}


def sfmatch(server, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(sfmatch_command(*args), env=environment(server), capture_output=True, text=True,
                            timeout=600, cwd=ROOT)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_args(extracts: Path, out: Path, config: Path, *extra: str) -> list[str]:
    return ["run", "--extracts", str(extracts), "--out", str(out), "--config", str(config),
            "--reference-date", "2026-09-30", *extra]


def test_prefect_yaml_deploys_and_its_schedules_create_runs(prefect_server, synth_small, submission_config, tmp_path):
    env = {**environment(prefect_server), "SFMATCH_EXTRACTS_DIR": str(synth_small / "extracts"),
           "SFMATCH_CONFIG": str(submission_config)}
    prefect = str(Path(sys.executable).with_name("prefect"))
    for command in ([prefect, "work-pool", "create", "sfmatch-process", "--type", "process", "--overwrite"],
                    [prefect, "--no-prompt", "deploy", "--all"]):
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    london = ZoneInfo("Europe/London")
    with temporary_settings(updates={PREFECT_API_URL: prefect_server["url"]}):
        with get_client(sync_client=True) as client:
            monthly = client.read_deployment_by_name("sfmatch-cohort/monthly-cohort")
            nightly = client.read_deployment_by_name("sfmatch-housekeeping/housekeeping")
            client.read_deployment_by_name("sfmatch-train/train-linkage-model")
            assert monthly.parameters["extracts_dir"] == str(synth_small / "extracts")
            assert [(s.schedule.cron, s.schedule.timezone) for s in monthly.schedules] == [("0 6 5 * *", "Europe/London")]
            scheduled = []
            for _ in range(120):
                scheduled = client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[monthly.id])))
                if scheduled:
                    break
                time.sleep(1)
            assert scheduled, "the scheduler created no runs for the monthly deployment"
            for flow_run in scheduled:
                local = flow_run.expected_start_time.astimezone(london)
                assert (local.day, local.hour, local.minute) == (5, 6, 0)
                assert flow_run.state.is_scheduled()
            nightly_runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[nightly.id])))
            assert all(r.expected_start_time.astimezone(london).hour == 2 for r in nightly_runs)


def test_dask_with_two_workers_gives_the_same_outputs_as_one_process(prefect_server, synth_small, submission_config,
                                                                     tmp_path, monkeypatch):
    from distributed import Client, LocalCluster

    config = tmp_path / "config.yaml"
    # One model for both runs, as a council's monthly runs share one.
    config.write_text(submission_config.read_text() + f"partition_pairs: 1000\nmodel_file: {tmp_path / 'model.json'}\n")
    sfmatch(prefect_server, "train", "--extracts", str(synth_small / "extracts"), "--out", str(tmp_path / "training"),
            "--config", str(config), "--reference-date", "2026-09-30")
    # The police extract comes as two files (two areas' systems): each is read on a worker and combined on one.
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    deliver_in_parts(extracts, "police.csv")
    single = tmp_path / "single"
    sfmatch(prefect_server, *run_args(extracts, single, config, "--run-id", "same"))

    monkeypatch.setenv("PREFECT_API_URL", prefect_server["url"])  # the workers report to the real server
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client, get_task_stream(client) as stream:
        distributed = tmp_path / "dask"
        result = sfmatch(prefect_server, *run_args(extracts, distributed, config, "--run-id", "same",
                                                   "--dask-address", cluster.scheduler_address))
        # The workers write the run folder's files as privately as the flow's process does.
        umasks = client.run(lambda: (os.umask(0o077), os.umask(0o077))[0])
    assert set(umasks.values()) == {0o077}, umasks
    ran = Counter(key_split(t["key"]) for t in stream.data)
    workers = {t["worker"] for t in stream.data}
    assert "on the Dask cluster" in result.stdout
    assert len(workers) == 2, workers
    manifest = json.loads((distributed / "runs" / "same" / "manifest.json").read_text())
    assert manifest["linkage"]["partitions"] >= 2
    # The heavy stages ran on the workers: each extract's ingest (the police's a file at a time, then combined),
    # standardise, block, first persons, resolve, criteria, and both passes' scoring partitions, as Prefect tasks.
    stages = {"ingest_source": 4, "ingest_part": 2, "combine_source_parts": 1, "standardise_records": 1, "block_records": 1, "first_persons": 1,
              "resolve_persons": 1, "assess_families": 1, "score_pairs": 2 * manifest["linkage"]["partitions"]}
    assert {name: ran[name] for name in stages} == stages, ran
    # and blocking fanned out from its task: every rule's records shuffled and paired in partitions
    assert ran["pairs_in_partition"] >= 2 * len(PROGRAMME_SPEC.blocking_rules), ran
    # and clustering: both passes' components dealt into groups, each clustered on a worker
    assert ran["cluster_group"] >= 2 * 2, ran
    for name in COMPARED:
        one, two = single / "runs" / "same" / name, distributed / "runs" / "same" / name
        assert file_sha256(one) == file_sha256(two), name


def test_two_runs_at_once_do_not_corrupt_each_other(prefect_server, synth_small, submission_config, tmp_path):
    out = tmp_path / "out"
    commands = {name: sfmatch_command(*run_args(synth_small / "extracts", out, submission_config, "--run-id", name))
                for name in ("first", "second")}
    started = {name: subprocess.Popen(command, env=environment(prefect_server), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, cwd=ROOT)
               for name, command in commands.items()}
    outputs = {name: process.communicate(timeout=600)[0] for name, process in started.items()}
    assert all(process.returncode == 0 for process in started.values()), outputs
    private = load_private_key(submission_config.parent / "recipient_private.pem")
    # One period, two publications: each its own version, neither overwriting the other.
    versions = sorted((out / "published" / "2026-09").iterdir())
    assert [v.name for v in versions] == ["v1", "v2"]
    runs = set()
    for version in versions:
        manifest = json.loads((version / "cohort" / "manifest.json").read_text())
        runs.add(manifest["run_id"])
        decrypt_file(version / "cohort" / "cohort.csv.enc", tmp_path / f"{version.name}.csv", private)
        assert file_sha256(tmp_path / f"{version.name}.csv") == manifest["files_sha256"]["cohort.csv"]
    assert runs == set(commands)
    latest = json.loads((out / "published" / "latest.json").read_text())
    assert (latest["folder"], latest["supersedes"]) == ("2026-09/v2", "2026-09/v1")

    same = [subprocess.Popen(sfmatch_command(*run_args(synth_small / "extracts", tmp_path / "same", submission_config)),
                             env=environment(prefect_server), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, cwd=ROOT) for _ in range(2)]
    texts = [process.communicate(timeout=600)[0] for process in same]
    codes = sorted(process.returncode for process in same)
    assert codes in ([0, 0], [0, 1]), texts  # either one waited its turn or it was told another is running
    if codes == [0, 1]:
        assert any("already in progress in another process" in text for text in texts)


def test_a_killed_run_publishes_nothing_and_the_next_run_succeeds(prefect_server, synth_small, submission_config, tmp_path):
    out = tmp_path / "out"
    args = run_args(synth_small / "extracts", out, submission_config, "--run-id", "killed")
    process = subprocess.Popen(sfmatch_command(*args), env=environment(prefect_server), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    marker = out / "runs" / "killed" / "linkage" / "records.parquet"
    for _ in range(1200):
        if marker.exists() or process.poll() is not None:
            break
        time.sleep(0.05)
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    assert not (out / "published" / "2026-09").exists() or not list((out / "published" / "2026-09").glob("v*"))
    manifest = out / "runs" / "killed" / "manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["status"] != "completed"

    with temporary_settings({PREFECT_API_URL: prefect_server["url"]}), get_client(sync_client=True) as client:
        killed = [r for r in client.read_flow_runs() if f":{process.pid}:" in str((r.labels or {}).get(PROCESS_LABEL))]
    assert len(killed) == 1 and killed[0].state.is_running(), "the killed run's flow run is left claiming to run"

    result = sfmatch(prefect_server, *args)
    assert (out / "published" / "2026-09" / "v1" / "cohort" / "cohort.csv.enc").exists()
    assert json.loads(manifest.read_text())["status"] == "completed"
    assert "published" in result.stdout
    with temporary_settings({PREFECT_API_URL: prefect_server["url"]}), get_client(sync_client=True) as client:
        after = client.read_flow_run(killed[0].id)
    assert after.state.is_crashed(), "the next run marks it Crashed: its process is gone"
