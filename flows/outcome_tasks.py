"""The tasks after eligibility: outcomes and claims, the DWP reply's reconciliation, the claims register.

Each reads its inputs from the run folder, calls the library and writes back;
what they return, and what they log, is counts.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from criteria.audit_pack import AuditContext, write_audit_packs
from criteria.cases import CaseFacts, case_facts
from criteria.claims import assess_claims, read_register, register_claims, write_claims
from criteria.outcome_report import OutcomeSummary, needs_frame, summarise_outcomes
from criteria.outcome_status import outcome_status
from data.private_files import write_private
from data.tables import read_parquet, write_parquet
from flows.configuration import RunConfiguration
from flows.tasks import MINUTES, ingested_tables
from matching.review import read_decisions
from pseudonymise.dwp_request import Reconciliation, latest_register, reconcile
from pseudonymise.publish import period_of
from pseudonymise.pseudonyms import Pseudonymiser

CLAIMS_DIR = "claims"


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    return write_private(path, frame.to_csv(index=False).encode("utf-8"), replace=True)


def families_case_facts(run_root: Path, config: RunConfiguration, reference_date: date,
                        la_cases: pd.DataFrame | None = None) -> CaseFacts:
    """The families' case facts, from the council's extract alone: nothing the linkage makes, so that a
    process of its own can work them out while persons are resolved (`flows.cohort`)."""
    loaded, framework = config.outcome_plan, config.framework.framework
    assert loaded is not None
    if la_cases is None:
        la_cases = ingested_tables(run_root, ("la_cases",))["la_cases"]
    return case_facts(la_cases, framework.headline_codes, framework.framework,
                      config.contracts["la_cases"].date_formats, reference_date, loaded.plan.sustain.months)


@task(name="outcomes and claims", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def track_outcomes(run_root: Path, config: RunConfiguration, run_id: str, reference_date: date, period_start: date,
                   input_hashes: dict[str, str], cases: CaseFacts | None = None) -> OutcomeSummary:
    """Each need's outcome for every family taken on, the claims this period with their audit packs, and why
    the other families cannot be claimed yet. `cases`: the case facts, if already worked out."""
    settings, loaded = config.settings, config.outcome_plan
    assert loaded is not None
    framework = config.framework.framework
    tables = ingested_tables(run_root, config.sources)
    linked = read_parquet(run_root / "linked_records.parquet")
    members = read_parquet(run_root / "criteria" / "family_members.parquet")
    pending = read_parquet(run_root / "linkage" / "pending_pairs.parquet")
    if cases is None:
        cases = families_case_facts(run_root, config, reference_date, tables["la_cases"])
    status = outcome_status(loaded.plan, tables, linked, pending, members, cases, reference_date, period_start)
    in_education = set(linked.loc[linked["source"] == "education", "person_id"].astype(str))
    period = period_of(reference_date.isoformat())
    claims = assess_claims(framework, cases, status, members, in_education, read_register(settings.claims_register),
                           period)

    folder = run_root / CLAIMS_DIR
    write_claims(claims, folder)
    _csv(cases.problems, folder / "case_problems.csv")
    needs = needs_frame(status)
    _csv(needs, folder / "outcome_needs.csv")
    write_parquet(status.needs, folder / "outcome_needs.parquet")
    # Every record behind every family's outcomes: a table for tools, not for a spreadsheet (a county's runs
    # to millions of rows); the claims' own evidence is in their audit packs.
    write_parquet(status.evidence, folder / "outcome_evidence.parquet")
    write_parquet(claims.families, folder / "claim_status.parquet")
    mode = settings.outcomes.audit_pack
    context = AuditContext(run_id=run_id, period=period, reference_date=reference_date.isoformat(),
                           framework=config.framework.label, plan=loaded.label,
                           input_hashes=input_hashes)
    pseudonymiser = Pseudonymiser(config.submission_keys().council) if mode == "pseudonymised" else None
    write_audit_packs(claims, status, members, tables, linked, read_decisions(settings.decisions_path), framework,
                      loaded.plan, context, folder / "audit", mode, pseudonymiser)
    summary = summarise_outcomes(loaded, cases, status, claims, mode)
    logger = get_run_logger()
    for line in summary.lines():
        logger.info("%s", line)
    if summary.case_problems:
        logger.warning("%d problem(s) in the case records of %d families hold their claims back; see "
                       "claims/case_problems.csv (file, row and field of each)", summary.case_problems,
                       summary.families_with_case_problems)
    return summary


@task(name="reconcile DWP reply", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES)
def reconcile_dwp_reply(run_root: Path, config: RunConfiguration) -> Reconciliation | None:
    """How many adults of the outstanding confirm-back request came back in the benefits extract, matched or not."""
    register = latest_register(config.settings.out_dir / "dwp" / "requests")
    if register is None or "dwp_benefits" not in config.sources:
        return None
    reply = read_parquet(run_root / "ingested" / "dwp_benefits.parquet")
    if "request_reference" not in reply:
        return None
    linked = read_parquet(run_root / "linked_records.parquet")
    summary, detail = reconcile(register, reply, linked)
    _csv(detail, run_root / "dwp" / "reconciliation.csv")
    get_run_logger().info(
        "DWP confirm-back %s: %d adults requested, %d came back (%d matched to the adult requested, %d not), "
        "%d not returned; %d reply rows name an unknown reference", summary.request_id, summary.requested,
        summary.came_back, summary.came_back_matched, summary.came_back_not_matched, summary.not_returned,
        summary.unknown_references)
    return summary


def with_reconciliation(summary: OutcomeSummary, reconciliation: Reconciliation | None) -> OutcomeSummary:
    return dataclasses.replace(summary, dwp=reconciliation.counts()) if reconciliation else summary


@task(name="register claims", cache_policy=NO_CACHE, timeout_seconds=5 * MINUTES)
def record_claims(run_root: Path, config: RunConfiguration, run_id: str, reference_date: date) -> int:
    """Enter this period's claims in the claims register, once the run has completed: no family is claimed twice."""
    claims = pd.read_csv(run_root / CLAIMS_DIR / "claims.csv", dtype=str, keep_default_na=False)
    period = period_of(reference_date.isoformat())
    count = register_claims(config.settings.claims_register, claims, period, run_id)
    get_run_logger().info("claims register: %d claims entered for %s", count, period)
    return count
