"""The outcome pipeline in the run's reports: families by stage, claims this period, needs close to sustained.

Counts only, never a family's details: the summary goes into the manifest, the
Prefect artifacts and the match report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from criteria.cases import STAGES, CaseFacts
from criteria.claims import CLAIMABLE, CLAIMED_BEFORE, Claims, close_to_sustained
from criteria.outcome_plan import LoadedPlan
from criteria.outcome_status import MET, NOT_MET, PENDING_REVIEW, SUSTAINED, OutcomeStatus

TEMPLATES = Path(__file__).parent / "templates"
NEED_STATUSES = (NOT_MET, MET, PENDING_REVIEW, SUSTAINED)


@dataclass(frozen=True)
class OutcomeSummary:
    plan: str
    plan_sha256: str
    sustain_months: int
    families_by_stage: dict[str, int]
    families_taken_on: int
    claims_this_period: int
    claimed_before: int
    families_with_case_problems: int
    case_problems: int
    needs_by_status: dict[str, int]
    needs_by_headline: dict[str, dict[str, int]]
    needs_close_to_sustained: int
    close_to_months: int
    audit_pack: str
    dwp: dict[str, int] = field(default_factory=dict)
    """The confirm-back reply's reconciliation, when a request is outstanding."""

    def lines(self) -> list[str]:
        """The summary as a few lines of counts, for the log and the command's output."""
        stages = "; ".join(f"{stage} {count:,}" for stage, count in self.families_by_stage.items())
        statuses = "; ".join(f"{status} {count:,}" for status, count in self.needs_by_status.items())
        return [f"outcomes ({self.plan}), families: {stages}",
                f"needs at entry: {statuses}; {self.needs_close_to_sustained:,} within {self.close_to_months} months of "
                f"sustained",
                f"claims this period: {self.claims_this_period:,} ({self.claimed_before:,} families claimed before; "
                f"{self.families_with_case_problems:,} held back by a problem in their case record)"]


def summarise_outcomes(loaded: LoadedPlan, cases: CaseFacts, status: OutcomeStatus, claims: Claims,
                       audit_pack: str) -> OutcomeSummary:
    plan = loaded.plan
    stage_counts = cases.families["stage"].value_counts()
    needs = status.needs
    by_headline = needs.groupby(["headline", "status"]).size().unstack(fill_value=0)
    return OutcomeSummary(
        plan=loaded.label, plan_sha256=loaded.sha256, sustain_months=plan.sustain.months,
        families_by_stage={stage: int(stage_counts.get(stage, 0)) for stage in STAGES},
        families_taken_on=len(claims.families),
        claims_this_period=int((claims.families["claim_status"] == CLAIMABLE).sum()),
        claimed_before=int((claims.families["claim_status"] == CLAIMED_BEFORE).sum()),
        families_with_case_problems=int(cases.problems["family_id"].nunique()), case_problems=len(cases.problems),
        needs_by_status={s: int((needs["status"] == s).sum()) for s in NEED_STATUSES},
        needs_by_headline={str(code): {s: int(by_headline.loc[code].get(s, 0)) for s in NEED_STATUSES}
                           for code in by_headline.index},
        needs_close_to_sustained=len(close_to_sustained(needs, plan.sustain.close_to_months)),
        close_to_months=plan.sustain.close_to_months, audit_pack=audit_pack,
    )


def render_section(summary: OutcomeSummary) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return environment.get_template("outcomes_section.html.j2").render(s=summary)


def needs_frame(status: OutcomeStatus) -> pd.DataFrame:
    """The needs table as the analysts' CSV gives it: dates as days."""
    out = status.needs.copy()
    for column in ("met_since", "clock_from", "sustained_to"):
        out[column] = pd.to_datetime(out[column]).dt.date
    return out
