"""Steps of the run done by Python processes of their own, which die with the run.

Pure-Python work that holds the interpreter for seconds (validating tables
with Great Expectations, writing a workbook cell by cell) would hold up
everything else the run's process does meanwhile; a process of its own runs
it on the machine's other core. Such a process must not outlive the run
however the run ends: on Linux it asks the kernel to kill it when the thread
that started it exits (SIGKILL included), and it stops at once if that thread
had already gone by the time it asked.

    python -m flows.child_process <parent pid> <module> [args...]

runs `module` as `python -m module args...` would; `call_in_child` runs a
function there and gets its result back.
"""

from __future__ import annotations

import os
import pickle
import runpy
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from data.errors import SfmatchError
from data.memory import c_function

PR_SET_PDEATHSIG = 1
ANSWERS = "SFMATCH_CHILD_ANSWERS"
"""Names, in a step's process, the file descriptor its answers go out on (its standard output was)."""
ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class ChildFailed(SfmatchError):
    """A step run in a process of its own did not finish."""


class Child:
    """A step's process, started ahead of the moment its input is ready (so that its imports are done by then).

    It is asked (`ask`) one request at a time through its standard input, and answers each on its standard
    output, both as a length and that many bytes; nothing else of what it prints is read, shown or logged, as
    it could quote the data it was working on. A failure is reported by what the step makes and the process's
    exit status only.
    """

    def __init__(self, module: str, *args: str, what: str):
        self.what = what
        paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]  # the same code as this process runs
        self._process = subprocess.Popen(
            [sys.executable, "-m", "flows.child_process", str(os.getpid()), module, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))})
        self._asking = threading.Lock()

    def ask(self, request: bytes) -> bytes:
        """Give the step one request and wait for its answer (after any other thread's request before it)."""
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._asking:
            try:
                self._process.stdin.write(_framed(request))
                self._process.stdin.flush()
                answer = _read_framed(self._process.stdout)
            except BrokenPipeError:  # it had ended: its status says why
                answer = None
        if answer is None:
            self._fail()
        return answer

    def running(self) -> bool:
        return self._process.poll() is None

    def finish(self) -> None:
        """Tell the step there is nothing more to do, and wait for it to end."""
        self._process.communicate()
        if self._process.returncode != 0:
            self._fail()

    def stop(self) -> None:
        """End the step now, whatever it is doing (the run no longer needs it)."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.communicate()

    def _fail(self):
        try:
            self._process.wait(timeout=10)  # it closed its output as it ended: its status is moments away
        except subprocess.TimeoutExpired:
            pass
        self.stop()
        raise ChildFailed(f"{self.what} could not be made: its process ended with status {self._process.returncode}")


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(8, "big") + message


def _read_framed(stream) -> bytes | None:
    """The next message, or None where the stream ended before all of it came."""
    header = stream.read(8)
    if len(header) < 8:
        return None
    size = int.from_bytes(header, "big")
    message = stream.read(size)
    return message if len(message) == size else None


def serve(answer: Callable[[bytes], bytes]) -> None:
    """In a step's process, answer each request `Child.ask` sends, one at a time, until the caller has no more."""
    answers = os.fdopen(int(os.environ[ANSWERS]), "wb")
    while (request := _read_framed(sys.stdin.buffer)) is not None:
        answers.write(_framed(answer(request)))
        answers.flush()


def run_in_child(module: str, *args: str, what: str) -> None:
    """Run `python -m module args` in a process of its own and wait for it."""
    Child(module, *args, what=what).finish()


def call_in_child(call: Callable[[], T], *, what: str) -> T:
    """`call()` in a process of its own, which ends once it has answered: its result, or an error raised again
    here: the run's own kind (`SfmatchError`, whose messages never quote the data) by its message, and a
    file-system error by its number, description and file, so that the caller can tell a share that dropped
    for a moment (and try again) from bad content.

    `call` is pickled, so it is a module-level function with its arguments bound (`functools.partial`); it
    and its result go through the child's pipes, which only this process holds. Any other failure is
    reported by the exit status alone.
    """
    child = Child("flows.child_process", "--call", what=what)
    outcome, value = pickle.loads(child.ask(pickle.dumps(call)))
    child.finish()
    if outcome == "failed":
        raise ChildFailed(value)
    if outcome == "os-error":
        raise OSError(*value)
    return value


def _answer_call(request: bytes) -> bytes:
    try:
        return pickle.dumps(("done", pickle.loads(request)()))
    except SfmatchError as error:
        return pickle.dumps(("failed", str(error)))
    except OSError as error:
        return pickle.dumps(("os-error", (error.errno, error.strerror, error.filename)))


def _die_with(parent: int) -> None:
    prctl = c_function("prctl")  # None where not Linux: the step then ends on its own soon after the run
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the run had gone before the request was made
        os._exit(1)


def _quiet_output() -> None:
    """Keep the standard output the parent reads for answers only: whatever the step or a library it uses
    prints goes nowhere instead of being taken for an answer."""
    os.environ[ANSWERS] = str(os.dup(sys.stdout.fileno()))
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, sys.stdout.fileno())
    os.close(quiet)


if __name__ == "__main__":
    _die_with(int(sys.argv[1]))
    _quiet_output()
    if sys.argv[2:] == ["flows.child_process", "--call"]:
        serve(_answer_call)
    else:
        sys.argv = [sys.argv[2], *sys.argv[3:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
