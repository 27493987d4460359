"""The tasks the flows compose. Each reads its inputs from the run folder, calls one library
function, writes its output back to the run folder and returns counts: no business logic here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Sequence

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from dateutil.relativedelta import relativedelta
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import task_run
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from criteria.assess import COUNTED, assess, reassess_without
from criteria.framework import load_framework
from criteria.progress import update_history
from criteria.report import CriteriaSummary, render_section, summarise
from data.contract import Contract, load_contracts
from data.errors import SfmatchError
from data.ingest import IngestStats, ingest_extract, write_ingest_outputs
from data.readers import file_sha256, locate_extracts
from data.tables import read_parquet, write_parquet
from expectations.inputs import input_expectations
from expectations.report import failure_message, gate_markdown
from expectations.runner import run_suites
from expectations.submission import aggregate_expectations, cohort_expectations, read_cohort
from expectations.thresholds import load_thresholds
from flows.manifest import RunManifest, utc_now
from flows.runs import RunFolder, code_version, previous_run, run_id_for
from flows.settings import Settings
from matching.blocking import DEFAULT_RULES, RuleReport, block
from matching.comparisons import DEFAULT_COMPARISONS
from matching.linker import LinkageStats, PartitionResult, levels_of, resolve, score_partition
from matching.model import LinkageModel, Thresholds, load_model, save_model
from matching.report import PairExample, ReportInputs, pick_examples, write_report
from matching.review import decisions_for_run, read_decisions, render_queue
from matching.scoring import TermFrequencies, weight_matrix
from matching.standardise import identifier_quality, standardise
from matching.storage import load_candidates, load_records, save_candidates, save_records
from matching.training import train_from_candidates
from pseudonymise.aggregates import disclosure_controlled, family_counts
from pseudonymise.keys import SecretKey, SecretKeyError, load_key, load_public_key, public_fingerprint
from pseudonymise.optouts import match_opt_outs, read_opt_outs
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.submission import RunContext, build_submission, person_attributes
from pseudonymise.transfer import encrypt_file


class _NoEmptyTraceback(logging.Filter):
    """Prefect logs a failed state with exc_info even when no exception exists, printing 'NoneType: None'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is None:
            record.exc_info = None
        return True


for _name in ("prefect.task_runs", "prefect.flow_runs"):
    logging.getLogger(_name).addFilter(_NoEmptyTraceback())


def transient_io(task, task_run, state) -> bool:
    """Retry what a second try can fix (a file system that failed for a moment), never a bad extract."""
    return isinstance(state.data, OSError)


# Reading extracts from a share, copying to the published folder: I/O that can fail for a moment.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [5, 30], "retry_condition_fn": transient_io}
MINUTES = 60


@dataclass(frozen=True)
class PreparedRun:
    folder: RunFolder
    extracts: dict[str, Path]
    manifest: RunManifest
    hashes: dict[str, str]
    previous: Path | None = None
    """The latest completed run before this one, chosen once so that every stage reads the same run."""

    def previous_output(self, name: str) -> Path | None:
        """A file of the previous run (its person index, needs history, manifest), if it has one."""
        return self.previous / name if self.previous is not None and (self.previous / name).exists() else None


def reporting_period(reference_date: date, months: int) -> tuple[date, date]:
    """The period a record must fall in to count: the `months` up to and including the reference date."""
    return reference_date - relativedelta(months=months) + relativedelta(days=1), reference_date


@task(name="prepare run", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES, **IO_RETRIES)
def prepare_run(extracts_dir: Path, settings: Settings, run_id: str | None, kind: str = "runs") -> PreparedRun:
    """Find one extract per source, hash them, and open the run's folder and manifest."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    extracts = locate_extracts(extracts_dir, contracts)
    load_framework(settings.framework, contracts, settings.frameworks_dir)  # a bad framework fails before the work
    load_thresholds(list(settings.sources), settings.quality_thresholds, contracts)  # and bad thresholds
    if settings.submission and kind == "runs":
        submission_keys(settings)  # and so does a missing key (training publishes nothing, so needs none)
    hashes = {source: file_sha256(path) for source, path in extracts.items()}
    reference_date = settings.resolved_reference_date()
    folder = RunFolder(settings.out_dir, run_id or run_id_for(reference_date, hashes, settings.public_dump()), kind)
    start, end = reporting_period(reference_date, settings.period_months)
    manifest = RunManifest(
        run_id=folder.run_id, started_at=utc_now(), reference_date=reference_date.isoformat(),
        period_start=start.isoformat(), period_end=end.isoformat(),
        settings=settings.public_dump(), code=code_version(),
    )
    folder.create()
    get_run_logger().info("run %s: %d extracts found", folder.run_id, len(extracts))
    return PreparedRun(folder, extracts, manifest, hashes, previous_run(settings.out_dir, folder.run_id))


# Ingest and scoring run on worker threads (or Dask workers), where Prefect cannot interrupt a task and
# only warns that a timeout was set; the tasks run in the flow's own thread keep theirs.
@task(name="ingest", task_run_name="ingest-{source}", cache_policy=NO_CACHE, **IO_RETRIES)
def ingest_source(source: str, path: Path, settings: Settings, run_root: Path) -> IngestStats | State:
    """Read one extract by its contract; write its typed table, quarantine and field issues."""
    logger = get_run_logger()
    try:
        contract = load_contracts(settings.contracts_dir, [source])[source]
        result = ingest_extract(path, contract)
    except SfmatchError as error:
        logger.error("%s", error)
        return Failed(message=str(error))
    except OSError as error:
        if task_run.run_count <= ingest_source.retries:
            raise  # retried after a pause: shares and network drives fail for a moment
        message = f"{path.name}: cannot be read ({error.strerror or type(error).__name__}), after {task_run.run_count} tries"
        logger.error("%s", message)
        return Failed(message=message)
    write_ingest_outputs(result, contract, run_root)
    stats = result.stats
    logger.info(
        "%s: %d rows read, %d ingested, %d quarantined, %d values unusable",
        source, stats.rows_read, stats.rows_ingested, stats.rows_quarantined, sum(stats.field_issues.values()),
    )
    return stats


@dataclass(frozen=True)
class StandardiseSummary:
    records: int
    per_source: dict[str, int]
    identifier_quality: dict[str, dict[str, dict[str, int]]]


@task(name="standardise", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def standardise_records(run_root: Path, sources: tuple[str, ...], reference_date: date) -> StandardiseSummary:
    """Person records from every ingested table, saved for the linkage steps."""
    tables = {source: read_parquet(run_root / "ingested" / f"{source}.parquet") for source in sources}
    records = standardise(tables, reference_date)
    save_records(records, run_root / "linkage")
    per_source = {str(k): int(v) for k, v in records.frame["source"].value_counts(sort=False).items()}
    get_run_logger().info("standardised %d records", len(records))
    return StandardiseSummary(len(records), per_source, identifier_quality(records))


@dataclass(frozen=True)
class BlockSummary:
    pairs: int
    rules: tuple[RuleReport, ...]


@task(name="block", cache_policy=NO_CACHE, timeout_seconds=60 * MINUTES)
def block_records(run_root: Path, cap: int) -> BlockSummary:
    records = load_records(run_root / "linkage")
    candidates = block(records, DEFAULT_RULES, cap)
    save_candidates(candidates, run_root / "linkage" / "candidates.parquet")
    # Pairs scored from earlier candidates no longer mean anything.
    shutil.rmtree(run_root / "linkage" / "scored", ignore_errors=True)
    logger = get_run_logger()
    logger.info("blocking: %d candidate pairs from %d rules", len(candidates), len(DEFAULT_RULES))
    for report in candidates.report:
        if report.skipped_blocks:
            logger.warning("blocking rule '%s': %d oversized blocks skipped (%d records)",
                           report.rule, report.skipped_blocks, report.skipped_records)
    return BlockSummary(len(candidates), candidates.report)


def effective_model(model_path: Path, settings: Settings) -> LinkageModel:
    """The saved model with any thresholds the settings override."""
    model = load_model(model_path)
    model.check_matches(DEFAULT_COMPARISONS)
    if settings.accept_threshold is None and settings.review_threshold is None:
        return model
    return model.with_thresholds(Thresholds(
        accept=settings.accept_threshold or model.thresholds.accept,
        review=settings.review_threshold or model.thresholds.review,
    ))


@dataclass(frozen=True)
class ModelSummary:
    path: Path
    model_id: str
    trained_in_run: bool
    trained_at: str


@task(name="train linkage model", cache_policy=NO_CACHE, timeout_seconds=120 * MINUTES)
def train_linkage_model(run_root: Path, model_path: Path, data_sha256: str) -> ModelSummary:
    """Train on this run's records and save the model; an earlier model is kept beside it under its id."""
    records = load_records(run_root / "linkage")
    candidates = load_candidates(run_root / "linkage" / "candidates.parquet")
    model = train_from_candidates(
        records, candidates, DEFAULT_COMPARISONS, data_sha256=data_sha256, code_version=code_version(),
        trained_at=utc_now(),
    )
    if model_path.exists():
        previous = load_model(model_path)
        save_model(previous, model_path.with_name(f"{model_path.stem}.{previous.model_id}{model_path.suffix}"))
    save_model(model, model_path)
    get_run_logger().info("trained linkage model %s on %d records", model.model_id, len(records))
    return ModelSummary(model_path, model.model_id, True, model.training.trained_at)


@task(name="score", task_run_name="score-part-{part}", cache_policy=NO_CACHE)
def score_pairs(run_root: Path, model_path: Path, settings: Settings, part: int, start: int, stop: int) -> PartitionResult:
    """Compare and score one slice of the candidate pairs; the pairs worth keeping go to a file."""
    records = load_records(run_root / "linkage")
    candidates = load_candidates(run_root / "linkage" / "candidates.parquet", slice(start, stop))
    model = effective_model(model_path, settings)
    result = score_partition(records, candidates, model, TermFrequencies.of(records, DEFAULT_COMPARISONS))
    write_parquet(result.pairs, scored_part(run_root, part))
    return dataclasses.replace(result, pairs=pd.DataFrame())


def scored_part(run_root: Path, part: int) -> Path:
    return run_root / "linkage" / "scored" / f"part-{part:04d}.parquet"


@dataclass(frozen=True)
class ResolveSummary:
    stats: LinkageStats
    examples: tuple[PairExample, ...]
    linked_records: int


@task(name="resolve persons", cache_policy=NO_CACHE, timeout_seconds=60 * MINUTES)
def resolve_persons(
    run_root: Path, model_path: Path, settings: Settings, parts: list[PartitionResult], run_id: str,
    previous_index: Path | None,
) -> ResolveSummary:
    """Decisions, clusters and stable IDs; writes the linked records, person index, links and review queue."""
    logger = get_run_logger()
    records = load_records(run_root / "linkage")
    model = effective_model(model_path, settings)
    combined = PartitionResult.combine(parts)
    # This run's partitions by number: a file left by a run cut into more partitions is never read.
    combined.pairs = pd.concat([read_parquet(scored_part(run_root, part)) for part in range(len(parts))],
                               ignore_index=True)
    decisions = decisions_for_run(read_decisions(settings.decisions_path), records.frame)
    previous = read_parquet(previous_index) if previous_index else None
    outcome = resolve(records, combined, decisions, previous, run_id, settings.ambiguity_bits)

    write_parquet(outcome.linked, run_root / "linked_records.parquet")
    write_parquet(outcome.ids.index, run_root / "person_index.parquet")
    outcome.ids.changes.to_csv(run_root / "linkage" / "person_id_changes.csv", index=False)
    write_parquet(outcome.links, run_root / "linkage" / "links.parquet")
    tf = TermFrequencies.of(records, DEFAULT_COMPARISONS)
    review = outcome.review
    weights = weight_matrix(levels_of(review), model, tf, review["left"].to_numpy(), review["right"].to_numpy(), records)
    labels = {c.name: tuple(c.levels) for c in DEFAULT_COMPARISONS}
    render_queue(review, records.frame, labels, weights).to_csv(run_root / "review_queue.csv", index=False)
    stats = outcome.stats
    logger.info(
        "linkage: %d records into %d persons; %d links kept, %d left out to respect constraints, %d pairs for review",
        stats.records, stats.persons, stats.links_kept, stats.links_left_out, stats.pairs_for_review,
    )
    if previous is None:
        logger.info("no previous person index: every person gets a new ID")
    if decisions.stale:
        logger.warning("%d stored review decisions are stale (record details changed) and were not applied", decisions.stale)
    if stats.events_too_large:
        logger.warning("%d events list too many records to keep their people apart; check the event references "
                       "(events_too_large in the manifest)", stats.events_too_large)
    return ResolveSummary(stats, pick_examples(combined.pairs, records, model, tf), len(outcome.linked))


@task(name="assess families", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def assess_families(run_root: Path, settings: Settings, period: tuple[date, date], previous_history: Path | None,
                    ) -> CriteriaSummary:
    """Needs, evidence and eligibility for every family; the needs history and this month's changes."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    loaded = load_framework(settings.framework, contracts, settings.frameworks_dir)
    tables = {source: read_parquet(run_root / "ingested" / f"{source}.parquet") for source in settings.sources}
    linked = read_parquet(run_root / "linked_records.parquet")
    review = pd.read_csv(run_root / "review_queue.csv", dtype=str, keep_default_na=False)
    assessment = assess(loaded.framework, tables, linked, review, period)
    write_parquet(assessment.families, run_root / "families.parquet")
    write_parquet(assessment.evidence, run_root / "evidence.parquet")
    write_parquet(assessment.members, run_root / "criteria" / "family_members.parquet")
    counted = assessment.evidence[assessment.evidence["status"] == COUNTED]
    previous = read_parquet(previous_history) if previous_history else None
    history, changes = update_history(counted, previous, period[1])
    write_parquet(history, run_root / "needs_history.parquet")
    changes.to_csv(run_root / "needs_changes.csv", index=False)
    summary = summarise(loaded, assessment, (period[0].isoformat(), period[1].isoformat()), changes)
    get_run_logger().info(
        "criteria %s: %d families assessed, %d eligible, %d held back for review",
        loaded.label, summary.families_assessed, summary.families_eligible, summary.families_held_for_review,
    )
    return summary


def submission_keys(settings: Settings) -> tuple[SecretKey, SecretKey, X25519PublicKey]:
    """The council key, the evaluation key and the recipient's public key, or a clear error."""
    council = load_key("council", settings.council_key_file,
                       settings.council_key.get_secret_value() if settings.council_key else None)
    evaluation = load_key("evaluation", settings.evaluation_key_file,
                          settings.evaluation_key.get_secret_value() if settings.evaluation_key else None)
    if council.material == evaluation.material:
        raise SecretKeyError("the council key and the evaluation key must differ: the evaluation holds its key")
    if settings.recipient_public_key is None:
        raise SecretKeyError("no recipient_public_key: the cohort file is encrypted for the evaluation before it "
                             "leaves ('sfmatch keys recipient' makes a pair for testing)")
    return council, evaluation, load_public_key(settings.recipient_public_key)


@dataclass(frozen=True)
class SubmissionSummary:
    rows: int
    families: int
    columns: tuple[str, ...]
    council_key: str
    evaluation_key: str
    opt_outs: dict[str, int] | None
    counts: dict[str, int]


def cohort_people(run_root: Path, contracts: dict[str, Contract], sources: Sequence[str], records: pd.DataFrame,
                  linked: pd.DataFrame, members: pd.DataFrame, persons: pd.Series) -> pd.DataFrame:
    """The attributes of some people (those sent), as the cohort file takes them.

    Key rotation rebuilds its match keys from this too, so its mapping covers
    exactly the values that were sent.
    """
    sexes = pd.concat([
        read_parquet(run_root / "ingested" / f"{source}.parquet", columns=["record_id", "sex"]).assign(source=source)
        for source in sources if "sex" in contracts[source].fields
    ], ignore_index=True)
    member_dob = members.drop_duplicates("person_id").set_index("person_id")["dob"]
    return person_attributes(records, linked, sexes, member_dob, persons)


@task(name="pseudonymise", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def pseudonymise_cohort(run_root: Path, settings: Settings, run_id: str, reference_date: date) -> SubmissionSummary:
    """The cohort file and the disclosure-controlled aggregates, staged in the run's submission folder."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    loaded = load_framework(settings.framework, contracts, settings.frameworks_dir)
    council, evaluation, _ = submission_keys(settings)
    families = read_parquet(run_root / "families.parquet")
    members = read_parquet(run_root / "criteria" / "family_members.parquet")
    linked = read_parquet(run_root / "linked_records.parquet")
    records = load_records(run_root / "linkage").frame
    opted_out, opt_out_stats = set(), None
    families_left_out = 0
    if settings.opt_outs is not None:
        opted_out, opt_out_stats = match_opt_outs(read_opt_outs(settings.opt_outs), records, linked)
    if opted_out:
        evidence = read_parquet(run_root / "evidence.parquet", columns=["family_id", "headline", "descriptor",
                                                                       "person_id", "status"])
        before = set(families.loc[families["eligible"].astype(bool), "family_id"])
        families = reassess_without(loaded.framework, members, evidence, opted_out)
        families_left_out = len(before - set(families.loc[families["eligible"].astype(bool), "family_id"]))
    context = RunContext(settings.la_code, run_id, reference_date.isoformat(), loaded.label)
    eligible = families.loc[families["eligible"].astype(bool), "family_id"]
    people = cohort_people(run_root, contracts, settings.sources, records, linked, members,
                           members.loc[members["family_id"].isin(eligible), "person_id"])
    cohort, crosswalk, counts = build_submission(
        loaded.framework, families, members, people, opted_out, Pseudonymiser(council), Pseudonymiser(evaluation),
        context,
    )
    counts["families_no_longer_eligible_without_opt_outs"] = families_left_out
    staging = run_root / "submission"
    staging.mkdir(parents=True, exist_ok=True)
    cohort.to_csv(staging / "cohort.csv", index=False, encoding="utf-8")
    write_parquet(cohort, staging / "cohort.parquet")
    table = family_counts(loaded.framework, families)
    disclosure_controlled(table).to_csv(staging / "aggregates.csv")
    table.to_csv(run_root / "criteria" / "aggregates_internal.csv")
    write_parquet(crosswalk, run_root / "criteria" / "submission_crosswalk.parquet")
    logger = get_run_logger()
    logger.info("cohort file: %d people in %d eligible families", counts["rows"], counts["families"])
    if opt_out_stats is not None:
        logger.info("opt-outs: %d listed, %d matched, %d people left out", opt_out_stats.listed,
                    opt_out_stats.matched, opt_out_stats.persons_left_out)
    return SubmissionSummary(
        rows=counts["rows"], families=counts["families"], columns=tuple(cohort.columns),
        council_key=council.fingerprint, evaluation_key=evaluation.fingerprint,
        opt_outs=None if opt_out_stats is None else {**dataclasses.asdict(opt_out_stats), "unmatched": opt_out_stats.unmatched},
        counts=counts,
    )


SUBMISSION_FILES = ("cohort.csv", "cohort.parquet", "aggregates.csv")


@task(name="encrypt", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES, **IO_RETRIES)
def encrypt_cohort(run_root: Path, settings: Settings, summary: SubmissionSummary, context: dict[str, str],
                   gate: GateSummary) -> Path:
    """Encrypt the staged files for the recipient and write the submission manifest beside them."""
    _, _, recipient = submission_keys(settings)
    staging = run_root / "submission"
    files, encrypted = {}, {}
    for name in SUBMISSION_FILES:
        plain = staging / name
        sealed = staging / f"{name}.enc"
        encrypt_file(plain, sealed, recipient)
        files[name] = file_sha256(plain)
        encrypted[sealed.name] = file_sha256(sealed)
    manifest = {
        **context, "rows": summary.rows, "families": summary.families, "columns": list(summary.columns),
        "files_sha256": files, "encrypted_files_sha256": encrypted,
        "key_fingerprints": {"council": summary.council_key, "evaluation": summary.evaluation_key,
                             "recipient": public_fingerprint(recipient)},
        "opt_outs": summary.opt_outs, "counts": summary.counts,
        "quality_gate": {"passed": gate.passed, "suites": {
            name: {k: suite[k] for k in ("rows", "evaluated", "passed")} for name, suite in gate.suites.items()}},
        "aggregates": "families by headline and eligibility; ONS 10-5 rule with secondary suppression, [c] = suppressed",
        "encryption": "X25519 + HKDF-SHA256 + AES-256-GCM in 1 MiB authenticated chunks (sfmatch decrypt)",
    }
    path = staging / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    get_run_logger().info("encrypted %d files for recipient key %s", len(encrypted), public_fingerprint(recipient))
    return path


@dataclass(frozen=True)
class GateSummary:
    gate: str
    passed: bool
    suites: dict[str, dict[str, object]]
    report: Path
    failures: str

    def manifest_entry(self) -> dict[str, object]:
        return {"passed": self.passed, "report": str(self.report), "suites": self.suites}


def _gate(run_root: Path, gate: str, title: str, batches: dict) -> GateSummary:
    """Run a gate's suites, keep its report and Data Docs in the run folder, publish counts as an artifact."""
    results = run_suites(batches, run_root / "data_docs" / gate)
    markdown = gate_markdown(title, results)
    folder = run_root / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{gate}.md").write_text(markdown, encoding="utf-8")
    suites = {name: result.summary() for name, result in results.items()}
    (folder / f"{gate}.json").write_text(json.dumps(suites, indent=2) + "\n", encoding="utf-8")
    create_markdown_artifact(key=f"sfmatch-quality-{gate}", markdown=markdown, description=f"{title}: counts only")
    logger = get_run_logger()
    for name, result in results.items():
        for outcome in result.warnings:
            logger.warning("%s: %s", name, outcome.describe())
    passed = all(result.passed for result in results.values())
    logger.info("%s: %s (%d suites)", title, "passed" if passed else "FAILED", len(results))
    return GateSummary(gate, passed, suites, folder / f"{gate}.md", failure_message(results))


@task(name="gate inputs", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def gate_inputs(run_root: Path, settings: Settings, reference_date: date, previous_manifest: Path | None) -> GateSummary:
    """The input suites on every ingested extract; a blocking failure stops the run before any linking."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    thresholds = load_thresholds(list(settings.sources), settings.quality_thresholds)
    previous_rows: dict[str, int] = {}
    if previous_manifest is not None:
        previous = json.loads(previous_manifest.read_text(encoding="utf-8"))
        previous_rows = {s: int(e["rows_ingested"]) for s, e in previous.get("ingest", {}).items()}
    batches = {
        f"input_{source}": (
            read_parquet(run_root / "ingested" / f"{source}.parquet"),
            input_expectations(contracts[source], thresholds[source], reference_date, previous_rows.get(source)),
        )
        for source in settings.sources
    }
    return _gate(run_root, "inputs", "Input data quality", batches)


@task(name="gate submission", cache_policy=NO_CACHE, timeout_seconds=30 * MINUTES)
def gate_submission(run_root: Path, settings: Settings) -> GateSummary:
    """The submission suite on the staged cohort file (as the recipient will read it) and the aggregates."""
    contracts = load_contracts(settings.contracts_dir, list(settings.sources))
    framework = load_framework(settings.framework, contracts, settings.frameworks_dir).framework
    staging = run_root / "submission"
    cohort = read_cohort(staging / "cohort.csv")
    batches = {
        "cohort": (cohort, cohort_expectations(framework.headline_codes, framework.eligibility.minimum)),
        "aggregates": (pd.read_csv(staging / "aggregates.csv", dtype=str, keep_default_na=False), aggregate_expectations()),
    }
    return _gate(run_root, "submission", "Submission data quality", batches)


@task(name="publish", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES, **IO_RETRIES)
def publish_submission(run_root: Path, out_dir: Path, run_id: str) -> Path:
    """Copy the encrypted files and their manifest to `published/<run_id>/`, all at once or not at all."""
    staging = run_root / "submission"
    published = out_dir / "published"
    target, partial = published / run_id, published / f".{run_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in [f"{n}.enc" for n in SUBMISSION_FILES] + ["manifest.json"]:
        shutil.copy2(staging / name, partial / name)
    if target.exists():
        retired = published / f".{run_id}.replaced"
        shutil.rmtree(retired, ignore_errors=True)
        target.rename(retired)
        partial.rename(target)
        shutil.rmtree(retired)
    else:
        partial.rename(target)
    latest = published / ".latest.json.partial"
    latest.write_text(json.dumps({"run_id": run_id, "folder": target.name}) + "\n", encoding="utf-8")
    latest.replace(published / "latest.json")
    get_run_logger().info("published %s", target)
    return target


@task(name="match report", cache_policy=NO_CACHE, timeout_seconds=15 * MINUTES)
def match_report(
    run_root: Path, run_id: str, model_path: Path, settings: Settings, model_trained_in_run: bool,
    standardised: StandardiseSummary, blocking: BlockSummary, parts: list[PartitionResult], resolved: ResolveSummary,
    criteria: CriteriaSummary | None = None,
) -> Path:
    combined = PartitionResult.combine(parts)
    inputs = ReportInputs(
        run_id=run_id, model=effective_model(model_path, settings), model_trained_in_run=model_trained_in_run,
        records_per_source=standardised.per_source, blocking=blocking.rules, compared=combined.compared,
        decisions=combined.decisions, contradictions=combined.contradictions, histogram=combined.weight_histogram,
        stats=resolved.stats, examples=resolved.examples, identifier_quality=standardised.identifier_quality,
        extra_sections=(render_section(criteria),) if criteria is not None else (),
    )
    return write_report(inputs, run_root / "match_report.html")
