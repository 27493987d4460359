"""A gate's work as a job that a process of its own can be given: its suites, their tables and results.

Importing Great Expectations costs seconds and a few hundred MB, and validating
a county's extracts keeps the interpreter busy for tens of seconds. The run
hands its gates to a process that loads GX as the run begins
(`flows.gate_worker`), so that the import overlaps the run's first stage and
the validation the next, and the run's own process never loads GX at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from expectations.offline_docs import make_offline
from expectations.runner import GateResult, Outcome, run_suites


@dataclass(frozen=True)
class GateJob:
    """What a gate validates: per suite, how to read its table and how to build its expectations.

    Both are callables (module-level functions with their arguments bound) so that the expectations,
    which are GX objects, are made where GX is loaded.
    """

    title: str
    docs_dir: Path
    batches: dict[str, tuple[Callable[[], pd.DataFrame], Callable[[], list]]]


def run_job(job: GateJob) -> dict[str, GateResult]:
    results = run_suites({name: (read(), expectations()) for name, (read, expectations) in job.batches.items()},
                         job.docs_dir)
    make_offline(job.docs_dir, job.title, results)
    return results


def results_text(results: dict[str, GateResult]) -> str:
    return json.dumps({name: asdict(result) for name, result in results.items()})


def results_from(text: str) -> dict[str, GateResult]:
    return {name: GateResult(suite=result["suite"], rows=result["rows"],
                             outcomes=[Outcome(**outcome) for outcome in result["outcomes"]])
            for name, result in json.loads(text).items()}
