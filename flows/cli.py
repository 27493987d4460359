"""The `sfmatch` command: synth, run and demo.

Expected failures (a bad extract, a bad setting) print one clear message and
exit with status 1. Tracebacks, which could show values, never print local
variables.
"""

from __future__ import annotations

import json
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

import flows  # noqa: F401  (sets Prefect's environment before Prefect is imported)
from data.errors import SfmatchError
from data.private_files import private_umask
from data.synth import DEFAULT_REFERENCE_DATE, DIFFICULTIES, SOURCES, TRUTH_EXTRACTS, SynthSummary, generate
from flows.process_guard import exit_on_termination, start_embedded_server

class _ReportingGroup(TyperGroup):
    """Every command's expected failures (SfmatchError) become one message on stderr and exit status 1, and
    every file a command writes is its owner's only (umask 077)."""

    def invoke(self, ctx):
        try:
            with private_umask():  # keys, mappings, registers, run folders: readable by their owner only
                return super().invoke(ctx)
        except SfmatchError as error:
            _fail(str(error))


app = typer.Typer(
    cls=_ReportingGroup,
    name="sfmatch",
    help="Supporting Families data matching: ingest, link, assess and publish the monthly cohort.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
console = Console()
err_console = Console(stderr=True)

DateOption = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="reference date (YYYY-MM-DD)")
]


EXIT_WARNINGS = 3
"""`sfmatch run`'s exit status when the run completed and published, but a quality gate warned."""

EXTRACTS_HELP = "folder holding each source's extract: a file, or a folder of parts named for the source"


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)


def _synthesise(households: int, seed: int, out: Path, reference_date: date, style: str,
                difficulty: str = "standard") -> SynthSummary:
    steps = ["population", *SOURCES, "truth"]
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=console, transient=True,
    ) as progress:
        bar = progress.add_task(f"generating {households:,} households", total=len(steps))
        done: list[str] = []

        def advance(step: str) -> None:
            if done:
                progress.advance(bar)
            done.append(step)
            progress.update(bar, description=f"generating {households:,} households: {step}")

        summary = generate(households, seed, out, reference_date=reference_date, style=style, progress=advance,
                           difficulty=difficulty)
        progress.advance(bar)
    return summary


def _print_synth(summary: SynthSummary, seconds: float) -> None:
    table = Table(title=f"Synthetic extracts ({summary.households:,} households, seed {summary.seed}, "
                        f"{summary.difficulty} difficulty)")
    table.add_column("source")
    table.add_column("records", justify="right")
    for source, count in summary.records.items():
        table.add_row(source, f"{count:,}")
    table.add_row("[bold]all", f"[bold]{sum(summary.records.values()):,}")
    console.print(table)
    console.print(f"extracts: {summary.extracts_dir}\ntruth (never read by the pipeline): {summary.truth_dir}")
    console.print(f"generated in {seconds:.1f}s")


def _run_flow(extracts: Path, out: Path | None, config: Path | None, run_id: str | None, reference: date | None,
              refresh: bool = False, dask_address: str | None = None):
    from flows.cohort import cohort_run  # Prefect is imported only by the commands that run a flow
    from flows.settings import load_settings

    server = os.environ.get("PREFECT_API_URL")
    orchestration = load_settings(config, out_dir=out).orchestration
    flow = cohort_run.with_options(timeout_seconds=orchestration.run_timeout_minutes * 60)
    address = dask_address or orchestration.dask_address
    if address:
        if not server:
            _fail("running on Dask needs a Prefect server (with the embedded one, every Dask worker starts its "
                  "own): run 'prefect server start' and set PREFECT_API_URL")
        from prefect_dask import DaskTaskRunner

        from flows.cluster import make_workers_private

        make_workers_private(address)
        flow = flow.with_options(task_runner=DaskTaskRunner(address=address))
        console.print(f"[dim]ingest, standardise, block, score, cluster and criteria on the Dask cluster at {address} "
                      "(its workers read and write the extracts and the output folder: storage they share)[/]")
    console.print(f"[dim]running the flow on the Prefect server at {server}…[/]" if server else
                  "[dim]running the flow on Prefect's embedded server (it takes a few seconds to start)…[/]")
    # Prefect's own fixed cost, measured apart from the stages. (Starting it while the flow's libraries are
    # imported was tried: on two cores the server started slower by as much as the imports took.)
    server_start = start_embedded_server()
    if server_start is not None:
        console.print(f"[dim]Prefect's embedded server started in {server_start:.1f} s (not part of the run's stages)[/]")
    started = time.monotonic()
    state = flow(
        extracts_dir=extracts, out_dir=out, config_file=config, run_id=run_id, reference_date=reference,
        refresh=refresh, return_state=True,
    )
    # Prefect's alarm can land inside a task's own bookkeeping, which then fails or crashes with an error of its
    # own rather than TimedOut: a run that ended unfinished after its limit was stopped by it, whatever the state's
    # message says.
    over_time = time.monotonic() - started >= orchestration.run_timeout_minutes * 60
    if state.name == "TimedOut" or (not state.is_completed() and over_time):
        _fail(f"the run was stopped, nothing published: it ran longer than its time limit "
              f"(orchestration.run_timeout_minutes {orchestration.run_timeout_minutes:g} for the run, "
              f"orchestration.stage_timeout_minutes {orchestration.stage_timeout_minutes:g} for any one stage)")
    if not state.is_completed():
        _fail(state.message or "the run failed; see the log above")
    return state.result()


def _print_run(summary, seconds: float) -> None:
    """The ingest table, the linkage counts, the stage times and where the outputs are."""
    table = Table(title=f"Run {summary.run_id}")
    for column, justify in (("source", "left"), ("read", "right"), ("ingested", "right"),
                            ("quarantined", "right"), ("unusable values", "right"), ("reconciles", "center")):
        table.add_column(column, justify=justify)
    for source, stats in summary.ingest.items():
        table.add_row(
            source, f"{stats.rows_read:,}", f"{stats.rows_ingested:,}", f"{stats.rows_quarantined:,}",
            f"{sum(stats.field_issues.values()):,}", "yes" if stats.reconciles else "[red]NO",
        )
    console.print(table)
    if summary.linkage is not None:
        linkage = summary.linkage
        model = summary.model
        console.print(
            f"linkage: {linkage.records:,} records into {linkage.persons:,} persons; "
            f"{linkage.links_kept:,} links kept, {linkage.links_left_out:,} left out by constraints, "
            f"{linkage.pairs_for_review:,} pairs for review; model {model.model_id}"
            + (" [yellow](trained in this run: none existed)[/]" if model.trained_in_run else "")
        )
    if summary.submission is not None:
        submission = summary.submission
        opt = submission.opt_outs
        console.print(
            f"submission: {submission.rows:,} people in {submission.families:,} eligible families, encrypted for the "
            f"recipient" + (f"; opt-outs: {opt['listed']} listed, {opt['matched']} matched, "
                            f"{opt['persons_left_out']} people left out" if opt else "")
        )
    if summary.criteria is not None:
        criteria = summary.criteria
        needs = ", ".join(f"{code} {count:,}" for code, count in criteria.needs_per_headline.items())
        console.print(
            f"criteria {criteria.framework} v{criteria.version} ({criteria.period_start} to {criteria.period_end}): "
            f"{criteria.families_assessed:,} families assessed, {criteria.families_eligible:,} eligible, "
            f"{criteria.families_held_for_review:,} held back for review\nfamilies with each need: {needs}"
        )
    if summary.outcomes is not None:
        for line in summary.outcomes.lines():
            console.print(line, markup=False, highlight=False)
        if summary.outcomes.dwp:
            dwp = summary.outcomes.dwp
            console.print(f"DWP confirm-back: {dwp['requested']:,} adults requested, {dwp['came_back']:,} came back "
                          f"({dwp['came_back_matched']:,} matched to the adult requested, "
                          f"{dwp['came_back_not_matched']:,} not), {dwp['not_returned']:,} not returned, "
                          f"{dwp['unknown_references']:,} unknown references")
    stages = ", ".join(f"{name} {secs:.1f}s" for name, secs in summary.stages.items())
    console.print(f"stages: {stages}; wall time {seconds:.1f}s")
    console.print(f"run folder: {summary.run_dir}\nmanifest:   {summary.manifest}")
    if summary.linkage is not None:
        console.print(f"match report: {summary.run_dir / 'match_report.html'}\nreview queue: {summary.run_dir / 'review_queue.csv'}")
    if summary.outcomes is not None:
        console.print(f"claims:       {summary.run_dir / 'claims' / 'claims.csv'} (audit packs: "
                      f"{summary.run_dir / 'claims' / 'audit' / 'index.html'})")
    if summary.published is not None:
        console.print(f"published (quality gates passed{' with warnings' if summary.warnings else ''}): "
                      f"{summary.published}")
    if summary.warnings:
        console.print(f"[yellow]completed with {len(summary.warnings)} warning(s) from the quality gates:[/]")
        for warning in summary.warnings:
            console.print(f"  - {warning}", markup=False, highlight=False)


@app.command()
def synth(
    households: Annotated[int, typer.Option(min=1, help="number of households")] = 2000,
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives the same files")] = 42,
    out: Annotated[Path, typer.Option(help="folder for extracts/, truth/ and synth.json")] = Path("synth-out"),
    reference_date: DateOption = None,
    style: Annotated[str, typer.Option(help="'varied' (as extracts arrive) or 'canonical'")] = "varied",
    difficulty: Annotated[str, typer.Option(
        help="'standard', or 'realistic': partner extracts as dirty as councils really receive")] = "standard",
) -> None:
    """Generate a synthetic population, its five extracts and the ground truth."""
    if style not in ("varied", "canonical"):
        _fail("--style must be 'varied' or 'canonical'")
    if difficulty not in DIFFICULTIES:
        _fail(f"--difficulty must be one of {', '.join(DIFFICULTIES)}")
    started = time.perf_counter()
    summary = _synthesise(households, seed, out, (reference_date.date() if reference_date else DEFAULT_REFERENCE_DATE),
                          style, difficulty)
    _print_synth(summary, time.perf_counter() - started)


@app.command()
def run(
    extracts: Annotated[Path, typer.Option(help=EXTRACTS_HELP)],
    out: Annotated[Path | None, typer.Option(help="output folder (default from settings: sfmatch-out)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
    run_id: Annotated[str | None, typer.Option(help="override the run id derived from inputs and settings")] = None,
    reference_date: DateOption = None,
    refresh: Annotated[bool, typer.Option(help="recompute every stage, even those an earlier run of the same inputs left")] = False,
    dask_address: Annotated[str | None, typer.Option(help="run the heavy stages on this Dask scheduler's workers (needs PREFECT_API_URL)")] = None,
) -> None:
    """Run the monthly cohort flow on a folder of extracts.

    Exit status: 0 completed, 1 failed (nothing published), 3 completed and published but a quality gate
    warned (the flow run carries the tag "warnings")."""
    started = time.perf_counter()
    summary = _run_flow(extracts, out, config, run_id, reference_date.date() if reference_date else None,
                        refresh, dask_address)
    _print_run(summary, time.perf_counter() - started)
    if summary.warnings:
        raise typer.Exit(code=EXIT_WARNINGS)


def _demo_keys(keys: Path) -> dict[str, Path]:
    """The demo's own keys, made once and kept so that reruns give the same pseudonyms. Never committed."""
    from pseudonymise.keys import new_key, new_recipient_pair, write_key_file

    paths = {
        "council_key_file": keys / "council.key", "evaluation_key_file": keys / "evaluation.key",
        "opt_out_key_file": keys / "opt-out.key",
        "recipient_public_key": keys / "recipient_public.pem", "recipient_private_key": keys / "recipient_private.pem",
        "aggregates_recipient_public_key": keys / "aggregates_public.pem",
        "aggregates_recipient_private_key": keys / "aggregates_private.pem",
        "dwp_public_key": keys / "dwp_public.pem", "dwp_private_key": keys / "dwp_private.pem",
    }
    for kind in ("council", "evaluation", "opt-out"):
        if not paths[f"{kind.replace('-', '_')}_key_file"].exists():
            write_key_file(new_key(kind), paths[f"{kind.replace('-', '_')}_key_file"])
    for private, public in (("recipient_private_key", "recipient_public_key"),
                            ("aggregates_recipient_private_key", "aggregates_recipient_public_key"),
                            ("dwp_private_key", "dwp_public_key")):
        if not paths[private].exists():
            new_recipient_pair(paths[private], paths[public])
    return paths


def _demo_register(plain: Path, key_file: Path) -> Path:
    """The synthetic opt-out list sealed into a restriction register, as a council keeps it."""
    from pseudonymise.keys import read_key_file
    from pseudonymise.optouts import load_opt_outs, write_register

    return write_register(load_opt_outs(plain, read_key_file(key_file, "opt-out")),
                          plain.with_name("restriction_register.csv"))


@app.command()
def demo(
    households: Annotated[int, typer.Option(min=1, help="number of synthetic households")] = 2000,
    seed: Annotated[int, typer.Option(help="random seed")] = 42,
    out: Annotated[Path, typer.Option(help="folder for the synthetic extracts and the runs")] = Path("demo-out"),
) -> None:
    """Generate synthetic extracts, make keys, run the whole flow, and open the encrypted submission."""
    import yaml

    started = time.perf_counter()
    out = out.resolve()
    summary = _synthesise(households, seed, out / "synthetic", DEFAULT_REFERENCE_DATE, "varied")
    _print_synth(summary, time.perf_counter() - started)
    keys = _demo_keys(out / "keys")
    config = out / "sfmatch-demo.yaml"
    submission = {name: str(path) for name, path in keys.items()
                  if not name.endswith("private_key") and not name.startswith("dwp")}
    submission["opt_outs"] = str(_demo_register(out / "synthetic" / "opt_outs.csv", keys["opt_out_key_file"]))
    settings = {"la_code": "E99999999", "linkage": {"train_in_run": True}, "submission": submission,
                "dwp": {"recipient_public_key": str(keys["dwp_public_key"])}}
    config.write_text("# Written by sfmatch demo: the demo's own keys and restriction register.\n"
                      + yaml.safe_dump(settings, sort_keys=False))
    result = _run_flow(Path(summary.extracts_dir), out, config, None, DEFAULT_REFERENCE_DATE)
    _print_run(result, time.perf_counter() - started)
    opened = _open_submission(result.published / "cohort", keys["recipient_private_key"], "cohort.csv")
    returned = _open_submission(result.published / "aggregates", keys["aggregates_recipient_private_key"],
                                "aggregates.csv")
    quarterly = _open_submission(result.published / "progress", keys["aggregates_recipient_private_key"],
                                 "quarterly_return.csv")
    from flows.configuration import load_run_configuration
    from flows.dwp import make_request
    from flows.settings import load_settings

    request = make_request(result.run_dir, load_run_configuration(load_settings(config, out_dir=out)), None)
    console.print(f"DWP confirm-back request: {request.adults:,} adults of {request.families:,} families, sealed for "
                  f"DWP's key in {request.folder}")
    console.print(f"[bold green]demo complete[/]: outputs are in {result.run_dir}\n"
                  f"the recipient's key opens the encrypted cohort file: {opened:,} rows; the aggregate return's "
                  f"recipient opens it with their own key: {returned:,} rows, and the quarterly return: "
                  f"{quarterly:,} rows")


def _open_submission(package: Path, private_key: Path, name: str) -> int:
    """What a recipient does: decrypt a published file, and check it against its manifest's hash."""
    import tempfile

    from data.readers import file_sha256
    from pseudonymise.keys import load_private_key
    from pseudonymise.transfer import decrypt_file

    manifest = json.loads((package / "manifest.json").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        plain = Path(scratch) / name
        decrypt_file(package / f"{name}.enc", plain, load_private_key(private_key))
        if file_sha256(plain) != manifest["files_sha256"][name]:
            _fail(f"the decrypted {name} does not match the manifest's hash")
        return sum(1 for _ in plain.open(encoding="utf-8")) - 1


keys_app = typer.Typer(help="Keys for pseudonyms and for the encrypted transfer.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("new")
def keys_new(
    kind: Annotated[str, typer.Option(
        help="'council' (pseudonyms), 'evaluation' (match keys, shared) or 'opt-out' (the restriction register)")],
    out: Annotated[Path, typer.Option(help="the key file to write (readable by you only)")],
) -> None:
    """Write a new 256-bit key to a file with 0600 permissions."""
    from pseudonymise.keys import KEY_KINDS, new_key, write_key_file

    if kind not in KEY_KINDS:
        _fail("--kind must be 'council', 'evaluation' or 'opt-out'")
    key = new_key(kind)
    write_key_file(key, out)
    console.print(f"wrote the {kind} key to {out} (fingerprint {key.fingerprint})")


@keys_app.command("recipient")
def keys_recipient(
    private: Annotated[Path, typer.Option(help="where the recipient's private key goes (stays with them)")],
    public: Annotated[Path, typer.Option(help="where the public key goes (given to the council)")],
) -> None:
    """Make an X25519 key pair for the recipient of the cohort file."""
    from pseudonymise.keys import new_recipient_pair

    fingerprint = new_recipient_pair(private, public)
    console.print(f"wrote {private} (private, 0600) and {public} (public); fingerprint {fingerprint}")


@keys_app.command("rotate")
def keys_rotate(
    kind: Annotated[str, typer.Option(help="which key changes: 'council' or 'evaluation'")],
    old: Annotated[Path, typer.Option(help="the old key file: the one the run's submission was made with")],
    new: Annotated[Path, typer.Option(help="the new key file")],
    run: Annotated[Path, typer.Option(help="the run whose submission the mapping covers")],
    out: Annotated[Path, typer.Option(help="the mapping file to write (CSV: field, old, new), readable by you only")],
    encrypt: Annotated[bool | None, typer.Option(
        help="encrypt the mapping for the recipient (default: ask, at a terminal)")] = None,
    recipient: Annotated[Path | None, typer.Option(
        help="the recipient's public key (PEM); default: the one the run encrypted its cohort for")] = None,
) -> None:
    """The old-to-new pseudonym mapping for a key change, so the evaluation can follow people across it.

    The old key must be the one the run used (its fingerprint is in the run manifest). The council code,
    sources and contracts are the ones the run used, and the match keys are rebuilt exactly as the submission
    built them. The mapping is what lets the evaluation re-link: it is written 0600, and is best encrypted for
    the recipient before it leaves.
    """
    import io
    import sys

    from data.contract import load_contracts
    from data.private_files import write_private
    from data.tables import read_parquet
    from matching.storage import load_records
    from pseudonymise.cohort import cohort_people, recorded_sexes
    from pseudonymise.keys import load_public_key, public_fingerprint, read_key_file
    from pseudonymise.pseudonyms import Pseudonymiser
    from pseudonymise.rotation import council_key_mapping, evaluation_key_mapping, run_key_fingerprints
    from pseudonymise.transfer import encrypt_stream

    if kind not in ("council", "evaluation"):
        _fail("--kind must be 'council' or 'evaluation'")
    if out.exists():
        _fail(f"{out} already exists; a mapping is never overwritten (move the old one first)")
    try:
        run_manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        used, fingerprints = run_manifest["settings"], run_key_fingerprints(run_manifest)
    except (OSError, KeyError, ValueError):
        _fail(f"{run} is not a run folder with a submission")
    old_key, new_key = read_key_file(old, kind), read_key_file(new, kind)
    if old_key.fingerprint != fingerprints.get(kind):
        _fail(f"the old {kind} key {old} (fingerprint {old_key.fingerprint}) is not the one run {run.name} used "
              f"(fingerprint {fingerprints.get(kind)}): give the key its submission was made with")
    if new_key.fingerprint == old_key.fingerprint:
        _fail(f"the new {kind} key is the old one (fingerprint {old_key.fingerprint}): nothing to rotate")
    before, after = Pseudonymiser(old_key), Pseudonymiser(new_key)
    try:
        crosswalk = read_parquet(run / "criteria" / "submission_crosswalk.parquet")
        if kind == "council":
            mapping = council_key_mapping(crosswalk, used["la_code"], before, after)
        else:
            sources = used["sources"]
            sexes = recorded_sexes(run / "ingested", load_contracts(Path(used["contracts_dir"]), sources), sources)
            people = cohort_people(load_records(run / "linkage").frame, read_parquet(run / "linked_records.parquet"),
                                   sexes, read_parquet(run / "criteria" / "family_members.parquet"),
                                   crosswalk["person_id"])
            mapping = evaluation_key_mapping(people, before, after)
    except (OSError, KeyError, ValueError):
        _fail(f"{run} is not a run folder with a submission")
    plain = mapping.to_csv(index=False).encode("utf-8")
    offered = recipient or (Path(used["submission"]["recipient_public_key"])
                            if used.get("submission", {}).get("recipient_public_key") else None)
    if encrypt is None and sys.stdin.isatty() and offered is not None:
        encrypt = typer.confirm(f"The mapping lets the evaluation re-link people across the change. Encrypt it for "
                                f"the recipient ({offered})?", default=True)
    if encrypt:
        if offered is None:
            _fail("--encrypt needs --recipient: the run names no recipient key")
        public = load_public_key(offered)
        sealed = io.BytesIO()
        encrypt_stream(io.BytesIO(plain), sealed, public)
        write_private(out, sealed.getvalue())
        console.print(f"wrote {len(mapping):,} old-to-new pairs to {out}, encrypted for recipient key "
                      f"{public_fingerprint(public)} ({before.fingerprint} -> {after.fingerprint}); "
                      "send it with the next submission")
        return
    write_private(out, plain)
    console.print(f"wrote {len(mapping):,} old-to-new pairs to {out} (readable by you only; "
                  f"{before.fingerprint} -> {after.fingerprint}). It lets the evaluation re-link people: encrypt it "
                  "for the recipient before it leaves (--encrypt)")


optouts_app = typer.Typer(help="The restriction register: people who objected to or restricted processing.",
                          no_args_is_help=True)
app.add_typer(optouts_app, name="optouts")


@optouts_app.command("seal")
def optouts_seal(
    plain: Annotated[Path, typer.Argument(help="the opt-out list (CSV: any of nino, nhs_number, forename, surname, dob)")],
    out: Annotated[Path, typer.Option(help="the restriction register to write, or to add these people to")],
    key: Annotated[Path | None, typer.Option(help="the opt-out key file (default: the settings' opt_out_key_file)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
) -> None:
    """Keep only keyed hashes of the normalised identifiers: the least that lets the restriction be respected.

    Point `submission.opt_outs` at the register afterwards, and delete the plain list securely.
    """
    from flows.configuration import opt_out_key
    from flows.settings import load_settings
    from pseudonymise.keys import read_key_file
    from pseudonymise.optouts import is_register, load_opt_outs, read_register, write_register

    sealing_key = read_key_file(key, "opt-out") if key is not None else opt_out_key(load_settings(config))
    if sealing_key is None:
        _fail("no opt-out key: give --key, or set submission.opt_out_key_file (or SFMATCH_OPT_OUT_KEY); "
              "'sfmatch keys new --kind opt-out' makes one")
    if is_register(plain):
        _fail(f"{plain} is already a sealed register")
    register = load_opt_outs(plain, sealing_key)
    added = len(register.hashes)
    if out.exists():
        register = read_register(out, sealing_key).merged(register)
    write_register(register, out)
    console.print(f"sealed {added:,} opt-outs into {out} ({len(register.hashes):,} people in the register; key "
                  f"{sealing_key.fingerprint}). Set submission.opt_outs to it, and delete {plain} securely.")


@app.command()
def decrypt(
    file: Annotated[Path, typer.Argument(help="an encrypted file (.enc)")],
    key: Annotated[Path, typer.Option(help="the recipient's private key (PEM)")],
    out: Annotated[Path | None, typer.Option(help="where to write the plain file (default: the name without .enc)")] = None,
) -> None:
    """Open an encrypted submission file with the recipient's private key."""
    from pseudonymise.keys import load_private_key
    from pseudonymise.transfer import decrypt_file

    target = out or (file.with_suffix("") if file.suffix == ".enc" else file.with_name(file.name + ".plain"))
    chunks = decrypt_file(file, target, load_private_key(key))
    console.print(f"decrypted {file.name} ({chunks} chunk{'s' if chunks != 1 else ''}) to {target}")


@app.command()
def train(
    extracts: Annotated[Path, typer.Option(help=EXTRACTS_HELP)],
    out: Annotated[Path | None, typer.Option(help="output folder (default from settings)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
    model: Annotated[Path | None, typer.Option(help="where to save the model (default <out>/models/linkage_model.json)")] = None,
    reference_date: DateOption = None,
) -> None:
    """Train the linkage model on a month's extracts and save it for the monthly runs."""
    from flows.settings import load_settings
    from flows.train import train_flow

    started = time.perf_counter()
    limit = load_settings(config, out_dir=out).orchestration.run_timeout_minutes
    start_embedded_server()
    state = train_flow.with_options(timeout_seconds=limit * 60)(
        extracts_dir=extracts, out_dir=out, config_file=config, model_file=model,
        reference_date=reference_date.date() if reference_date else None, return_state=True,
    )
    if not state.is_completed():
        _fail(state.message or "training failed; see the log above")
    summary = state.result()
    console.print(
        f"trained model {summary.model.model_id} on {summary.records:,} records "
        f"({summary.candidate_pairs:,} candidate pairs) in {time.perf_counter() - started:.1f}s\n"
        f"saved to {summary.model.path}"
    )


def _latest_run(out: Path) -> Path:
    runs = sorted((p for p in (out / "runs").glob("*") if (p / "linked_records.parquet").exists()),
                  key=lambda p: p.stat().st_mtime)
    if not runs:
        _fail(f"no linked run under {out / 'runs'}; give --run")
    return runs[-1]


@app.command()
def evaluate(
    truth: Annotated[Path, typer.Option(help="the generator's truth/records.parquet")],
    run: Annotated[Path | None, typer.Option(help="the run folder (default: the latest under --out)")] = None,
    out: Annotated[Path, typer.Option(help="output folder holding runs/")] = Path("sfmatch-out"),
) -> None:
    """Score a synthetic run's linkage against the generator's truth."""

    from data.tables import read_parquet
    from matching.evaluate import evaluate as score_linkage

    run_dir = run or _latest_run(out)
    try:
        linked = read_parquet(run_dir / "linked_records.parquet")
        true = read_parquet(truth, columns=["source", "record_id", "person_id"])
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        _fail(f"cannot read the run or the truth file ({type(exc).__name__}); check the paths")
    described = truth.parent / TRUTH_EXTRACTS
    if described.exists():
        # Another population's truth has the same record ids: only the extracts' hashes tell them apart.
        hashes = json.loads(described.read_text(encoding="utf-8"))
        differ = sorted(entry["file"] for entry in manifest.get("inputs", {}).values()
                        if hashes.get(entry["file"]) != entry["sha256"])
        if differ:
            _fail(f"the truth file describes other extracts than run {run_dir.name} read ({', '.join(differ)} "
                  f"differ{'s' if len(differ) == 1 else ''}): is it this run's truth?")
    else:
        err_console.print(f"[yellow]{truth.parent / TRUTH_EXTRACTS} is missing (truth from an earlier version): "
                          "cannot check that the truth is of this run's extracts[/]")
    joined = linked.merge(true.rename(columns={"person_id": "true_person"}), on=["source", "record_id"], how="left")
    if joined["true_person"].isna().any():
        _fail(f"{int(joined['true_person'].isna().sum())} linked records are not in the truth file: is it this run's truth?")
    metrics = score_linkage(joined["person_id"], joined["true_person"])
    table = Table(title=f"Linkage of run {run_dir.name} against the truth")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for label, value in (
        ("records", f"{metrics.records:,}"),
        ("pairwise precision", f"{metrics.precision:.4f}"), ("pairwise recall", f"{metrics.recall:.4f}"),
        ("pairwise F1", f"{metrics.f1:.4f}"),
        ("pairs predicted / true / correct", f"{metrics.pairs_predicted:,} / {metrics.pairs_true:,} / {metrics.pairs_correct:,}"),
        ("persons predicted / true", f"{metrics.persons_predicted:,} / {metrics.persons_true:,}"),
        ("true persons recovered exactly", f"{metrics.persons_exact:,} ({metrics.persons_exact / metrics.persons_true:.1%})"),
        ("B-cubed precision / recall / F1",
         f"{metrics.bcubed_precision:.4f} / {metrics.bcubed_recall:.4f} / {metrics.bcubed_f1:.4f}"),
    ):
        table.add_row(label, value)
    console.print(table)


@app.command("dwp-request")
def dwp_request(
    run: Annotated[Path | None, typer.Option(help="the run folder (default: the latest completed run under --out)")] = None,
    out: Annotated[Path | None, typer.Option(help="output folder (default from settings)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
    recipient_key: Annotated[Path | None, typer.Option(help="DWP's X25519 public key (PEM); default "
                                                            "dwp.recipient_public_key")] = None,
) -> None:
    """Ask DWP to confirm back: the adults of the families assessed, sealed for DWP's public key."""
    from flows.configuration import load_run_configuration
    from flows.dwp import latest_completed_run, make_request
    from flows.settings import load_settings

    configuration = load_run_configuration(load_settings(config, out_dir=out))
    run_dir = run or latest_completed_run(configuration.settings.out_dir)
    made = make_request(run_dir, configuration, recipient_key)
    console.print(f"DWP request from run {run_dir.name}: {made.adults:,} adults of {made.families:,} families "
                  f"({made.with_nino:,} with an NI number), sealed for DWP in {made.folder}; the references are "
                  f"kept in {made.folder / 'register.parquet'} (never sent)")


@app.command("synth-dwp-reply")
def synth_dwp_reply(
    request: Annotated[Path, typer.Option(help="the sealed request (dwp_request.csv.enc)")],
    private_key: Annotated[Path, typer.Option(help="the synthetic DWP's private key (PEM)")],
    synthetic: Annotated[Path, typer.Option(help="the synth folder (extracts/ and truth/) the run read")],
    out: Annotated[Path, typer.Option(help="folder for the five extracts, the benefits one answering the request")],
) -> None:
    """Play DWP for synthetic data: open the request, match it to the population, reply with the benefits extract."""
    import io
    import pandas as pd

    from data.synth.dwp_reply import answer_request
    from pseudonymise.keys import load_private_key
    from pseudonymise.transfer import decrypt_stream

    plain = io.BytesIO()
    with request.open("rb") as sealed:
        decrypt_stream(sealed, plain, load_private_key(private_key), request.name)
    reply = answer_request(pd.read_csv(io.BytesIO(plain.getvalue()), dtype=str, keep_default_na=False)
                           .replace("", None), synthetic, out)
    console.print(f"DWP's reply: {reply.requested:,} adults requested, {reply.found:,} found, {reply.answered:,} on "
                  f"benefit ({reply.rows_with_reference:,} rows carry a reference); extracts in {reply.extracts_dir}")


review_app = typer.Typer(help="Clerical review of uncertain pairs.", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("apply")
def review_apply(
    file: Annotated[Path, typer.Argument(help="a review_queue.csv with the decision column filled in")],
    out: Annotated[Path | None, typer.Option(help="output folder (default from settings)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
) -> None:
    """Store analysts' link / no link decisions; every later run applies them before clustering."""
    from flows.locks import shared_lock
    from flows.settings import load_settings
    from matching.review import apply_review_file

    settings = load_settings(config, out_dir=out)
    with shared_lock(settings.decisions_path):  # two analysts applying at once must not lose a decision
        stats = apply_review_file(file, settings.decisions_path)
    console.print(
        f"{stats.decided:,} decisions stored ({stats.links:,} link, {stats.no_links:,} no link); "
        f"{stats.undecided:,} rows left undecided\n{stats.store_total:,} decisions in {settings.decisions_path}"
    )


@app.command("housekeeping")
def housekeeping_command(
    out: Annotated[Path | None, typer.Option(help="output folder (default from settings)")] = None,
    config: Annotated[Path | None, typer.Option(help="settings file (YAML)")] = None,
    retention_days: Annotated[int | None, typer.Option(help="override the retention period (days)")] = None,
    dry_run: Annotated[bool, typer.Option(help="list what would be deleted, delete nothing")] = False,
) -> None:
    """Delete run folders older than the retention period (they hold personal data)."""
    from flows.housekeeping import housekeeping

    start_embedded_server()
    state = housekeeping(out_dir=out, config_file=config, retention_days=retention_days, dry_run=dry_run,
                         return_state=True)
    if not state.is_completed():
        _fail(state.message or "housekeeping failed")
    summary = state.result()
    verb = "would delete" if summary.dry_run else "deleted"
    console.print(f"{verb} {len(summary.deleted)} of {summary.examined} run folders"
                  + (f"; kept the latest completed run {summary.kept_latest}" if summary.kept_latest else "")
                  + (f"; {len(summary.in_progress)} in progress left alone" if summary.in_progress else ""))
    for name in summary.deleted:
        console.print(f"  {name}")
    if summary.publish_debris:
        console.print(f"{verb} {len(summary.publish_debris)} half-written publication folder(s) a stopped publish "
                      "left: " + ", ".join(summary.publish_debris))


def main() -> None:
    exit_on_termination()
    app()
