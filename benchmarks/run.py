"""Benchmark the pipeline at several scales: wall time and peak memory per stage, throughput, accuracy.

For each scale it generates synthetic extracts, trains the linkage model
(`sfmatch train`, as a council does outside the monthly run), then runs the
monthly flow (`sfmatch run`) in a child process under `/usr/bin/time -v` for
the whole process's peak memory. Stage times and per-stage peak memory come
from the run's manifest; precision, recall and F1 from `matching.evaluate`
against the generator's truth.

    .venv/bin/python benchmarks/run.py --households 2000 20000 200000 --out bench-out
    .venv/bin/python benchmarks/run.py --households 2000000 --out bench-out   # when asked for 2M

Results go to `<out>/results.json` (appended per scale) and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from data.tables import read_parquet
from matching.evaluate import evaluate

ROOT = Path(__file__).resolve().parents[1]
SFMATCH = Path(sys.executable).with_name("sfmatch")
REFERENCE_DATE = "2026-09-30"
LINKAGE_STAGES = ("standardise", "block", "score", "resolve", "report")


def timed(command: list[str], log: Path) -> tuple[float, float]:
    """Run a command under GNU time; its wall seconds and peak resident memory (MiB)."""
    started = time.perf_counter()
    with log.open("w") as handle:
        completed = subprocess.run(["/usr/bin/time", "-v", *command], stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    seconds = time.perf_counter() - started
    text = log.read_text()
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed; see {log}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return seconds, peak_kb / 1024


def machine() -> dict[str, object]:
    import psutil

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(), "os": platform.platform(),
    }


def bench(households: int, out: Path, seed: int) -> dict[str, object]:
    work = out / f"h{households}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    synth_s, synth_mb = timed([str(SFMATCH), "synth", "--households", str(households), "--seed", str(seed),
                               "--out", str(work / "synthetic")], work / "synth.log")
    extracts = str(work / "synthetic" / "extracts")
    train_s, train_mb = timed([str(SFMATCH), "train", "--extracts", extracts, "--out", str(work),
                               "--reference-date", REFERENCE_DATE], work / "train.log")
    run_s, run_mb = timed([str(SFMATCH), "run", "--extracts", extracts, "--out", str(work),
                           "--reference-date", REFERENCE_DATE], work / "run.log")
    run_dir = next((work / "runs").iterdir())
    manifest = json.loads((run_dir / "manifest.json").read_text())
    linked = read_parquet(run_dir / "linked_records.parquet")
    truth = read_parquet(work / "synthetic" / "truth" / "records.parquet")
    joined = linked.merge(truth, on=["source", "record_id"], suffixes=("", "_true"))
    metrics = evaluate(joined["person_id"], joined["person_id_true"])
    records = int(sum(entry["rows_read"] for entry in manifest["ingest"].values()))
    stages = manifest["stages"]
    linkage_s = sum(stages.get(stage, 0.0) for stage in LINKAGE_STAGES)
    linkage_mb = max(manifest["stages_peak_mb"].get(stage, 0.0) for stage in LINKAGE_STAGES)
    return {
        "households": households, "records": records,
        "synth_s": round(synth_s, 2), "train_s": round(train_s, 2), "train_peak_mb": round(train_mb),
        "run_s": round(run_s, 2), "run_peak_mb": round(run_mb),
        "stages_s": stages, "stages_peak_mb": manifest["stages_peak_mb"],
        "linkage_s": round(linkage_s, 2), "linkage_peak_mb": round(linkage_mb),
        "records_per_s": round(records / max(run_s, 1e-9)),
        "precision": metrics.precision, "recall": metrics.recall, "f1": metrics.f1,
        "persons_exact_share": round(metrics.persons_exact / metrics.persons_true, 4),
        "pairs_for_review": manifest["linkage"]["pairs_for_review"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--households", type=int, nargs="+", default=[2000, 20000, 200000])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results_path = args.out / "results.json"
    document = json.loads(results_path.read_text()) if results_path.exists() else {"results": []}
    document["machine"] = machine()
    for households in args.households:
        print(f"benchmarking {households:,} households…", flush=True)
        result = bench(households, args.out, args.seed)
        document["results"] = [r for r in document["results"] if r["households"] != households] + [result]
        results_path.write_text(json.dumps(document, indent=2) + "\n")
        print(json.dumps(result, indent=2), flush=True)
    table = pd.DataFrame(sorted(document["results"], key=lambda r: r["households"]))
    print(table[["households", "records", "run_s", "run_peak_mb", "linkage_s", "linkage_peak_mb", "records_per_s",
                 "precision", "recall", "f1"]].to_string(index=False))


if __name__ == "__main__":
    main()
