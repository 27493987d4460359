"""A stopped or killed command leaves nothing running and no flow run that claims to be running.

- A scheduler's timeout sends SIGTERM: the command marks its flow run Crashed, stops its embedded server
  and exits.
- A SIGKILL runs no code at all: a watchdog process (`flows.server_watchdog`) stops the embedded server
  once the command is gone, and the next command marks flow runs left "Running" by a dead process on this
  machine as Crashed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from flows.server_watchdog import start_time

FLOW_NAMES = ("sfmatch-cohort", "sfmatch-train", "sfmatch-housekeeping")
PROCESS_LABEL = "sfmatch.process"
"""The flow-run label naming the process that runs it: `sfmatch:<host>:<pid>:<start time>`."""


_running: dict[str, object] = {}
"""What this process started and must stop if it is told to: its flow run's ID, its embedded server."""


def exit_on_termination() -> None:
    """On SIGTERM or SIGHUP the command marks its flow run Crashed, stops the embedded server it started and
    exits at once with status 128 + the signal.

    Python's default is to die at once with no clean-up, which left the server running; unwinding the flow
    instead waits on worker threads mid-stage. Stopping at once is safe: the run folder is locked by the
    operating system (released with the process), and a publication appears only by one rename at its end."""

    def stop(signum, _frame):
        name = signal.Signals(signum).name
        print(f"sfmatch: stopped by {name} (a publication appears whole or not at all)", file=sys.stderr, flush=True)
        _mark_crashed(f"stopped by {name}")
        server = _running.pop("server", None)
        if server is not None:
            server.stop()
        os._exit(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)


def _mark_crashed(message: str) -> None:
    run_id = _running.get("flow_run")
    if run_id is None:
        return
    from prefect import get_client
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            if client.read_flow_run(run_id).state.is_running():  # a run that had finished keeps its state
                client.set_flow_run_state(run_id, Crashed(message=message))
    except Exception:  # noqa: BLE001  the server may be gone; the next command marks the run Crashed then
        pass


def process_marker() -> str:
    """How a flow run records the process running it: host, process ID and that process's start time."""
    pid = os.getpid()
    return f"sfmatch:{socket.gethostname()}:{pid}:{start_time(pid)}"


def _marker_is_dead(marker: object) -> bool:
    """A marker of this machine whose process is no longer the one that wrote it."""
    if not isinstance(marker, str) or not marker.startswith("sfmatch:"):
        return False
    _, host, pid, started = marker.split(":", 3)
    if host != socket.gethostname():
        return False
    return str(start_time(int(pid))) != started


def start_embedded_server() -> float | None:
    """Start Prefect's embedded server now (unless PREFECT_API_URL names a real one), with a watchdog over it.

    The flow uses this server as it would have started it itself (Prefect keeps one per process); starting it
    here is what lets a watchdog know which process to stop if this one is killed. Prefect stops the server at
    exit (registered when it started), after its log and event workers have drained into it: stopping it any
    earlier would leave them waiting for ever. The watchdog leaves by itself once the server has gone.

    Returns the seconds the server took to start (None with a real server): Prefect's own fixed cost, which
    the command reports apart from the run's stages."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return None
    started = time.monotonic()
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    process = server.server_process
    watchdog = subprocess.Popen(
        [sys.executable, "-m", "flows.server_watchdog", str(os.getpid()), str(start_time(os.getpid())),
         str(process.pid), str(start_time(process.pid))],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    _running.update(server=server, watchdog=watchdog)  # the watchdog's handle is kept for the process's life
    return time.monotonic() - started


def claim_flow_run() -> None:
    """Record on this flow run which process runs it, and mark as Crashed the runs of our flows that are
    still "Running" although the process that ran them on this machine is gone (killed with SIGKILL)."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.runtime import flow_run
    from prefect.states import Crashed

    run_id = flow_run.get_id()
    if run_id is None:
        return
    _running["flow_run"] = run_id
    with get_client(sync_client=True) as client:
        # A label, not infrastructure_pid: a Prefect worker reads that field to cancel the runs it started.
        client.update_flow_run_labels(run_id, {PROCESS_LABEL: process_marker()})
        running = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=list(FLOW_NAMES))),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING]))),
        )
        for stale in running:
            if str(stale.id) != str(run_id) and _marker_is_dead((stale.labels or {}).get(PROCESS_LABEL)):
                client.set_flow_run_state(stale.id, Crashed(message="the process running it was killed"), force=True)
