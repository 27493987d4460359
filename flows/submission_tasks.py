"""The submission's tasks: pseudonymise and stage the cohort, seal it for the recipient, publish it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from data.tables import read_parquet
from flows.configuration import RunConfiguration
from flows.tasks import IO_RETRIES, MINUTES, GateSummary
from matching.storage import load_records
from pseudonymise.cohort import CohortInputs, build_cohort_package, recorded_sexes, write_cohort_package
from pseudonymise.optouts import load_opt_outs
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.publish import SubmissionDescription, publish, seal_submission
from pseudonymise.submission import RunContext


@dataclass(frozen=True)
class SubmissionSummary:
    rows: int
    families: int
    columns: tuple[str, ...]
    council_key: str
    evaluation_key: str
    opt_outs: dict[str, int] | None
    counts: dict[str, int]


@task(name="pseudonymise", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def pseudonymise_cohort(run_root: Path, config: RunConfiguration, run_id: str, reference_date: date
                        ) -> SubmissionSummary:
    """The cohort file and the disclosure-controlled aggregates, staged in the run's submission folder."""
    settings = config.settings
    keys = config.submission_keys()
    inputs = CohortInputs(
        framework=config.framework.framework,
        families=read_parquet(run_root / "families.parquet"),
        members=read_parquet(run_root / "criteria" / "family_members.parquet"),
        records=load_records(run_root / "linkage").frame,
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
    logger = get_run_logger()
    logger.info("cohort file: %d people in %d eligible families", counts["rows"], counts["families"])
    if package.opt_outs is not None:
        logger.info("opt-outs: %d listed, %d matched, %d people left out", package.opt_outs.listed,
                    package.opt_outs.matched, package.opt_outs.persons_left_out)
    return SubmissionSummary(
        rows=counts["rows"], families=counts["families"], columns=tuple(package.cohort.columns),
        council_key=keys.council.fingerprint, evaluation_key=keys.evaluation.fingerprint,
        opt_outs=package.opt_out_counts(), counts=counts,
    )


@task(name="encrypt", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES, **IO_RETRIES)
def encrypt_cohort(run_root: Path, config: RunConfiguration, summary: SubmissionSummary, context: dict[str, str],
                   gate: GateSummary) -> Path:
    """Encrypt the staged files for the recipient and write the submission manifest beside them."""
    keys = config.submission_keys()
    description = SubmissionDescription(
        context=context, rows=summary.rows, families=summary.families, columns=summary.columns,
        key_fingerprints={"council": summary.council_key, "evaluation": summary.evaluation_key},
        opt_outs=summary.opt_outs, counts=summary.counts, quality_gate=gate.counts(),
    )
    path = seal_submission(run_root / "submission", keys.recipient, description)
    get_run_logger().info("encrypted the submission for recipient key %s", keys.fingerprints["recipient"])
    return path


@task(name="publish", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES, **IO_RETRIES)
def publish_submission(run_root: Path, out_dir: Path, run_id: str) -> Path:
    """Copy the encrypted files and their manifest to `published/<run_id>/`, all at once or not at all."""
    target = publish(run_root / "submission", out_dir / "published", run_id)
    get_run_logger().info("published %s", target)
    return target


