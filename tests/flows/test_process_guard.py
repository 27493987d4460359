"""A stopped or killed `sfmatch run` leaves no process behind and no flow run that claims to be running."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from uuid import uuid4

import pytest
from prefect import get_client
from prefect.states import Running

from flows.housekeeping import housekeeping
from flows.process_guard import PROCESS_LABEL
from flows.server_watchdog import start_time
from tests.conftest import sfmatch_command

ROOT = Path(__file__).resolve().parents[2]


def processes() -> dict[int, tuple[int, str]]:
    """Every live process: its parent and command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z":
            found[int(entry.name)] = (int(fields[1]), command)
    return found


def started_run(tmp_path: Path, synth_small: Path, submission_config: Path) -> tuple[subprocess.Popen, int]:
    """`sfmatch run` on the embedded server, once its server is up and the run is under way; and the server's pid."""
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    out = tmp_path / "out"
    process = subprocess.Popen(
        sfmatch_command("run", "--extracts", str(synth_small / "extracts"), "--out", str(out), "--config",
                        str(submission_config), "--run-id", "stopped"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
    under_way = out / "runs" / "stopped" / "ingested"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        servers = [pid for pid, (parent, command) in processes().items()
                   if parent == process.pid and "prefect.server.api.server:create_app" in command]
        if servers and under_way.exists():
            return process, servers[0]
        time.sleep(0.05)
    process.kill()
    pytest.fail("the run did not get under way on its embedded server")


def gone(pid: int, started: int | None, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if start_time(pid) != started:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_stopped_or_killed_run_leaves_no_server_behind(tmp_path, synth_small, submission_config, signum):
    # After SIGTERM (a scheduler's timeout) or SIGKILL, the embedded server used to live on with ppid 1.
    process, server = started_run(tmp_path, synth_small, submission_config)
    server_started = start_time(server)
    os.kill(process.pid, signum)  # the command alone, as a scheduler or `kill` addresses it
    assert process.wait(60) == (128 + signum if signum == signal.SIGTERM else -signum)
    assert gone(server, server_started, 15), "the embedded server outlived the run"
    def leftovers() -> list[str]:
        return [command for _, command in processes().values()
                if str(tmp_path) in command or f"server_watchdog {process.pid} " in command]

    deadline = time.monotonic() + 10
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers() == []


def test_a_flow_run_left_running_by_a_killed_process_is_marked_crashed(prefect_harness, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    with get_client(sync_client=True) as client:
        run = client.create_flow_run(flow=housekeeping.with_options(name="sfmatch-cohort"),
                                     name=f"killed-{uuid4().hex[:6]}", state=Running())
        client.update_flow_run_labels(run.id, {PROCESS_LABEL: f"sfmatch:{socket.gethostname()}:{dead.pid}:1"})

    state = housekeeping(out_dir=tmp_path, return_state=True)
    assert state.is_completed()
    with get_client(sync_client=True) as client:
        after = client.read_flow_run(run.id)
    assert after.state.is_crashed() and "killed" in after.state.message


def test_a_failed_run_on_the_embedded_server_exits_promptly_and_leaves_nothing(tmp_path, synth_small,
                                                                                submission_config):
    # Stopping the server before Prefect's log workers had drained into it left a failed run waiting at exit.
    extracts = tmp_path / "extracts"
    shutil.copytree(synth_small / "extracts", extracts)
    (extracts / "education.csv").write_bytes(b"")
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    result = subprocess.run(sfmatch_command("run", "--extracts", str(extracts), "--out", str(tmp_path / "out"),
                                            "--config", str(submission_config)),
                            env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 1 and "education.csv: is empty" in result.stderr + result.stdout
    # Prefect's own fixed cost is measured and said apart from the stages (the benchmark reads this line)
    assert re.search(r"Prefect's embedded server started in \d+\.\d s \(not part of the run's stages\)",
                     " ".join(result.stdout.split()))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and started_with(env["PREFECT_HOME"]):
        time.sleep(0.1)
    assert started_with(env["PREFECT_HOME"]) == [], "the embedded server or its watchdog outlived the run"


def started_with(prefect_home: str) -> list[int]:
    """Live processes whose environment names this Prefect home: the command, its server and its watchdog."""
    marker = f"PREFECT_HOME={prefect_home}".encode()
    found = []
    for pid in processes():
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(pid)
        except OSError:
            continue
    return found
