"""Which families may be claimed for this period, why the others may not, and the register of claims made.

A council may claim for a family once, and only when the family was eligible
when it was taken on, had a lead practitioner, a whole-family assessment and an
action plan, and every need identified at entry has an outcome sustained for
the plan's months. A family with a problem in its case record, or a need
pending an analyst's decision, waits. The claims register (one row per family
ever claimed, kept beside the runs) makes sure no family is claimed twice: a
family claimed in an earlier period is never claimable again, while a rerun of
the same period claims the same families again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from criteria.cases import CLOSED, CaseFacts
from criteria.families import age_at
from criteria.framework import Framework
from criteria.outcome_status import MET, PENDING_REVIEW, SUSTAINED, OutcomeStatus
from data.private_files import restrict, write_private
from data.tables import read_parquet, text_isin, write_parquet

CLAIMABLE, CLAIMED_BEFORE, NOT_CLAIMABLE = "claimable", "claimed before", "not claimable"
REGISTER_COLUMNS = ["family_id", "claim_id", "period", "run_id", "registered_at"]


@dataclass(frozen=True)
class Claims:
    families: pd.DataFrame
    """One row per family taken on: stage, eligibility at entry, needs counts, claim_status, claim_id, reasons."""
    claims: pd.DataFrame
    """One row per family claimed this period, each entry need's outcome, date achieved and date sustained to."""


def claim_id(period: str, family_id: pd.Series) -> pd.Series:
    """The claim's reference: the period and the council's family reference, so a rerun gives the same one."""
    return "CLM-" + period.replace("-", "") + "-" + family_id.astype(str)


def dependent_at_entry(members: pd.DataFrame, taken_on: pd.Series, in_education: set[str],
                       framework: Framework) -> pd.Series:
    """Per family: whether a member was a dependent child on the day the family was taken on."""
    rule = framework.dependent_child
    age = age_at(members["dob"], members["family_id"].map(taken_on))
    studying = pd.Series(text_isin(members["person_id"], in_education), index=members.index)
    dependent = ((age >= 0) & (age <= rule.max_age)) | ((age > rule.max_age) & (age <= rule.in_education_max_age) & studying)
    return dependent.fillna(False).groupby(members["family_id"]).any()


def read_register(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame({column: pd.Series(dtype="string") for column in REGISTER_COLUMNS})
    return read_parquet(path)


def earlier_claims_digest(path: Path, period: str) -> str:
    """What a run's claims depend on in the register: the families claimed in other periods (not when, by which
    run), so that a rerun of the period after it registered its own claims reuses its results."""
    register = read_register(path)
    earlier = register[register["period"] != period]
    text = "\n".join(sorted(earlier["family_id"].astype(str) + "|" + earlier["period"].astype(str)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def register_claims(path: Path, claims: pd.DataFrame, period: str, run_id: str) -> int:
    """Record this period's claims, replacing what an earlier run of the same period recorded. Returns the count."""
    register = read_register(path)
    register = register[register["period"] != period]
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    new = pd.DataFrame({"family_id": claims["family_id"].astype(str), "claim_id": claims["claim_id"].astype(str),
                        "period": period, "run_id": run_id, "registered_at": stamp})
    table = pd.concat([part for part in (register, new) if len(part)] or [new], ignore_index=True).astype("string")
    write_parquet(table[REGISTER_COLUMNS], path)
    restrict(path.parent)
    return len(new)


def assess_claims(framework: Framework, cases: CaseFacts, status: OutcomeStatus, members: pd.DataFrame,
                  in_education: set[str], register: pd.DataFrame, period: str) -> Claims:
    """Every family taken on, whether it can be claimed this period and, if not, every reason why not."""
    facts = cases.families.set_index("family_id")
    taken = facts[facts["taken_on"].notna()].copy()
    needs = status.needs
    known_codes = taken["entry_needs"].map(lambda codes: len([c for c in codes if c in framework.headline_codes]))
    minimum = framework.eligibility.minimum
    dependent = dependent_at_entry(members, taken["taken_on"], in_education, framework).reindex(taken.index,
                                                                                                fill_value=False)
    by_family = needs["family_id"]
    sustained = (needs["status"] == SUSTAINED).groupby(by_family).sum().reindex(taken.index, fill_value=0)
    pending = (needs["status"] == PENDING_REVIEW).groupby(by_family).sum().reindex(taken.index, fill_value=0)
    total = by_family.value_counts().reindex(taken.index, fill_value=0)
    earlier = register[register["period"] != period].drop_duplicates("family_id").set_index("family_id")["period"]
    with_problems = set(cases.problems["family_id"])

    reasons = {
        "a problem in the case record (see case_problems.csv)": taken.index.isin(with_problems),
        "not closed, or closed less than the sustain period ago": (taken["stage"] != CLOSED).to_numpy(),
        f"fewer than {minimum} needs at entry": (known_codes < minimum).to_numpy(),
        "no dependent child when taken on": (~dependent).to_numpy(),
        "no lead practitioner": taken["lead_practitioner"].isna().to_numpy(),
        "no whole-family assessment date": taken["assessment_date"].isna().to_numpy(),
        "no family action plan date": taken["action_plan_date"].isna().to_numpy(),
        "a need pending an analyst's decision": (pending > 0).to_numpy(),
        "not every need at entry sustained": ((sustained < total) | (total == 0)).to_numpy(),
    }
    text = pd.Series("", index=taken.index, dtype=object)
    for reason, mask in reasons.items():
        text = text + np.where(mask, reason + "; ", "")
    text = text.str.rstrip("; ")
    before = taken.index.isin(earlier.index)
    status_of = np.where(before, CLAIMED_BEFORE, np.where(text == "", CLAIMABLE, NOT_CLAIMABLE))
    families = pd.DataFrame({
        "family_id": taken.index, "stage": taken["stage"].to_numpy(),
        "taken_on": taken["taken_on"].to_numpy(), "closure_date": taken["closure_date"].to_numpy(),
        "entry_needs": taken["entry_needs"].map(";".join).to_numpy(),
        "eligible_at_entry": ((known_codes >= minimum) & dependent).to_numpy(),
        "needs_at_entry": total.to_numpy(), "needs_sustained": sustained.to_numpy(), "needs_pending": pending.to_numpy(),
        "claim_status": status_of,
        "claimed_in": earlier.reindex(taken.index).to_numpy(),
        "reasons": np.where(before, "claimed in an earlier period", text),
    })
    families["claim_id"] = claim_id(period, families["family_id"]).where(families["claim_status"] == CLAIMABLE)
    return Claims(families.reset_index(drop=True), claims_file(framework, families, facts, needs, period))


def claims_file(framework: Framework, families: pd.DataFrame, facts: pd.DataFrame, needs: pd.DataFrame,
                period: str) -> pd.DataFrame:
    """One row per family claimed: its case facts and, per headline, the outcome, the date achieved and sustained to.

    Holds the council's family and claim references and dates of the case and its outcomes; no one's name,
    identifiers or date of birth.
    """
    claimed = families[families["claim_status"] == CLAIMABLE].set_index("family_id")
    out = pd.DataFrame({
        "claim_id": claimed["claim_id"], "family_id": claimed.index, "period": period,
        "taken_on": facts.loc[claimed.index, "taken_on"].dt.date,
        "lead_practitioner": facts.loc[claimed.index, "lead_practitioner"],
        "assessment_date": facts.loc[claimed.index, "assessment_date"].dt.date,
        "action_plan_date": facts.loc[claimed.index, "action_plan_date"].dt.date,
        "closure_date": facts.loc[claimed.index, "closure_date"].dt.date,
        "needs_at_entry": claimed["entry_needs"],
    })
    chosen = needs[needs["family_id"].isin(claimed.index)].set_index(["family_id", "headline"])
    for code in framework.headline_codes:
        rows = chosen.xs(code, level="headline") if code in chosen.index.get_level_values("headline") else None
        for column, value in (("outcome", "status"), ("achieved", "met_since"), ("sustained_to", "sustained_to")):
            if rows is None:
                out[f"{code}_{column}"] = None
                continue
            values = rows[value].reindex(claimed.index)
            out[f"{code}_{column}"] = values.dt.date if value != "status" else values
    return out.reset_index(drop=True)


def write_claims(claims: Claims, folder: Path) -> dict[str, Path]:
    """claims.csv (one row per family claimed), families.csv (every family taken on, and why it is not claimable)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"claims": folder / "claims.csv", "families": folder / "claim_status.csv"}
    write_private(paths["claims"], claims.claims.to_csv(index=False).encode("utf-8"), replace=True)
    write_private(paths["families"], claims.families.to_csv(index=False).encode("utf-8"), replace=True)
    return paths


def close_to_sustained(needs: pd.DataFrame, months: int) -> pd.DataFrame:
    """Needs met, with the sustain clock running, at most `months` from sustained."""
    return needs[(needs["status"] == MET) & needs["months_to_go"].notna()
                 & (needs["months_to_go"] > 0) & (needs["months_to_go"] <= months)]

