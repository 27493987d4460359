"""The process that runs a run's quality gates: it loads Great Expectations as the run begins, then runs each
gate's job (`expectations.gate_job.GateJob`) as the run asks for it (`flows.child_process.Child.ask`).

    python -m flows.child_process <run's pid> flows.gate_worker

A job comes pickled through the pipe from the run's process that started this
one (nothing else can write there); its results (counts only) go back the same way.
"""

from __future__ import annotations

import pickle

from data.memory import return_freed_memory
from expectations.gate_job import results_text, run_job
from expectations.runner import gx_expectations
from flows.child_process import serve


def _validate(request: bytes) -> bytes:
    results = results_text(run_job(pickle.loads(request)))
    return_freed_memory()  # what validating the extracts took, before the submission's gate
    return results.encode("utf-8")


if __name__ == "__main__":
    gx_expectations()
    serve(_validate)
