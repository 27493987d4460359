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

import numpy as np
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


def _as_recorded(rows: pd.DataFrame) -> pd.Series:
    """'Forename Surname, born dd/mm/yyyy' as each record gives them, for identifiable packs."""
    born = (pd.to_datetime(rows["dob"]).dt.strftime("%d/%m/%Y").fillna("no date of birth") if "dob" in rows
            else pd.Series("not recorded", index=rows.index))
    names = (rows["forename"].fillna("").astype(str) + " " + rows["surname"].fillna("").astype(str)).str.strip()
    return names + ", born " + born


def _who(tables: dict[str, pd.DataFrame], evidence: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Name and date of birth as each evidence record gives them (identifiable packs only)."""
    found: dict[tuple[str, str], str] = {}
    for source, rows in evidence.dropna(subset=["record_id"]).groupby("source"):
        table = tables.get(str(source))
        if table is None or "forename" not in table:
            continue
        chosen = table[table["record_id"].astype(str).isin(set(rows["record_id"]))]
        found.update(zip(((str(source), r) for r in chosen["record_id"].astype(str)), _as_recorded(chosen)))
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
    wanted = set(claimed["family_id"])
    evidence = status.evidence[status.evidence["family_id"].isin(wanted)]
    members = members[members["family_id"].isin(wanted)]
    # Every row a page shows is made here, a column at a time, then grouped by family into plain lists: a
    # county's claims are a thousand pages, and pandas per page would cost more than the rest of the run.
    person_label = _person_labels(members, tables["la_cases"], linked, mode, pseudonymiser)
    records = _record_rows(evidence, _decisions_by_record(decisions),
                           _who(tables, evidence) if mode == "identifiable" else {}, person_label)
    names = {h.code: h.name for h in framework.headlines}
    outcomes = {h.code: h.description for h in plan.headlines}
    needs = _dates(status.needs[status.needs["family_id"].isin(wanted)], ("met_since", "clock_from", "sustained_to"))
    needs = needs.assign(name=needs["headline"].map(names).fillna(""), outcome=needs["headline"].map(outcomes).fillna(""),
                         months=needs["months_sustained"].astype("string").fillna(""))
    member_rows = members.assign(person=members["person_id"].map(person_label),
                                 age=members["age"].astype("Int64").astype("string").fillna(""))
    members_of = _grouped(member_rows, "family_id", ["person", "role", "age"])
    needs_of = _grouped(needs.rename(columns={"headline": "code"}), "family_id",
                        ["code", "name", "outcome", "status", "met_since", "clock_from", "sustained_to", "months"])
    records_of: dict[tuple[str, str], list[dict]] = {}
    for row in records:
        records_of.setdefault((row.pop("family_id"), row.pop("headline")), []).append(row)
    facts_of = {row["family_id"]: row for row in claims.claims.astype(object).where(claims.claims.notna(), "")
                .astype(str).to_dict("records")}
    written = []
    for claim in claimed.itertuples(index=False):
        need_rows = [{**need, "records": records_of.get((claim.family_id, need["code"]), [])}
                     for need in needs_of.get(claim.family_id, [])]
        html = page.render(claim=claim, context=context, mode=mode, members=members_of.get(claim.family_id, []),
                           needs=need_rows, facts=_facts(claim, facts_of[claim.family_id]))
        written.append(write_private(folder / f"{claim.claim_id}.html", html.encode("utf-8"), replace=True))
    index = environment.get_template("audit_index.html.j2").render(
        context=context, mode=mode, claims=claimed.to_dict("records"))
    written.append(write_private(folder / "index.html", index.encode("utf-8"), replace=True))
    return written


def _grouped(frame: pd.DataFrame, key: str, columns: list[str]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for family, row in zip(frame[key], frame[columns].to_dict("records")):
        grouped.setdefault(family, []).append(row)
    return grouped


def _person_labels(members: pd.DataFrame, la_cases: pd.DataFrame, linked: pd.DataFrame, mode: AuditMode,
                   pseudonymiser: Pseudonymiser | None) -> dict[str, str]:
    """How the pack shows each member: name and date of birth as their own case row gives them, or a pseudonym."""
    persons = members["person_id"].astype(str).unique()
    if mode == "pseudonymised":
        return {person: pseudonymiser.one(PERSON_LABEL, person)[:16] for person in persons}  # type: ignore[union-attr]
    council = linked[(linked["source"] == "la_cases") & linked["person_id"].isin(persons)]
    rows = la_cases[la_cases["record_id"].astype(str).isin(set(council["record_id"].astype(str)))]
    person = rows["record_id"].astype(str).map(
        pd.Series(council["person_id"].astype(str).to_numpy(), index=council["record_id"].astype(str)))
    labels = dict(zip(person, _as_recorded(rows)))
    return {p: labels.get(p, p) for p in persons}


def _record_rows(evidence: pd.DataFrame, decided: dict[tuple[str, str], list[str]], who: dict[tuple[str, str], str],
                 person_label: dict[str, str]) -> list[dict]:
    """The evidence as the pages' record tables show it, one dict per record."""
    keys = list(zip(evidence["source"].astype(str), evidence["record_id"].astype(str)))
    recorded = evidence["record_id"].isna()
    shown = pd.DataFrame({
        "family_id": evidence["family_id"].to_numpy(), "headline": evidence["headline"].to_numpy(),
        "test": evidence["test"].to_numpy(), "rule": evidence["rule"].to_numpy(),
        "source": evidence["source"].to_numpy(),
        "record_id": evidence["record_id"].astype(object).where(~recorded,
                                                                 "the family's case rows (outcomes_recorded)").to_numpy(),
        "person": [who.get(key) or person_label.get(p, "") if isinstance(p, str) else ""
                   for key, p in zip(keys, evidence["person_id"])],
        "date": pd.to_datetime(evidence["record_date"]).dt.strftime("%Y-%m-%d").fillna("").to_numpy(),
        "role": evidence["role"].to_numpy(),
        "probability": np.where(evidence["link_probability"].isna(), "on its own",
                                evidence["link_probability"].map("{:.4f}".format)),
        "decisions": ["; ".join(decided.get(key, [])) or "none" for key in keys],
    })
    return shown.to_dict("records")


def _facts(claim, row: dict[str, str]) -> dict[str, str]:
    return {
        "taken on": row["taken_on"], "lead practitioner": row["lead_practitioner"],
        "whole-family assessment": row["assessment_date"], "family action plan": row["action_plan_date"],
        "case closed": row["closure_date"], "needs at entry": str(claim.entry_needs).replace(";", ", "),
        "eligible when taken on": "yes (a dependent child, and needs under enough headlines)",
    }
