"""The criteria section of the run report: counts per framework headline, never a family's details."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from criteria.assess import COUNTED, PENDING, Assessment
from criteria.framework import LoadedFramework
from criteria.progress import sustained

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class CriteriaSummary:
    framework: str
    version: int
    title: str
    file: str
    sha256: str
    period_start: str
    period_end: str
    rule: str
    minimum: int
    families_assessed: int
    families_eligible: int
    families_held_for_review: int
    families_without_dependent_child: int
    needs_per_headline: dict[str, int]
    pending_per_headline: dict[str, int]
    headline_names: dict[str, str]
    evidence_counted: int
    evidence_pending: int
    changes: dict[str, int] = field(default_factory=dict)
    clear_six_months: int = 0


def summarise(loaded: LoadedFramework, assessment: Assessment, period: tuple[str, str],
              changes: pd.DataFrame) -> CriteriaSummary:
    framework = loaded.framework
    families = assessment.families
    codes = framework.headline_codes
    pending = assessment.evidence[assessment.evidence["status"] == PENDING]
    pending_families = pending.groupby("headline")["family_id"].nunique()
    counts = changes["change"].value_counts()
    return CriteriaSummary(
        framework=framework.framework, version=framework.version, title=framework.title, file=loaded.path.name,
        sha256=loaded.sha256, period_start=period[0], period_end=period[1], rule=framework.eligibility.rule,
        minimum=framework.eligibility.minimum, families_assessed=len(families),
        families_eligible=int(families["eligible"].sum()),
        families_held_for_review=int(families["held_for_review"].sum()),
        families_without_dependent_child=int((families["dependent_children"] == 0).sum()),
        needs_per_headline={code: int(families[f"need_{code}"].sum()) for code in codes},
        pending_per_headline={code: int(pending_families.get(code, 0)) for code in codes},
        headline_names={h.code: h.name for h in framework.headlines},
        evidence_counted=int((assessment.evidence["status"] == COUNTED).sum()), evidence_pending=len(pending),
        changes={str(k): int(v) for k, v in counts.items()},
        clear_six_months=len(sustained(changes)),
    )


def render_section(summary: CriteriaSummary) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    return environment.get_template("criteria_section.html.j2").render(s=summary)
