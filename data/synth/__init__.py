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
from data.readers import file_sha256
from data.synth.difficulty import DIFFICULTIES, Difficulty
from data.synth.cases import add_case_history
from data.synth.extracts import BUILDERS, Extract, build_extract
from data.synth.population import build_population
from data.synth.writer import Style, file_format, write_extract
from data.tables import write_parquet

SOURCES = tuple(BUILDERS)
DEFAULT_REFERENCE_DATE = date(2026, 9, 30)
SYNTH_MANIFEST = "synth.json"
TRUTH_EXTRACTS = "extracts.json"
"""In the truth folder: the file name and SHA-256 of each extract the truth describes."""
OPT_OUTS = "opt_outs.csv"
OPT_OUT_SHARE = 0.003


def opt_out_list(people: pd.DataFrame, truth: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Some people the council works with who objected, each listed by one identifier only."""
    known = people[people["person_id"].isin(truth.loc[truth["source"] == "la_cases", "person_id"])]
    count = min(len(known), max(3, int(len(known) * OPT_OUT_SHARE)))
    chosen = known.iloc[np.sort(rng.choice(len(known), count, replace=False))].reset_index(drop=True)
    way = rng.choice(["nino", "nhs_number", "name"], count)
    way = np.where((way == "nino") & chosen["nino"].isna(), "name", way)
    way = np.where((way == "nhs_number") & chosen["nhs_number"].isna(), "name", way)
    listing = pd.DataFrame({
        "nino": chosen["nino"].where(way == "nino"),
        "nhs_number": chosen["nhs_number"].where(way == "nhs_number"),
        "forename": chosen["forename"].where(way == "name"),
        "surname": chosen["surname"].where(way == "name"),
        "dob": pd.to_datetime(chosen["dob"]).dt.strftime("%d/%m/%Y").where(way == "name"),
    })
    return listing, pd.DataFrame({"person_id": chosen["person_id"], "listed_by": way})


@dataclass(frozen=True)
class SynthSummary:
    households: int
    people: int
    seed: int
    reference_date: str
    style: str
    difficulty: str
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
    difficulty: Difficulty = "standard",
) -> SynthSummary:
    """Write `out/extracts/` (the five files), `out/opt_outs.csv`, `out/truth/` and `out/synth.json`."""
    report = progress or (lambda step: None)
    extracts_dir, truth_dir = out / "extracts", out / "truth"
    extracts_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    contracts = load_contracts(CONTRACTS_DIR, list(SOURCES))

    report("population")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}")
    population = build_population(households, seed, reference_date, difficulty)
    truth_frames, counts = [], {}
    built = {}
    for offset, source in enumerate(SOURCES, start=1):
        report(source)
        # One generator per source, so that changing one source's rules leaves the others' rows as they were.
        rng = np.random.default_rng([seed, offset])
        built[source] = (build_extract(source, population, rng, difficulty), rng)
    # The council's case history follows what the partner extracts say happened to each family.
    council, council_rng = built["la_cases"]
    council = Extract("la_cases", add_case_history(council.frame, {s: e.frame for s, (e, _) in built.items()},
                                                   reference_date, np.random.default_rng([seed, 2027])))
    built["la_cases"] = (council, council_rng)
    for source, (extract, rng) in built.items():
        write_extract(extract.frame, contracts[source], file_format(source, style), extracts_dir, rng)
        counts[source] = len(extract.frame)
        truth_frames.append(pd.DataFrame({
            "source": source,
            "record_id": extract.frame["record_id"],
            "person_id": extract.frame["true_person_id"],
            "household_id": extract.frame["true_household_id"],
        }).drop_duplicates())

    report("truth")
    truth = pd.concat(truth_frames, ignore_index=True)
    write_parquet(truth, truth_dir / "records.parquet")
    # Which extracts this truth describes, so that scoring a run against another population's truth (whose
    # record ids look the same) is refused rather than reported as precision 0.
    extracts = {path.name: file_sha256(path) for path in sorted(extracts_dir.iterdir()) if path.is_file()}
    (truth_dir / TRUTH_EXTRACTS).write_text(json.dumps(extracts, indent=2) + "\n", encoding="utf-8")
    opt_outs, listed = opt_out_list(population.people, truth, np.random.default_rng([seed, 99]))
    opt_outs.to_csv(out / OPT_OUTS, index=False)
    write_parquet(listed, truth_dir / "opt_outs.parquet")
    write_parquet(population.people.drop(columns=["age"]), truth_dir / "people.parquet")
    summary = SynthSummary(
        households=households, people=len(population.people), seed=seed,
        reference_date=reference_date.isoformat(), style=style, difficulty=difficulty,
        extracts_dir=str(extracts_dir), truth_dir=str(truth_dir), records=counts,
    )
    (out / SYNTH_MANIFEST).write_text(json.dumps(asdict(summary), indent=2) + "\n", encoding="utf-8")
    return summary
