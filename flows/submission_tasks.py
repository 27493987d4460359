"""The submission's tasks: pseudonymise and stage the packages, seal each for its recipient, publish them."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from criteria.claims import read_register
from data.private_files import write_private
from data.tables import read_parquet
from flows.child_process import call_in_child
from flows.cohort_staging import SubmissionSummary, stage_cohort
from flows.configuration import RunConfiguration
from flows.tasks import IO_RETRIES, MINUTES, GateSummary
from pseudonymise.cohort import OPTED_OUT
from pseudonymise.publish import (
    AGGREGATES, COHORT, PROGRESS, PackageDescription, Publication, period_of, publish, seal_package,
)
from pseudonymise.quarterly import disclosure_controlled, progress_counts, quarter_of


@task(name="pseudonymise", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def pseudonymise_cohort(run_root: Path, config: RunConfiguration, run_id: str, reference_date: date
                        ) -> SubmissionSummary:
    """The cohort file and the disclosure-controlled aggregates, staged in the run's submission folder by a
    process of its own, on the other core while the run tracks the families' outcomes."""
    summary = call_in_child(partial(stage_cohort, run_root, config, run_id, reference_date), what="the cohort file")
    logger = get_run_logger()
    logger.info("cohort file: %d people in %d eligible families", summary.rows, summary.families)
    if summary.opt_outs is not None:
        logger.info("opt-outs: %d listed, %d matched, %d people left out", summary.opt_outs["listed"],
                    summary.opt_outs["matched"], summary.opt_outs["persons_left_out"])
    return summary


@task(name="quarterly return", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES)
def stage_quarterly_return(run_root: Path, config: RunConfiguration, reference_date: date) -> Path:
    """The quarterly progress return, disclosure-controlled in `submission/progress/`; unsuppressed in `criteria/`."""
    claims = run_root / "claims"
    table = progress_counts(read_parquet(claims / "claim_status.parquet"), read_parquet(claims / "outcome_needs.parquet"),
                            read_register(config.settings.claims_register), config.framework.framework, reference_date,
                            period_of(reference_date.isoformat()), config.outcome_plan.plan.sustain.months)
    write_private(run_root / "criteria" / "quarterly_internal.csv", table.to_csv(index=False).encode("utf-8"),
                  replace=True)
    folder = run_root / "submission" / PROGRESS.name
    folder.mkdir(parents=True, exist_ok=True)
    target = write_private(folder / PROGRESS.files[0], disclosure_controlled(table).to_csv(index=False).encode("utf-8"),
                           replace=True)
    get_run_logger().info("quarterly return %s (to %s): %d figures staged", quarter_of(reference_date)[0],
                          reference_date.isoformat(), len(table))
    return target


@task(name="encrypt", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES, **IO_RETRIES)
def encrypt_cohort(run_root: Path, config: RunConfiguration, summary: SubmissionSummary, context: dict[str, str],
                   gate: GateSummary, quarterly_gate: GateSummary | None) -> dict[str, Path]:
    """Encrypt each staged package for its own recipient and write its manifest beside it."""
    keys = config.submission_keys()
    staging = run_root / "submission"
    verdict = gate.counts()
    cohort = PackageDescription(
        context=context,
        details={"rows": summary.rows, "families": summary.families, "columns": list(summary.columns),
                 "opt_outs": summary.opt_outs, "counts": summary.counts},
        key_fingerprints={"council": summary.council_key, "evaluation": summary.evaluation_key},
        quality_gate={"passed": verdict["passed"], "suites": {"cohort": verdict["suites"]["cohort"]}},
    )
    aggregates = PackageDescription(
        context=context, details={}, key_fingerprints={},
        quality_gate={"passed": verdict["passed"], "suites": {"aggregates": verdict["suites"]["aggregates"]}},
    )
    manifests = {
        COHORT.name: seal_package(staging / COHORT.name, COHORT, keys.recipient, cohort),
        AGGREGATES.name: seal_package(staging / AGGREGATES.name, AGGREGATES, keys.aggregates_recipient, aggregates),
    }
    if quarterly_gate is not None:  # the department's, like the aggregate return
        quarter, first, _ = quarter_of(date.fromisoformat(context["reference_date"]))
        quarterly = quarterly_gate.counts()
        progress = PackageDescription(
            context=context, details={"quarter": quarter, "from": first.isoformat(), "to": context["reference_date"]},
            key_fingerprints={},
            quality_gate={"passed": quarterly["passed"], "suites": {"quarterly": quarterly["suites"]["quarterly"]}})
        manifests[PROGRESS.name] = seal_package(staging / PROGRESS.name, PROGRESS, keys.aggregates_recipient, progress)
    get_run_logger().info("encrypted the cohort for recipient key %s and the aggregate return for recipient key %s",
                          keys.fingerprints["recipient"], keys.fingerprints["aggregates_recipient"])
    return manifests


@task(name="publish", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES, **IO_RETRIES)
def publish_submission(run_root: Path, config: RunConfiguration, period: str) -> Publication:
    """Publish the sealed packages as the period's next version, all at once or not at all, withdrawing what was
    sent before of anyone who has since opted out."""
    out_dir = config.settings.out_dir
    internal = run_root / "criteria"
    opted_out = set(read_parquet(internal / OPTED_OUT)["person_id"].astype(str))
    changes = run_root / "linkage" / "person_id_changes.csv"
    if opted_out and changes.exists():  # sent before under an ID merged into theirs this run
        merged = pd.read_csv(changes, dtype=str)
        opted_out |= set(merged.loc[merged["merged_into"].isin(opted_out), "previous_id"])
    sent = read_parquet(internal / "submission_crosswalk.parquet", columns=["person_id", "person_pseudo_id"])
    publication = publish(run_root / "submission", out_dir / "published", out_dir / "sent", period, sent, opted_out,
                          config.submission_keys().recipient)
    logger = get_run_logger()
    if publication.new:
        logger.info("published %s%s; %d pseudonyms withdrawn", publication.name,
                    f", superseding {publication.supersedes}" if publication.supersedes else "", publication.withdrawn)
    else:
        logger.info("%s already holds these files: nothing new to publish", publication.name)
    return publication
