"""The synthetic generator: a population, the five extracts drawn from it, and the truth.

The truth (which record belongs to which true person and household) is written
to its own folder beside the extracts. The pipeline never reads it; it exists
for the tests and the benchmarks to score the linkage against.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from data.contract import CONTRACTS_DIR, load_contracts
from data.synth.extracts import BUILDERS, build_extract
from data.synth.population import build_population
from data.synth.writer import Style, file_format, write_extract
from data.tables import write_parquet

SOURCES = tuple(BUILDERS)
DEFAULT_REFERENCE_DATE = date(2026, 9, 30)
SYNTH_MANIFEST = "synth.json"


@dataclass(frozen=True)
class SynthSummary:
    households: int
    people: int
    seed: int
    reference_date: str
    style: str
    extracts_dir: str
    truth_dir: str
    records: dict[str, int]


def generate(
    households: int,
    seed: int,
    out: Path,
    reference_date: date = DEFAULT_REFERENCE_DATE,
    style: Style = "varied",
    progress: Callable[[str], None] | None = None,
) -> SynthSummary:
    """Write `out/extracts/` (the five files), `out/truth/` and `out/synth.json`."""
    report = progress or (lambda step: None)
    extracts_dir, truth_dir = out / "extracts", out / "truth"
    extracts_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    contracts = load_contracts(CONTRACTS_DIR, list(SOURCES))

    report("population")
    population = build_population(households, seed, reference_date)
    truth_frames, counts = [], {}
    for offset, source in enumerate(SOURCES, start=1):
        report(source)
        # One generator per source, so that changing one source's rules leaves the others' rows as they were.
        rng = np.random.default_rng([seed, offset])
        extract = build_extract(source, population, rng)
        write_extract(extract.frame, contracts[source], file_format(source, style), extracts_dir, rng)
        counts[source] = len(extract.frame)
        truth_frames.append(pd.DataFrame({
            "source": source,
            "record_id": extract.frame["record_id"],
            "person_id": extract.frame["true_person_id"],
            "household_id": extract.frame["true_household_id"],
        }).drop_duplicates())

    report("truth")
    write_parquet(pd.concat(truth_frames, ignore_index=True), truth_dir / "records.parquet")
    write_parquet(population.people.drop(columns=["age"]), truth_dir / "people.parquet")
    summary = SynthSummary(
        households=households, people=len(population.people), seed=seed,
        reference_date=reference_date.isoformat(), style=style,
        extracts_dir=str(extracts_dir), truth_dir=str(truth_dir), records=counts,
    )
    (out / SYNTH_MANIFEST).write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
    return summary
