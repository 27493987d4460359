"""Clerical review: the queue analysts work through, and the decisions every later run applies.

A decision is stored against both records (source, record_id) and each
record's identity key (a hash of its person details). A later run applies it
only while both records still carry the same details; if either changed, the
decision is stale and the pair is scored afresh (and counted as stale).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from data.errors import SfmatchError
from matching.comparisons import Comparison, levels_of
from matching.review_workbook import read_workbook
from matching.stable_keys import pair_ids

DECISION_WORDS = {
    "link": "link", "match": "link", "yes": "link", "y": "link", "same": "link", "same person": "link",
    "no link": "no link", "no-link": "no link", "nolink": "no link", "no match": "no link", "no": "no link",
    "n": "no link", "different": "no link", "different people": "no link",
}
KEY_COLUMNS = ["left_source", "left_record_id", "left_identity_key", "right_source", "right_record_id", "right_identity_key"]
STORE_COLUMNS = ["pair_id", *KEY_COLUMNS, "decision", "note", "decided_at", "from_file"]


class ReviewError(SfmatchError):
    """A review file that cannot be applied as it stands."""


@dataclass(frozen=True)
class ApplyStats:
    rows: int
    decided: int
    links: int
    no_links: int
    undecided: int
    store_total: int


def read_review_file(queue_file: Path) -> pd.DataFrame:
    """A filled-in review queue, the CSV or the workbook, as text."""
    if queue_file.suffix.lower() == ".xlsx":
        from python_calamine import CalamineError

        try:
            return read_workbook(queue_file)
        except (OSError, CalamineError, ValueError) as exc:
            raise ReviewError(f"{queue_file.name}: cannot be read as a review queue workbook ({type(exc).__name__})") from None
    try:
        return pd.read_csv(queue_file, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{queue_file.name}: cannot be read as a review queue CSV ({type(exc).__name__})") from None


def apply_review_file(queue_file: Path, store: Path) -> ApplyStats:
    """Store the decisions an analyst wrote into a review queue (CSV or workbook); the latest decision on a pair
    wins. A file with any decision that is not link or no link stores nothing."""
    queue = read_review_file(queue_file)
    missing = [c for c in ["pair_id", *KEY_COLUMNS, "decision"] if c not in queue.columns]
    if missing:
        raise ReviewError(f"{queue_file.name}: missing column(s) {', '.join(missing)}; use the review queue of a run "
                          "(review_queue.csv or review_queue.xlsx)")
    words = queue["decision"].str.strip().str.lower()
    normalised = words.map(DECISION_WORDS)
    bad = (words != "") & normalised.isna()
    if bad.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad.to_numpy())[:10])
        raise ReviewError(
            f"{queue_file.name}: row(s) {rows}: decision must be 'link' or 'no link' (or left empty)"
        )
    decided = queue[normalised.notna()].copy()
    decided["decision"] = normalised[normalised.notna()]
    decided["note"] = decided["note"] if "note" in decided else ""
    decided["decided_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    decided["from_file"] = queue_file.name
    decided = decided[STORE_COLUMNS]

    existing = read_decisions(store)
    combined = pd.concat([existing, decided], ignore_index=True).drop_duplicates("pair_id", keep="last")
    write_decisions(combined, store)
    return ApplyStats(
        rows=len(queue), decided=len(decided), links=int((decided["decision"] == "link").sum()),
        no_links=int((decided["decision"] == "no link").sum()), undecided=int((words == "").sum()),
        store_total=len(combined),
    )


def write_decisions(decisions: pd.DataFrame, store: Path) -> Path:
    store.parent.mkdir(parents=True, exist_ok=True)
    decisions[STORE_COLUMNS].to_csv(store, index=False)
    return store


def read_decisions(store: Path) -> pd.DataFrame:
    if not store.exists():
        return pd.DataFrame(columns=STORE_COLUMNS)
    try:
        return pd.read_csv(store, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError) as exc:
        raise ReviewError(f"review decisions {store}: cannot be read ({type(exc).__name__})") from None


@dataclass(frozen=True)
class DecisionsForRun:
    links: tuple[np.ndarray, np.ndarray]
    no_links: tuple[np.ndarray, np.ndarray]
    applied: int
    stale: int

    @classmethod
    def none(cls) -> DecisionsForRun:
        empty = (np.array([], dtype=np.int64), np.array([], dtype=np.int64))
        return cls(empty, empty, 0, 0)

    def as_int64(self) -> DecisionsForRun:
        return DecisionsForRun(
            tuple(np.asarray(side, dtype=np.int64) for side in self.links),
            tuple(np.asarray(side, dtype=np.int64) for side in self.no_links), self.applied, self.stale,
        )


def decisions_for_run(decisions: pd.DataFrame, records: pd.DataFrame) -> DecisionsForRun:
    """Record positions of the stored decisions whose records are present with unchanged details."""
    if decisions.empty:
        return DecisionsForRun.none()
    lookup = pd.DataFrame({
        "source": records["source"].astype(str).to_numpy(), "record_id": records["record_id"].astype(str).to_numpy(),
        "identity_key": records["identity_key"].astype(str).to_numpy(), "position": np.arange(len(records)),
    })
    located = decisions
    for side in ("left", "right"):
        located = located.merge(
            lookup.rename(columns={c: f"{side}_{c}" for c in ("source", "record_id", "identity_key", "position")}),
            on=[f"{side}_source", f"{side}_record_id"], how="left", suffixes=("", "_now"),
        )
    present = located["left_position"].notna() & located["right_position"].notna()
    unchanged = (
        present
        & (located["left_identity_key"] == located["left_identity_key_now"])
        & (located["right_identity_key"] == located["right_identity_key_now"])
    )
    usable = located[unchanged]
    stale = int((present & ~unchanged).sum())

    def positions(kind: str) -> tuple[np.ndarray, np.ndarray]:
        chosen = usable[usable["decision"] == kind]
        return chosen["left_position"].to_numpy(np.int64), chosen["right_position"].to_numpy(np.int64)

    return DecisionsForRun(positions("link"), positions("no link"), len(usable), stale)


def render_queue(review: pd.DataFrame, records: pd.DataFrame, comparisons: tuple[Comparison, ...],
                 weights: np.ndarray) -> pd.DataFrame:
    """The queue as an analyst reads it: both records side by side, then each field's level and weight.

    `weights` is the per-comparison weight matrix of the review pairs (rows in `review` order).
    """
    shown = ["source", "record_id", "identity_key", "forename", "surname", "dob", "sex_code", "nino", "nhs_number",
             "upn", "postcode"]
    sides = {}
    for side in ("left", "right"):
        rows = records.iloc[review[side].to_numpy()].reset_index(drop=True)
        for column in shown:
            values = rows[column]
            if column == "sex_code":
                column, values = "sex", values.map({1: "M", 2: "F"}).fillna("")
            elif column == "dob":
                values = values.dt.strftime("%Y-%m-%d").fillna("")
            sides[f"{side}_{column}"] = values.astype(object).where(values.notna(), "").to_numpy()
    queue = pd.DataFrame({
        "pair_id": pair_ids(pd.Series(sides["left_source"]), pd.Series(sides["left_record_id"]),
                            pd.Series(sides["right_source"]), pd.Series(sides["right_record_id"])).to_numpy(),
        "probability": review["probability"].round(4).to_numpy(),
        "match_weight": review["weight"].round(2).to_numpy(),
        "reason": review["reason"].to_numpy(),
        **sides,
    })
    levels = levels_of(review, comparisons)
    for i, comparison in enumerate(comparisons):
        level = levels.matrix[:, i]
        labels = np.asarray(comparison.labels + ("",), dtype=object)
        queue[f"{comparison.name}_level"] = np.where(level >= 0, labels[level], "no evidence")
        queue[f"{comparison.name}_weight"] = np.round(weights[:, i], 2)
    queue["decision"] = ""
    queue["note"] = ""
    return queue
