"""Stops Prefect's embedded server when the command that started it dies, however it dies.

A run stopped by a signal stops the server itself (see `flows.process_guard`),
but nothing runs in a process killed with SIGKILL or by the out-of-memory
killer: its embedded server would live on, orphaned, holding a port and a
few hundred MB. This small process, in a session of its own, watches the
command and the server, and stops the server once the command is gone.

    python -m flows.server_watchdog <command pid> <command start> <server pid> <server start>

A start is the process's start time in clock ticks since boot (/proc/<pid>/stat),
so that a process ID reused by the system is never mistaken for the original.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0


def start_time(pid: int) -> int | None:
    """The process's start time (field 22 of /proc/<pid>/stat), or None if there is no such live process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has finished: only its parent's bookkeeping is left
        return None
    return int(fields[19])


def alive(pid: int, started: int) -> bool:
    return start_time(pid) == started


def stop(pid: int, started: int) -> None:
    """SIGTERM, then SIGKILL after a grace period, to the process only if it is still the one we watched."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive(pid, started):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline and alive(pid, started):
            time.sleep(0.1)


def watch(command: int, command_started: int, server: int, server_started: int) -> None:
    while alive(server, server_started):
        if not alive(command, command_started):
            stop(server, server_started)
            return
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C at the terminal is the command's to handle
    watch(*(int(value) for value in sys.argv[1:5]))
