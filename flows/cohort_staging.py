"""The cohort package staged from the run folder: the pseudonymise task's work, free of Prefect.

Pseudonymising a county's cohort takes as long as tracking its families'
outcomes, and neither needs the other: the task hands this to a process of its
own (`flows.child_process.call_in_child`) so that both run at once, one on
each core. What comes back is counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from data.tables import read_parquet
from flows.configuration import RunConfiguration
from matching.storage import read_record_columns
from pseudonymise.cohort import CohortInputs, build_cohort_package, recorded_sexes, write_cohort_package
from pseudonymise.optouts import load_opt_outs
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.submission import RECORD_COLUMNS, RunContext


@dataclass(frozen=True)
class SubmissionSummary:
    rows: int
    families: int
    columns: tuple[str, ...]
    council_key: str
    evaluation_key: str
    opt_outs: dict[str, int] | None
    counts: dict[str, int]


def stage_cohort(run_root: Path, config: RunConfiguration, run_id: str, reference_date: date) -> SubmissionSummary:
    """The cohort file and the disclosure-controlled aggregates, staged in the run's submission folder."""
    settings = config.settings
    keys = config.submission_keys()
    inputs = CohortInputs(
        framework=config.framework.framework,
        families=read_parquet(run_root / "families.parquet"),
        members=read_parquet(run_root / "criteria" / "family_members.parquet"),
        records=read_record_columns(run_root / "linkage", RECORD_COLUMNS),
        linked=read_parquet(run_root / "linked_records.parquet"),
        sexes=recorded_sexes(run_root / "ingested", config.contracts, config.sources),
        evidence=lambda: read_parquet(run_root / "evidence.parquet",
                                      columns=["family_id", "headline", "descriptor", "person_id", "status"]),
        opt_outs=(load_opt_outs(settings.submission.opt_outs, config.opt_out_key())
                  if settings.submission.opt_outs is not None else None),
    )
    context = RunContext(settings.la_code, run_id, reference_date.isoformat(), config.framework.label)
    package = build_cohort_package(inputs, Pseudonymiser(keys.council), Pseudonymiser(keys.evaluation), context)
    write_cohort_package(package, run_root / "submission", run_root / "criteria")
    counts = package.counts
    return SubmissionSummary(
        rows=counts["rows"], families=counts["families"], columns=tuple(package.cohort.columns),
        council_key=keys.council.fingerprint, evaluation_key=keys.evaluation.fingerprint,
        opt_outs=package.opt_out_counts(), counts=counts,
    )
