"""Benchmark the pipeline at several scales: wall time and peak memory per stage, throughput, accuracy.

For each scale it generates synthetic extracts, makes keys, trains the linkage
model (`sfmatch train`, as a council does outside the monthly run), then runs
the monthly flow (`sfmatch run`) in a child process under `/usr/bin/time -v`
for the whole process's peak memory. Stage times and each stage's peak memory
come from the run's manifest; precision, recall and F1 from
`matching.evaluate` against the generator's truth. FEBRL4 is scored too.

    .venv/bin/python benchmarks/run.py --households 2000 20000 200000
    .venv/bin/python benchmarks/run.py --households 2000000          # when asked for 2M
    .venv/bin/python benchmarks/run.py --households 500000 --repeat 2 # the faster of two runs of the month
    .venv/bin/python benchmarks/run.py --dask 200000                   # one process against Dask, same data
    .venv/bin/python benchmarks/run.py --report                        # BENCHMARKS.md and the plot

Results accumulate in `<out>/results.json` (one entry per scale, the latest run kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from data.readers import file_sha256
from data.tables import read_parquet
from flows.local_server import local_prefect_server
from matching.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
SFMATCH = Path(sys.executable).with_name("sfmatch")
REFERENCE_DATE = "2026-09-30"
LINKAGE_STAGES = ("standardise", "block", "score", "first persons", "second pass", "resolve")
PLOT = ROOT / "benchmarks" / "scaling.png"
REPORT = ROOT / "BENCHMARKS.md"


def timed(command: list[str], log: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command under GNU time; its wall seconds and peak resident memory (MiB)."""
    seconds, peak_mb, _ = timed_with_helpers(command, log, env)
    return seconds, peak_mb


def timed_with_helpers(command: list[str], log: Path, env: dict[str, str] | None = None
                       ) -> tuple[float, float, float]:
    """Wall seconds; the peak resident memory (MiB) of the command's own process (GNU time: the largest
    of it and its helpers, each on its own); and the peak of all its processes together, sampled every
    quarter second: the run's helpers (the gates' process, the workbook's, Prefect's embedded server) use
    memory at the same time as the run itself."""
    import psutil

    started = time.perf_counter()
    together = 0
    with log.open("w") as handle:
        process = subprocess.Popen(["/usr/bin/time", "-v", *command], stdout=handle, stderr=subprocess.STDOUT,
                                   cwd=ROOT, env=env)
        watched = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                together = max(together, sum(p.memory_info().rss for p in watched.children(recursive=True)))
            except psutil.Error:  # a helper ended while being read
                pass
            time.sleep(0.25)
    seconds = time.perf_counter() - started
    if process.returncode not in (0, 3):  # 3: completed and published, with a quality warning
        raise SystemExit(f"{' '.join(command[1:3])} failed; see {log}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text()).group(1))
    return seconds, peak_kb / 1024, together / 2**20


def machine() -> dict[str, object]:
    import psutil

    cpu = platform.processor() or "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "os": platform.platform()}


def keys_config(work: Path) -> Path:
    keys = work / "keys"
    for command in (["keys", "new", "--kind", "council", "--out", str(keys / "council.key")],
                    ["keys", "new", "--kind", "evaluation", "--out", str(keys / "evaluation.key")],
                    ["keys", "recipient", "--private", str(keys / "recipient_private.pem"),
                     "--public", str(keys / "recipient_public.pem")],
                    ["keys", "recipient", "--private", str(keys / "aggregates_private.pem"),
                     "--public", str(keys / "aggregates_public.pem")]):
        subprocess.run([str(SFMATCH), *command], check=True, capture_output=True, cwd=ROOT)
    config = work / "sfmatch.yaml"
    config.write_text(
        f"council_key_file: {keys / 'council.key'}\nevaluation_key_file: {keys / 'evaluation.key'}\n"
        f"recipient_public_key: {keys / 'recipient_public.pem'}\n"
        f"aggregates_recipient_public_key: {keys / 'aggregates_public.pem'}\n"
        f"opt_outs: {work / 'synthetic' / 'opt_outs.csv'}\n"
    )
    return config


def scale_folder(out: Path, households: int, difficulty: str) -> Path:
    return out / (f"h{households}" if difficulty == "standard" else f"h{households}-{difficulty}")


def linkage_metrics(run_dir: Path, truth_file: Path):
    linked = read_parquet(run_dir / "linked_records.parquet")
    truth = read_parquet(truth_file)
    joined = linked.merge(truth, on=["source", "record_id"], suffixes=("", "_true"))
    return evaluate(joined["person_id"], joined["person_id_true"])


@dataclass(frozen=True)
class MonthRun:
    """One timed `sfmatch run`: the whole process's wall time and peak, and what its manifest and log said."""

    seconds: float
    peak_mb: float
    manifest: dict[str, object]
    server_start_s: float | None
    all_processes_peak_mb: float = 0.0


def month_run(out: Path, config: Path, extracts: str, log: Path) -> tuple[MonthRun, Path]:
    seconds, peak_mb, together_mb = timed_with_helpers(
        [str(SFMATCH), "run", "--extracts", extracts, "--out", str(out), "--config", str(config),
         "--reference-date", REFERENCE_DATE], log)
    run_dir = next((out / "runs").iterdir())
    server = re.search(r"embedded server started in ([\d.]+) s", log.read_text())
    return (MonthRun(seconds, peak_mb, json.loads((run_dir / "manifest.json").read_text()),
                     float(server.group(1)) if server else None, together_mb), run_dir)


def run_figures(runs: list[MonthRun]) -> dict[str, object]:
    """The fastest run's time and stages (the others were slowed by the shared machine, not by the code), the
    highest peak of any run, and every run's figures."""
    fastest = min(runs, key=lambda run: run.seconds)
    return {"run_s": round(fastest.seconds, 2), "run_peak_mb": round(max(run.peak_mb for run in runs)),
            "run_all_processes_peak_mb": round(max(run.all_processes_peak_mb for run in runs)),
            "run_s_each": [round(run.seconds, 2) for run in runs],
            "run_peak_mb_each": [round(run.peak_mb) for run in runs],
            "server_start_s": fastest.server_start_s, "stages_s": fastest.manifest["stages"],
            "stages_peak_mb": fastest.manifest["stages_peak_mb"]}


def repeat_run(work: Path, config: Path, extracts: str, number: int) -> MonthRun:
    """The month run again on the same extracts with the same model, into a folder of its own, so that no
    stage, claim or publication of an earlier run is reused; the folder goes once its figures are read."""
    again = work / f"repeat-{number}"
    shutil.rmtree(again, ignore_errors=True)
    (again / "models").mkdir(parents=True)
    shutil.copy2(work / "models" / "linkage_model.json", again / "models" / "linkage_model.json")
    try:
        return month_run(again, config, extracts, work / f"run-repeat-{number}.log")[0]
    finally:
        shutil.rmtree(again, ignore_errors=True)


def bench(households: int, out: Path, seed: int, difficulty: str = "standard",
          review_round: bool = False, repeat: int = 1) -> dict[str, object]:
    """One scale: extracts, keys, model, then the month's run `repeat` times.

    Time and stage figures are the fastest run's (the others were slowed by the shared machine, not by the
    code); peak memory the highest of any run; accuracy the first run's (every run gives the same outputs).
    """
    work = scale_folder(out, households, difficulty)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    synth_s, synth_mb = timed([str(SFMATCH), "synth", "--households", str(households), "--seed", str(seed),
                               "--difficulty", difficulty, "--out", str(work / "synthetic")], work / "synth.log")
    config = keys_config(work)
    extracts = str(work / "synthetic" / "extracts")
    common = ["--extracts", extracts, "--out", str(work), "--config", str(config), "--reference-date", REFERENCE_DATE]
    train_s, train_mb = timed([str(SFMATCH), "train", *common], work / "train.log")
    first, run_dir = month_run(work, config, extracts, work / "run.log")
    runs = [first, *(repeat_run(work, config, extracts, number) for number in range(1, repeat))]
    figures = run_figures(runs)
    manifest = first.manifest
    metrics = linkage_metrics(run_dir, work / "synthetic" / "truth" / "records.parquet")
    records = int(sum(entry["rows_read"] for entry in manifest["ingest"].values()))
    stages, stage_peaks = figures["stages_s"], figures["stages_peak_mb"]
    result = {
        "households": households, "difficulty": difficulty, "records": records,
        "synth_s": round(synth_s, 2), "synth_peak_mb": round(synth_mb),
        "train_s": round(train_s, 2), "train_peak_mb": round(train_mb),
        **figures,
        "linkage_s": round(sum(stages.get(s, 0.0) for s in LINKAGE_STAGES), 2),
        "linkage_peak_mb": round(max(stage_peaks.get(s, 0.0) for s in LINKAGE_STAGES)),
        "records_per_s": round(records / max(figures["run_s"], 1e-9)),
        "precision": metrics.precision, "recall": metrics.recall, "f1": metrics.f1,
        "bcubed_f1": metrics.bcubed_f1,
        "persons_exact_share": round(metrics.persons_exact / metrics.persons_true, 4),
        "pairs_for_review": manifest["linkage"]["pairs_for_review"],
        "review_share": round(manifest["linkage"]["pairs_for_review"] / records, 4),
        "candidate_pairs": manifest["linkage"]["candidate_pairs"],
        "families_assessed": manifest["criteria"]["families_assessed"],
        "families_eligible": manifest["criteria"]["families_eligible"],
        "cohort_rows": manifest["submission"]["cohort"]["rows"],
    }
    if review_round:
        result["review_round"] = answer_review_round(work, run_dir, config, common, seed, difficulty, households)
    return result


def answer_review_round(work: Path, run_dir: Path, config: Path, common: list[str], seed: int, difficulty: str,
                        households: int) -> dict[str, object]:
    """One round of review answered perfectly from the truth, then the run again; then a retrain with those
    decisions and the run again; then next month's extracts linked by the model before and after the retrain."""
    import pandas as pd

    truth_file = work / "synthetic" / "truth" / "records.parquet"
    truth = read_parquet(truth_file).astype({"source": str, "record_id": str}).set_index(["source", "record_id"])
    queue = pd.read_csv(run_dir / "review_queue.csv", dtype=str, keep_default_na=False)
    left = truth["person_id"].reindex(pd.MultiIndex.from_arrays([queue["left_source"], queue["left_record_id"]]))
    right = truth["person_id"].reindex(pd.MultiIndex.from_arrays([queue["right_source"], queue["right_record_id"]]))
    queue["decision"] = pd.Series(left.to_numpy() == right.to_numpy()).map({True: "link", False: "no link"})
    answered = work / "review_answered.csv"
    queue.to_csv(answered, index=False)
    subprocess.run([str(SFMATCH), "review", "apply", str(answered), "--out", str(work), "--config", str(config)],
                   check=True, capture_output=True, cwd=ROOT)
    timed([str(SFMATCH), "run", *common], work / "run-after-review.log")
    after_review = linkage_metrics(run_dir, truth_file)
    model = work / "models" / "linkage_model.json"
    before_model = work / "models" / "before_decisions.json"
    shutil.copy2(model, before_model)
    timed([str(SFMATCH), "train", *common], work / "train-with-decisions.log")
    timed([str(SFMATCH), "run", *common], work / "run-after-retrain.log")
    after_retrain = linkage_metrics(run_dir, truth_file)
    manifest = json.loads((run_dir / "manifest.json").read_text())

    next_month = work / "next-month"
    subprocess.run([str(SFMATCH), "synth", "--households", str(households), "--seed", str(seed + 1), "--difficulty",
                    difficulty, "--out", str(next_month / "synthetic")], check=True, capture_output=True, cwd=ROOT)
    figures = {}
    for name, chosen in (("before_decisions", before_model), ("after_decisions", model)):
        folder = next_month / name
        folder.mkdir(parents=True, exist_ok=True)
        chosen_config = folder / "sfmatch.yaml"
        chosen_config.write_text(config.read_text() + f"linkage:\n  model_file: {chosen}\n")
        timed([str(SFMATCH), "run", "--extracts", str(next_month / "synthetic" / "extracts"), "--out", str(folder),
               "--config", str(chosen_config), "--reference-date", REFERENCE_DATE], folder / "run.log")
        next_run = next((folder / "runs").iterdir())
        metrics = linkage_metrics(next_run, next_month / "synthetic" / "truth" / "records.parquet")
        next_manifest = json.loads((next_run / "manifest.json").read_text())
        figures[name] = {"precision": metrics.precision, "recall": metrics.recall, "f1": metrics.f1,
                         "pairs_for_review": next_manifest["linkage"]["pairs_for_review"]}
    decided = (queue["decision"] == "link").sum()
    return {
        "answered": len(queue), "links": int(decided), "no_links": int(len(queue) - decided),
        "after_review": {"precision": after_review.precision, "recall": after_review.recall, "f1": after_review.f1},
        "after_retrain": {"precision": after_retrain.precision, "recall": after_retrain.recall, "f1": after_retrain.f1,
                          "pairs_for_review": manifest["linkage"]["pairs_for_review"]},
        "next_month": figures,
    }


def _sample_peak_memory(dask_worker) -> None:
    """Started on each Dask worker: keeps the worker process's highest resident memory."""
    import threading

    import psutil

    process = psutil.Process()
    dask_worker.sfmatch_peak = process.memory_info().rss

    def sample() -> None:
        while True:
            dask_worker.sfmatch_peak = max(dask_worker.sfmatch_peak, process.memory_info().rss)
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True, name="sfmatch-peak").start()


def _peak_memory_mb(dask_worker) -> float:
    return dask_worker.sfmatch_peak / 2**20


def deliver_in_parts(extracts: Path, target: Path, parts: int, contracts: dict | None = None) -> dict[str, int]:
    """The extracts as a region's councils would send them: each CSV split into `parts` files (each with the
    header) in a folder named for its source; a workbook stays one file. Records end at a line break outside
    quotes, so a quoted value holding a line break stays whole. Returns the files per source."""
    import numpy as np

    from data.contract import load_contracts
    from data.readers import locate_extracts

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    files: dict[str, int] = {}
    for source, path in locate_extracts(extracts, contracts or load_contracts()).items():
        if path.suffix.lower() != ".csv":
            shutil.copy2(path, target / path.name)
            files[source] = 1
            continue
        raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
        outside_quotes = np.cumsum(raw == ord('"')) % 2 == 0
        ends = np.flatnonzero((raw == ord("\n")) & outside_quotes) + 1
        header_end, row_ends = ends[0], ends[1:]
        cuts = [header_end, *row_ends[np.linspace(0, len(row_ends), parts + 1, dtype=int)[1:-1] - 1], len(raw)]
        folder = target / source
        folder.mkdir()
        for number, (start, stop) in enumerate(zip(cuts[:-1], cuts[1:]), start=1):
            (folder / f"{path.stem}_part{number}{path.suffix}").write_bytes(
                raw[:header_end].tobytes() + raw[start:stop].tobytes())
        files[source] = parts
    return files


def parts_text(d: dict[str, object]) -> str:
    """How the compared runs' extracts were delivered, as a clause of the report's sentence."""
    files = d.get("files_per_source") or {}
    split = sorted(source for source, count in files.items() if count > 1)
    if not split:
        return ""
    whole = sorted(source for source, count in files.items() if count == 1)
    count = max(files.values())
    return (f", each CSV extract ({', '.join(split)}) delivered as a folder of {count} files, read a file per task"
            + (f" ({', '.join(whole)}, a workbook, as one file)" if whole else ""))


def dask_comparison(households: int, out: Path, workers: int = 2, parts: int = 4) -> dict[str, object]:
    """The same monthly run, with the same model, in one process and on a local Dask cluster of worker processes.

    Both talk to one local Prefect server, so the difference is the task
    runner alone. Uses the extracts and model of an earlier benchmark at this scale, each CSV delivered in
    `parts` files, as a region's councils would send them, so that the workers read them a part each.
    The peak memory of each process is measured: the flow's (GNU time) and each worker's (sampled on it).
    """
    from distributed import Client, LocalCluster

    work = scale_folder(out, households, "standard")
    if not (work / "models" / "linkage_model.json").exists():
        raise SystemExit(f"benchmark {households:,} households first (no model in {work})")
    config = work / "sfmatch-dask.yaml"
    config.write_text((work / "sfmatch.yaml").read_text() + f"model_file: {work / 'models' / 'linkage_model.json'}\n")
    runs = {"single": work / "compare-single", "dask": work / "compare-dask"}
    for folder in runs.values():
        shutil.rmtree(folder, ignore_errors=True)

    extracts = work / "extracts-in-parts"
    files = deliver_in_parts(work / "synthetic" / "extracts", extracts, parts)

    def command(folder: Path, *extra: str) -> list[str]:
        return [str(SFMATCH), "run", "--extracts", str(extracts), "--out", str(folder),
                "--config", str(config), "--reference-date", REFERENCE_DATE, "--run-id", "same", *extra]

    with local_prefect_server(work / "prefect-home") as url:
        env = {**os.environ, "PREFECT_API_URL": url}
        single_s, single_mb = timed(command(runs["single"]), work / "compare-single.log", env)
        os.environ["PREFECT_API_URL"] = url  # the workers report to the same server
        try:
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                              memory_limit=0) as cluster, Client(cluster) as client:
                client.run(_sample_peak_memory)
                dask_s, dask_mb = timed(command(runs["dask"], "--dask-address", cluster.scheduler_address),
                                        work / "compare-dask.log", env)
                worker_mb = sorted(client.run(_peak_memory_mb).values())
        finally:
            os.environ.pop("PREFECT_API_URL", None)
    compared = ("linked_records.parquet", "person_index.parquet", "families.parquet", "evidence.parquet",
                "submission/cohort/cohort.parquet")
    identical = all(file_sha256(runs["single"] / "runs" / "same" / name) == file_sha256(runs["dask"] / "runs" / "same" / name)
                    for name in compared)
    manifest = json.loads((runs["dask"] / "runs" / "same" / "manifest.json").read_text())
    records = int(sum(entry["rows_read"] for entry in manifest["ingest"].values()))
    return {"households": households, "records": records, "workers": workers, "files_per_source": files,
            "partitions": manifest["linkage"]["partitions"], "single_s": round(single_s, 2),
            "single_peak_mb": round(single_mb), "dask_s": round(dask_s, 2), "dask_flow_peak_mb": round(dask_mb),
            "dask_worker_peak_mb": [round(mb) for mb in worker_mb], "dask_stages_s": manifest["stages"],
            "identical_outputs": identical, "compared": list(compared)}


# How each stage runs on a cluster: across every worker (its work partitioned), on as many workers as there are
# extracts, or as one task on one worker (or on the flow's machine) whatever the cluster's size.
STAGE_SPREAD = {"ingest": "extracts", "block": "all", "score": "all", "second pass": "all"}
# Stages run beside others (outcomes) on the flow's machine: what the run paid for them is the wait after them.
ALONGSIDE = ("pseudonymise", "gate submission")
REGION_HOUSEHOLDS, REGION_MACHINES, CORES_PER_MACHINE = 20_000_000, 4, 8


def pairs_growth_text(results: list[dict[str, object]]) -> str:
    """How the candidate pairs grew between the two largest scales benchmarked, as text for the estimate."""
    large = sorted(results, key=lambda r: r["records"])[-2:]
    if len(large) < 2:
        return ""
    a, b = large
    exponent = math.log(b["candidate_pairs"] / a["candidate_pairs"]) / math.log(b["records"] / a["records"])
    return f" (from {a['households']:,} to {b['households']:,} households in this report, with records^{exponent:.2f})"


def region_estimate(d: dict[str, object], pairs_growth: str = "") -> list[str]:
    """What a 4-machine cluster would need for a region's 20M households, from the measured cluster run: each
    stage's time scaled with the records, divided by the workers that share it; memory of the stages that one
    worker does whole scaled with the records too."""
    scale = REGION_HOUSEHOLDS / d["households"]
    workers = REGION_MACHINES * CORES_PER_MACHINE
    width = {"all": workers, "extracts": 5}
    how_it_runs = {"all": "partitioned over all workers",
                   "extracts": "a task per file, combined per extract (counted as one worker per extract)"}
    lines = ["", f"### A region: {REGION_HOUSEHOLDS / 1e6:.0f}M households on {REGION_MACHINES} machines", "",
             f"Scaled from the {d['households']:,}-household cluster run (×{scale:.0f} the records), with "
             f"{CORES_PER_MACHINE} cores a machine ({workers} single-threaded workers). A stage the workers share is "
             "divided by how many can share it; a stage done as one task is not. First persons and resolve count as one "
             "task: their clustering is spread over the workers in groups of components, the rest of them is not. "
             f"Linear in the records is optimistic for the linkage stages, whose candidate pairs grow faster than the "
             f"records{pairs_growth}, and about right for the rest.", "",
             "| stage | measured s (2 workers) | how it runs | estimate s |", "|---|---:|---|---:|"]
    total = measured = 0.0
    for stage, seconds in d["dask_stages_s"].items():
        spread = STAGE_SPREAD.get(stage)
        share = width[spread] / d["workers"] if spread else 1.0
        estimate = seconds * scale / max(share, 1.0)
        if stage in ALONGSIDE:
            lines.append(f"| {stage} | ({seconds:.1f}) | one task, beside outcomes: not added, the run waits only "
                         f"for what is left of it (\"waiting for the cohort file\") | ({estimate:,.0f}) |")
            continue
        total += estimate
        measured += seconds
        how = how_it_runs.get(spread, "one task")
        lines.append(f"| {stage} | {seconds:.1f} | {how} | {estimate:,.0f} |")
    worker_peak = max(d["dask_worker_peak_mb"]) if d.get("dask_worker_peak_mb") else None
    lines += [f"| **whole run** | {measured:.1f} | | **{total:,.0f}** ({total / 60:,.0f} min) |", ""]
    if worker_peak:
        lines.append(f"Memory: the largest worker peaked at {worker_peak:,} MiB here. The stages still done as one "
                     f"task (standardise, first persons and resolve, criteria) hold the whole records table, so one "
                     f"worker would need about {worker_peak * scale / 1024:,.0f} GiB at {REGION_HOUSEHOLDS / 1e6:.0f}M "
                     "households: those stages must be partitioned before a region fits machines of ordinary size.")
    return lines


def febrl() -> dict[str, float]:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "febrl4.py")], capture_output=True, text=True,
                          check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout)


def growth(results: list[dict[str, object]], key: str = "run_s") -> list[tuple[int, int, float]]:
    """Between neighbouring scales: the exponent b in time ~ records^b (1 is linear; doubling at 2.2x is 1.14)."""
    ordered = sorted(results, key=lambda r: r["records"])
    return [(a["households"], b["households"],
             round(math.log(b[key] / a[key]) / math.log(b["records"] / a["records"]), 3))
            for a, b in zip(ordered, ordered[1:])]


def plot(results: list[dict[str, object]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = sorted(results, key=lambda r: r["records"])
    records = [r["records"] for r in ordered]
    figure, axis = plt.subplots(figsize=(7.5, 5))
    series = {
        "whole run (sfmatch run)": [r["run_s"] for r in ordered],
        "linkage (standardise to resolve)": [r["linkage_s"] for r in ordered],
        "ingest": [r["stages_s"]["ingest"] for r in ordered],
        "gates": [r["stages_s"]["gate inputs"] + r["stages_s"].get("gate submission", 0) for r in ordered],
        "criteria": [r["stages_s"]["criteria"] for r in ordered],
    }
    for label, seconds in series.items():
        axis.plot(records, seconds, marker="o", label=label)
    start = records[0]
    axis.plot(records, [series["whole run (sfmatch run)"][-1] * (x / records[-1]) for x in records], "k:",
              label="linear (slope 1)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("records in the five extracts")
    axis.set_ylabel("wall seconds")
    axis.set_title("sfmatch: time against records (log-log)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    axis.set_xlim(start / 1.5, records[-1] * 1.5)
    figure.tight_layout()
    figure.savefig(PLOT, dpi=120)
    plt.close(figure)


def recall_section(document: dict[str, object]) -> list[str]:
    """Linkage accuracy in both difficulties, the review round and the next month, against the targets."""
    rows = sorted(document["results"], key=lambda r: (r.get("difficulty", "standard"), r["households"]))
    lines = ["", "## Linkage accuracy in both difficulties", "",
             "Pairwise precision and recall against the generator's truth. `realistic` partner extracts are as dirty "
             "as councils receive (data/synth/difficulty.py): about one police or housing forename in six differs, "
             "NINOs on 10-40 % of rows, a quarter of rows with a stale or other postcode, step-children under a "
             "step-parent's surname, late household moves.", "",
             "| difficulty | households | records | precision | recall | F1 | review queue (share of records) | "
             "linkage s |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.get('difficulty', 'standard')} | {r['households']:,} | {r['records']:,} | "
                     f"{r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['pairs_for_review']:,} "
                     f"({r.get('review_share', r['pairs_for_review'] / r['records']):.2%}) | {r['linkage_s']:.1f} |")
    rounds = [r for r in rows if r.get("review_round")]
    if rounds:
        lines += ["", "### One review round answered perfectly, then a retrain with those decisions", "",
                  "The run's whole review queue is answered from the truth and applied (`sfmatch review apply`), "
                  "the run repeated, then the model retrained with the decisions (`sfmatch train`) and the run "
                  "repeated again. Then next month's extracts (the next seed) are linked by the model from before "
                  "the decisions and by the retrained one.", "",
                  "| difficulty | households | answered (link / no link) | F1 after review | F1 after retrain | "
                  "next month F1 before → after (recall) | next month queue before → after |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in rounds:
            q = r["review_round"]
            before, after = q["next_month"]["before_decisions"], q["next_month"]["after_decisions"]
            lines.append(
                f"| {r['difficulty']} | {r['households']:,} | {q['answered']:,} ({q['links']:,} / {q['no_links']:,}) | "
                f"{q['after_review']['f1']:.4f} | {q['after_retrain']['f1']:.4f} | {before['f1']:.4f} → "
                f"{after['f1']:.4f} ({before['recall']:.4f} → {after['recall']:.4f}) | "
                f"{before['pairs_for_review']:,} → {after['pairs_for_review']:,} |")
    return lines


# Splink 5 linking the same 500k-household extracts, linkage only, measured side by side on this machine
# (it is not installed with sfmatch, so this script does not rerun it).
SPLINK_500K_S = 113.0


def targets_section(results: list[dict[str, object]], document: dict[str, object]) -> list[str]:
    """Each scale target, met or missed, with its figure from this report's runs."""
    by_households = {r["households"]: r for r in results}
    rows: list[tuple[str, str, bool | None]] = []

    def check(target: str, households: int, key: str, limit: float, unit: str) -> None:
        r = by_households.get(households)
        if r is None:
            rows.append((target, "not run", None))
            return
        rows.append((target, f"{r[key]:,.1f} {unit}" if unit == "s" else f"{r[key]:,} {unit}", r[key] <= limit))

    check(f"500k households end to end ≤ 0.35 × Splink's {SPLINK_500K_S:.0f} s = {0.35 * SPLINK_500K_S:.1f} s",
          500_000, "run_s", 0.35 * SPLINK_500K_S, "s")
    check("500k households peak ≤ 1.5 GiB", 500_000, "run_peak_mb", 1536, "MiB")
    if by_households.get(500_000, {}).get("run_all_processes_peak_mb"):  # the helpers' memory counted too
        check("500k households peak ≤ 1.5 GiB, all processes together", 500_000, "run_all_processes_peak_mb",
              1536, "MiB")
    check("2M households ≤ 120 s", 2_000_000, "run_s", 120, "s")
    check("2M households peak ≤ 3 GiB", 2_000_000, "run_peak_mb", 3072, "MiB")
    if by_households.get(2_000_000, {}).get("run_all_processes_peak_mb"):
        check("2M households peak ≤ 3 GiB, all processes together", 2_000_000, "run_all_processes_peak_mb",
              3072, "MiB")
    large = [r for r in sorted(results, key=lambda r: r["records"]) if r["households"] >= 200_000]
    for a, b in zip(large, large[1:]):
        doubling = 2 ** (math.log2(b["run_s"] / a["run_s"]) / math.log2(b["records"] / a["records"]))
        rows.append((f"doubling the records costs ≤ 2.1× the time ({a['households']:,} → {b['households']:,})",
                     f"{doubling:.2f}×", doubling <= 2.1))
        memory_b = math.log(b["run_peak_mb"] / a["run_peak_mb"]) / math.log(b["records"] / a["records"])
        rows.append((f"peak memory grows sub-linearly ({a['households']:,} → {b['households']:,})",
                     f"exponent {memory_b:.2f}", memory_b < 1))
    d = document.get("dask")
    if d:
        rows.append((f"Dask: the same outputs as one process ({d['households']:,} households, {d['workers']} workers)",
                     "identical" if d["identical_outputs"] else "different", bool(d["identical_outputs"])))
    starts = [r["server_start_s"] for r in results if r.get("server_start_s") is not None]
    rows.append(("Prefect's fixed cost measured and kept out of the stages",
                 f"{min(starts):.1f}–{max(starts):.1f} s, reported apart" if starts else "not measured", bool(starts)))
    verdict = {True: "met", False: "**missed**", None: "not measured"}
    return ["", "## Targets", "", "| target | measured | |", "|---|---:|---|",
            *(f"| {target} | {figure} | {verdict[met]} |" for target, figure, met in rows)]


def repeats_section(results: list[dict[str, object]]) -> list[str]:
    """Every run's time where a month was run more than once: the spread is the machine's, not the code's."""
    repeated = [r for r in results if len(r.get("run_s_each", [])) > 1]
    if not repeated:
        return []
    return ["", "Where a month was run more than once on the same extracts and model (`--repeat`), the table gives "
            "the fastest run's wall time and stages and the highest peak memory of any of them. Every run:", "",
            *(f"- {r['households']:,} households: " + ", ".join(f"{t:.1f} s" for t in r["run_s_each"]) + "; peaks "
              + ", ".join(f"{m:,} MiB" for m in r["run_peak_mb_each"]) for r in repeated)]


def report(document: dict[str, object], notes: str) -> None:
    results = sorted([r for r in document["results"] if r.get("difficulty", "standard") == "standard"],
                     key=lambda r: r["households"])
    m = document["machine"]
    lines = [
        "# Benchmarks", "",
        f"Measured with `benchmarks/run.py` on {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"Python {m['python']} ({m['os']}). Synthetic extracts (seed 1, reference date {REFERENCE_DATE}); the run is "
        "`sfmatch run` on Prefect's embedded server with a model trained beforehand by `sfmatch train`. Wall time and "
        "run peak memory are the run's process's, from `/usr/bin/time -v` (the largest of it and its helper "
        "processes, each on its own); \"all processes\" is the peak of the run's process, its helpers (the gates', "
        "a workbook extract's, the cohort file's, the review workbook's) and Prefect's embedded server together, sampled every quarter second; stage times "
        "and stage peaks (the run's process) from the run's manifest.", "",
        "| households | records | run wall s | run peak MiB | all processes peak MiB | linkage s | linkage peak MiB "
        "| records/s | precision | recall | F1 | review pairs | synth s | train s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        together = f"{r['run_all_processes_peak_mb']:,}" if r.get("run_all_processes_peak_mb") else ""
        lines.append(
            f"| {r['households']:,} | {r['records']:,} | {r['run_s']:.1f} | {r['run_peak_mb']:,} | {together} "
            f"| {r['linkage_s']:.1f} "
            f"| {r['linkage_peak_mb']:,} | {r['records_per_s']:,} | {r['precision']:.4f} | {r['recall']:.4f} "
            f"| {r['f1']:.4f} | {r['pairs_for_review']:,} | {r['synth_s']:.1f} | {r['train_s']:.1f} |"
        )
    lines += repeats_section(results)
    lines += targets_section(results, document)
    stages = list(results[-1]["stages_s"])
    lines += ["", "## Seconds per stage", "", "| stage | " + " | ".join(f"{r['households']:,}" for r in results) + " |",
              "|---|" + "---:|" * len(results)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{r['stages_s'].get(stage, 0):.2f}" for r in results) + " |")
    if any(r.get("server_start_s") is not None for r in results):  # Prefect's own fixed cost, before the stages
        lines.append("| *Prefect's embedded server start (not a stage)* | " + " | ".join(
            f"{r['server_start_s']:.2f}" if r.get("server_start_s") is not None else "" for r in results) + " |")
    lines += ["", "## Peak memory per stage (MiB, whole process)", "",
              "| stage | " + " | ".join(f"{r['households']:,}" for r in results) + " |", "|---|" + "---:|" * len(results)]
    for stage in stages:
        lines.append(f"| {stage} | " + " | ".join(f"{r['stages_peak_mb'].get(stage, 0):,.0f}" for r in results) + " |")
    lines += ["", "## Growth", "", "Exponent b in time ∝ records^b between neighbouring scales (1 = linear; "
              "doubling the records at 2.2× the time is b = 1.14). Fixed costs (Prefect's server, imports) make small "
              "scales look cheaper than linear.", "", "| from | to | whole run b | linkage b |", "|---:|---:|---:|---:|"]
    for (a, b, run_b), (_, _, link_b) in zip(growth(results), growth(results, "linkage_s")):
        lines.append(f"| {a:,} | {b:,} | {run_b} | {link_b} |")
    if document.get("febrl4"):
        f = document["febrl4"]
        lines += ["", "## FEBRL4", "", f"`benchmarks/febrl4.py`: {f['records']:,} records, {f['candidate_pairs']:,} "
                  f"candidate pairs (blocking recall {f['blocking_recall']}), precision {f['precision']}, recall "
                  f"{f['recall']}, F1 {f['f1']}, {f['seconds']} s, trained without labels."]
    if document.get("dask"):
        d = document["dask"]
        worker_peaks = ", ".join(f"{mb:,}" for mb in d.get("dask_worker_peak_mb", []))
        lines += ["", "## One process against Dask", "",
                  f"The same run at {d['households']:,} households, with the same model, against one local `prefect "
                  f"server`{parts_text(d)}: {d['single_s']:.1f} s with the default thread pool in one process (peak "
                  f"{d['single_peak_mb']:,} MiB), {d['dask_s']:.1f} s on a local Dask cluster of {d['workers']} worker "
                  f"processes (`--dask-address`; every heavy stage on the workers, {d['partitions']} scoring "
                  f"partitions). Peak memory per process on Dask: the flow's {d['dask_flow_peak_mb']:,} MiB, the "
                  f"workers' {worker_peaks} MiB. Outputs identical: {'yes' if d['identical_outputs'] else 'NO'} "
                  f"({', '.join(d['compared'])}). On one 2-core machine the workers only add pickling and "
                  "process hops; Dask pays when its workers are other machines."]
        if d.get("dask_stages_s"):
            lines += region_estimate(d, pairs_growth_text(results))
    lines += recall_section(document)
    lines += ["", "![time against records, log-log](benchmarks/scaling.png)", "", notes.strip(), ""]
    REPORT.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, nargs="*", default=[])
    parser.add_argument("--difficulty", choices=("standard", "realistic"), nargs="*", default=["standard"],
                        help="the synthetic extracts' difficulty (both may be given)")
    parser.add_argument("--review-round", action="store_true",
                        help="answer one review round from the truth, retrain with it, and link next month's extracts")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each month N times on the same extracts and report the fastest (a shared machine's "
                             "load moves a run's time by 10 %% either way)")
    parser.add_argument("--febrl", action="store_true", help="score FEBRL4 too")
    parser.add_argument("--dask", type=int, metavar="HOUSEHOLDS",
                        help="time one process against a 2-worker local Dask cluster at a scale already benchmarked")
    parser.add_argument("--report", action="store_true", help="write BENCHMARKS.md and benchmarks/scaling.png")
    parser.add_argument("--notes", type=Path, default=ROOT / "benchmarks" / "notes.md",
                        help="text appended to BENCHMARKS.md (what changed and what it gained)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    document = json.loads(results_path.read_text()) if results_path.exists() else {"results": []}
    document["machine"] = machine()
    for difficulty in args.difficulty:
        for households in args.households:
            print(f"benchmarking {households:,} households ({difficulty})…", flush=True)
            result = bench(households, args.out, args.seed, difficulty, args.review_round, args.repeat)
            document["results"] = [r for r in document["results"]
                                   if (r["households"], r.get("difficulty", "standard")) != (households, difficulty)]
            document["results"].append(result)
            results_path.write_text(json.dumps(document, indent=2) + "\n")
            print(json.dumps({k: v for k, v in result.items() if not k.startswith("stages")}, indent=2), flush=True)
    if args.dask:
        document["dask"] = dask_comparison(args.dask, args.out)
        results_path.write_text(json.dumps(document, indent=2) + "\n")
        print(json.dumps(document["dask"], indent=2), flush=True)
    if args.febrl:
        document["febrl4"] = febrl()
        results_path.write_text(json.dumps(document, indent=2) + "\n")
    if args.report:
        plot([r for r in document["results"] if r.get("difficulty", "standard") == "standard"])
        report(document, args.notes.read_text() if args.notes.exists() else "")
        print(f"wrote {REPORT} and {PLOT}")


if __name__ == "__main__":
    main()
