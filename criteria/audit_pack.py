"""The audit pack: one self-contained HTML page per claim, readable in a browser without the tool.

Internal audit validates a claim from its evidence trail: the case facts (taken
on, lead practitioner, assessment, action plan, closure), the needs at entry,
and for each need the records and dates behind its outcome, the probability of
the link that brought each record into the family and any analyst's decision on
it. The pack stays in the council, so it is identifiable by default (names and
dates of birth as each record gives them, which the auditor checks against the
case system); set `outcomes.audit_pack: pseudonymised` for a pack that shows
keyed pseudonyms of persons instead, for an assurance team outside the service.
No script, no web font, no link out: the page opens from a file share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape

from criteria.claims import CLAIMABLE, Claims
from criteria.framework import Framework
from criteria.outcome_plan import OutcomePlan
from criteria.outcome_status import OutcomeStatus
from data.private_files import write_private
from pseudonymise.pseudonyms import Pseudonymiser

TEMPLATES = Path(__file__).parent / "templates"
AuditMode = Literal["identifiable", "pseudonymised"]
PERSON_LABEL = "audit-person"


@dataclass(frozen=True)
class AuditContext:
    """What every page says about where it came from."""

    run_id: str
    period: str
    reference_date: str
    framework: str
    plan: str
    input_hashes: dict[str, str] = field(default_factory=dict)


def _dates(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        if column in out:
            out[column] = pd.to_datetime(out[column]).dt.strftime("%Y-%m-%d").fillna("")
    return out


def _decisions_by_record(decisions: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """Each record's analysts' decisions, as the pack says them."""
    found: dict[tuple[str, str], list[str]] = {}
    for row in decisions.itertuples(index=False):
        said = f"{row.decision} ({str(row.decided_at)[:10]})" if getattr(row, "decided_at", "") else str(row.decision)
        for side in ("left", "right"):
            found.setdefault((str(getattr(row, f"{side}_source")), str(getattr(row, f"{side}_record_id"))), []).append(said)
    return found


def _who(tables: dict[str, pd.DataFrame], evidence: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Name and date of birth as each evidence record gives them (identifiable packs only)."""
    found: dict[tuple[str, str], str] = {}
    for source, rows in evidence.dropna(subset=["record_id"]).groupby("source"):
        table = tables.get(str(source))
        if table is None or "forename" not in table:
            continue
        chosen = table[table["record_id"].astype(str).isin(set(rows["record_id"]))]
        born = pd.to_datetime(chosen["dob"]).dt.strftime("%d/%m/%Y").fillna("no date of birth") if "dob" in chosen \
            else pd.Series("", index=chosen.index)
        names = chosen["forename"].fillna("").astype(str) + " " + chosen["surname"].fillna("").astype(str)
        for record_id, name, dob in zip(chosen["record_id"].astype(str), names, born):
            found[(str(source), record_id)] = f"{name.strip()}, born {dob}"
    return found


def write_audit_packs(claims: Claims, status: OutcomeStatus, members: pd.DataFrame, tables: dict[str, pd.DataFrame],
                      linked: pd.DataFrame, decisions: pd.DataFrame, framework: Framework, plan: OutcomePlan, context: AuditContext,
                      folder: Path, mode: AuditMode = "identifiable",
                      pseudonymiser: Pseudonymiser | None = None) -> list[Path]:
    """`folder/<claim_id>.html` per claim and `folder/index.html`; the paths written."""
    if mode == "pseudonymised" and pseudonymiser is None:
        raise ValueError("a pseudonymised audit pack needs the council key")
    folder.mkdir(parents=True, exist_ok=True)
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    page = environment.get_template("audit_pack.html.j2")
    claimed = claims.families[claims.families["claim_status"] == CLAIMABLE]
    evidence = status.evidence[status.evidence["family_id"].isin(claimed["family_id"])]
    names = {h.code: h.name for h in framework.headlines}
    outcomes = {h.code: h.description for h in plan.headlines}
    decided = _decisions_by_record(decisions)
    who = _who(tables, evidence) if mode == "identifiable" else {}
    la_rows = tables["la_cases"]
    council = linked[linked["source"] == "la_cases"]
    council_persons = pd.Series(council["person_id"].astype(str).to_numpy(), index=council["record_id"].astype(str))
    needs = _dates(status.needs[status.needs["family_id"].isin(claimed["family_id"])],
                   ("met_since", "clock_from", "sustained_to"))
    written = []
    # Grouped once: a county's claims are a thousand pages, each a look-up rather than a scan of every table.
    members_of = dict(tuple(members[members["family_id"].isin(claimed["family_id"])].groupby("family_id")))
    rows_of = dict(tuple(la_rows[la_rows["family_id"].isin(claimed["family_id"])].groupby("family_id")))
    evidence_of = dict(tuple(evidence.groupby(["family_id", "headline"])))
    needs_of = dict(tuple(needs.groupby("family_id")))
    nothing = evidence.iloc[0:0]
    claims_by_family = claims.claims.set_index("family_id")
    for claim in claimed.itertuples(index=False):
        family_members = members_of.get(claim.family_id, members.iloc[0:0])
        own_rows = rows_of.get(claim.family_id, la_rows.iloc[0:0])
        person_of = {}
        for person in family_members["person_id"]:
            person_of[person] = (pseudonymiser.one(PERSON_LABEL, str(person))[:16] if mode == "pseudonymised"
                                 else person)
        named = _council_names(own_rows, council_persons) if mode == "identifiable" else {}
        member_rows = []
        for member in family_members.itertuples(index=False):
            label = named.get(member.person_id, member.person_id) if mode == "identifiable" else person_of[member.person_id]
            member_rows.append({"person": label, "role": member.role, "age": "" if pd.isna(member.age) else int(member.age)})
        need_rows = []
        for need in needs_of.get(claim.family_id, needs.iloc[0:0]).itertuples(index=False):
            records = evidence_of.get((claim.family_id, need.headline), nothing)
            record_rows = []
            for record in records.itertuples(index=False):
                key = (str(record.source), str(record.record_id))
                record_rows.append({
                    "test": record.test, "rule": record.rule, "source": record.source,
                    "record_id": ("the family's case rows (outcomes_recorded)" if pd.isna(record.record_id)
                                  else record.record_id),
                    "person": (who.get(key, "") if mode == "identifiable"
                               else person_of.get(record.person_id, "") if isinstance(record.person_id, str) else ""),
                    "date": "" if pd.isna(record.record_date) else pd.Timestamp(record.record_date).strftime("%Y-%m-%d"),
                    "role": record.role,
                    "probability": ("on its own" if pd.isna(record.link_probability)
                                    else f"{record.link_probability:.4f}"),
                    "decisions": "; ".join(decided.get(key, [])) or "none",
                })
            need_rows.append({"code": need.headline, "name": names.get(need.headline, ""),
                              "outcome": outcomes.get(need.headline, ""), "status": need.status,
                              "met_since": need.met_since, "clock_from": need.clock_from,
                              "sustained_to": need.sustained_to, "months": need.months_sustained,
                              "records": record_rows})
        html = page.render(claim=claim, context=context, mode=mode, members=member_rows, needs=need_rows,
                           facts=_facts(claim, claims_by_family.loc[claim.family_id]))
        written.append(write_private(folder / f"{claim.claim_id}.html", html.encode("utf-8"), replace=True))
    index = environment.get_template("audit_index.html.j2").render(
        context=context, mode=mode, claims=claimed.to_dict("records"))
    written.append(write_private(folder / "index.html", index.encode("utf-8"), replace=True))
    return written


def _council_names(own_rows: pd.DataFrame, council_persons: pd.Series) -> dict[str, str]:
    """Each member's name and date of birth as the family's own case rows give them, by person."""
    person = own_rows["record_id"].astype(str).map(council_persons)
    born = pd.to_datetime(own_rows["dob"]).dt.strftime("%d/%m/%Y").fillna("no date of birth")
    names = (own_rows["forename"].fillna("").astype(str) + " " + own_rows["surname"].fillna("").astype(str)).str.strip()
    return {p: f"{n}, born {b}" for p, n, b in zip(person, names, born) if isinstance(p, str)}


def _facts(row, claim: pd.Series) -> dict[str, str]:
    return {
        "taken on": str(claim["taken_on"]), "lead practitioner": str(claim["lead_practitioner"]),
        "whole-family assessment": str(claim["assessment_date"]), "family action plan": str(claim["action_plan_date"]),
        "case closed": str(claim["closure_date"]), "needs at entry": str(row.entry_needs).replace(";", ", "),
        "eligible when taken on": "yes (a dependent child, and needs under enough headlines)",
    }
