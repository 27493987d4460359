"""A step run in a process of its own: waited for, its failure reported without its output, and gone with the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from data.errors import SfmatchError
from flows.child_process import Child, ChildFailed, call_in_child, run_in_child
from flows.server_watchdog import start_time

ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import pathlib, sys
from flows.child_process import serve

def answer(request):
    if request == b"fail":
        sys.exit(3)
    pathlib.Path(request.decode()).write_text("done")
    return request[::-1]

print("chatter a library might print")  # never taken for an answer
serve(answer)
"""


def child(tmp_path: Path, monkeypatch) -> Child:
    (tmp_path / "server.py").write_text(SERVER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    return Child("server", what="a step")


def test_each_request_is_done_by_the_time_it_is_answered(tmp_path, monkeypatch):
    server = child(tmp_path, monkeypatch)
    for name in ("first", "second"):
        request = str(tmp_path / name).encode()
        assert server.ask(request) == request[::-1]
        assert (tmp_path / name).read_text() == "done"
    server.finish()


def test_a_call_in_a_process_of_its_own_gives_back_its_result():
    assert call_in_child(partial(divmod, 7, 2), what="a sum") == (3, 1)
    assert call_in_child(partial(os.getppid), what="a pid") == os.getpid()


def test_a_call_that_fails_with_the_runs_own_error_is_reported_by_its_message():
    with pytest.raises(ChildFailed, match="^the opt-out list is empty$"):
        call_in_child(partial(raise_sfmatch_error, "the opt-out list is empty"), what="the cohort file")


def test_a_file_system_error_in_a_call_comes_back_as_one(tmp_path):
    """So that a task can retry a share that dropped for a moment, as it would in its own process."""
    with pytest.raises(FileNotFoundError) as failed:
        call_in_child(partial(Path.read_bytes, tmp_path / "housing.xlsx"), what="the ingest of housing.xlsx")
    assert failed.value.filename == str(tmp_path / "housing.xlsx")


def test_any_other_failure_of_a_call_is_reported_by_its_status_alone():
    with pytest.raises(ChildFailed) as failed:
        call_in_child(partial(int, "SMITH"), what="the cohort file")
    assert "the cohort file could not be made" in str(failed.value) and "SMITH" not in str(failed.value)


def raise_sfmatch_error(message: str) -> None:
    raise SfmatchError(message)


def test_a_step_that_dies_on_a_request_is_reported_by_its_status(tmp_path, monkeypatch):
    server = child(tmp_path, monkeypatch)
    with pytest.raises(ChildFailed, match="a step could not be made: its process ended with status 3"):
        server.ask(b"fail")


def test_a_step_no_longer_needed_is_stopped(tmp_path, monkeypatch):
    server = child(tmp_path, monkeypatch)
    server.stop()  # never asked anything: it was waiting for a request
    assert server._process.returncode is not None


def test_the_step_runs_as_its_module_would_and_is_waited_for(tmp_path):
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text('{"b": 1, "a": [2]}')
    run_in_child("json.tool", "--sort-keys", str(source), str(target), what="a copy")
    assert json.loads(target.read_text()) == {"a": [2], "b": 1}


def test_a_failed_step_is_named_without_quoting_what_it_printed(tmp_path):
    secret = tmp_path / "SMITH-1980-01-01.json"  # as if its output would name a person
    with pytest.raises(ChildFailed) as failed:
        run_in_child("json.tool", str(secret), what="the review workbook")
    assert "the review workbook could not be made" in str(failed.value) and "SMITH" not in str(failed.value)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernel's parent-death signal is Linux's")
def test_the_step_is_killed_with_the_run_that_started_it(tmp_path):
    (tmp_path / "sleeper.py").write_text(
        "import os, pathlib, sys, time\n"
        "pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))\n"
        "time.sleep(120)\n")
    pid_file = tmp_path / "child.pid"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    run = subprocess.Popen(
        [sys.executable, "-c", f"from flows.child_process import run_in_child; "
                               f"run_in_child('sleeper', {str(pid_file)!r}, what='a step')"],
        env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline and run.poll() is None, "the step never started"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert start_time(child) is not None
        run.send_signal(signal.SIGKILL)  # nothing of the run's own code gets to stop it
        run.wait()
        deadline = time.monotonic() + 10
        while start_time(child) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert start_time(child) is None, "the step outlived the run"
    finally:
        if run.poll() is None:
            run.kill()
