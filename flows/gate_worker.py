"""The process that runs a run's quality gates: it loads Great Expectations as the run begins, then runs each
gate's job (`expectations.gate_job.GateJob`) as the run asks for it (`flows.child_process.Child.ask`).

    python -m flows.child_process <run's pid> flows.gate_worker

A job comes pickled through the pipe from the run's process that started this
one (nothing else can write there); the results go to the job's file.
"""

from __future__ import annotations

import pickle

from data.memory import return_freed_memory
from expectations.gate_job import results_text, run_job
from expectations.runner import gx_expectations
from flows.child_process import requests


def serve() -> None:
    gx_expectations()
    for request in requests():
        job = pickle.loads(request)
        job.results_file.write_text(results_text(run_job(job)), encoding="utf-8")
        return_freed_memory()  # what validating the extracts took, before the submission's gate


if __name__ == "__main__":
    serve()
