"""The case facts a results claim rests on, per family, from the council's case records; and what is wrong with them.

The case system exports the family's facts on every member's row (when the
family was taken on, the lead practitioner, the whole-family assessment and
action plan, the needs at entry, the closure). They are read once per family
here; a family whose rows disagree, whose dates are impossible or whose needs
at entry are not headlines of the framework gets a problem that names the file,
row and field, and nothing is claimed for it until the case record is put right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from criteria.progress import months_between
from data.parsing import parse_dates

CASE_DATES = ("taken_on", "assessment_date", "action_plan_date", "closure_date", "reopened_date")
CASE_TEXT = ("lead_practitioner", "entry_needs", "outcomes_recorded")
CASE_FIELDS = (*CASE_DATES, *CASE_TEXT)
PROBLEM_COLUMNS = ["family_id", "file", "row", "field", "problem"]

NOT_TAKEN_ON, OPEN, CLOSED_RECENTLY, CLOSED, REOPENED = (
    "not taken on", "open", "closed within the sustain period", "closed past the sustain period", "re-opened")
STAGES = (NOT_TAKEN_ON, OPEN, CLOSED_RECENTLY, CLOSED, REOPENED)
RECORDED_ITEM = re.compile(r"^\s*([A-Za-z0-9\-]+)\s*:\s*(.+?)\s*$")


@dataclass(frozen=True)
class CaseFacts:
    families: pd.DataFrame
    """One row per family: the case facts, `entry_needs` as a tuple of codes, `stage`."""
    recorded: pd.DataFrame
    """Keyworker-recorded outcomes: family_id, headline, recorded_on (the earliest date given)."""
    problems: pd.DataFrame
    """family_id, file, row, field, problem: what stops a family being claimed until it is fixed."""


def _problem(rows: pd.DataFrame, field: str, text: pd.Series | str) -> pd.DataFrame:
    return pd.DataFrame({"family_id": rows["family_id"].to_numpy(), "file": rows["source_file"].to_numpy(),
                         "row": rows["source_row"].to_numpy(), "field": field,
                         "problem": text if isinstance(text, str) else text.to_numpy()})


def _family_values(la_cases: pd.DataFrame, field: str) -> tuple[pd.Series, pd.DataFrame]:
    """Each family's value of a field its rows repeat, and a problem for each family whose rows disagree."""
    present = la_cases.loc[la_cases[field].notna().to_numpy(), ["family_id", field, "source_file", "source_row"]]
    values = present[field].astype(str) if field in CASE_TEXT else pd.to_datetime(present[field]).dt.normalize()
    distinct = values.groupby(present["family_id"]).nunique()
    chosen = values.groupby(present["family_id"]).first()
    disagree = distinct[distinct > 1].index
    rows = present[present["family_id"].isin(disagree)].drop_duplicates("family_id")
    return chosen, _problem(rows, field, f"the family's rows give different {field.replace('_', ' ')}s")


def _entry_need_problems(entry: pd.Series, first_rows: pd.DataFrame, codes: tuple[str, ...],
                         framework: str) -> tuple[pd.Series, pd.DataFrame]:
    """The needs at entry as tuples of codes, and a problem for each code that is not a headline."""
    needs = entry.fillna("").map(lambda text: tuple(dict.fromkeys(c.strip().upper() for c in text.split(";") if c.strip())))
    items = needs.explode().dropna()
    unknown = items[~items.isin(codes)]
    if unknown.empty:
        return needs, pd.DataFrame(columns=PROBLEM_COLUMNS)
    listed = unknown.groupby(level=0).agg(", ".join)
    text = listed + f" is not a headline of {framework} ({', '.join(codes)})"
    return needs, _problem(first_rows.loc[listed.index], "entry_needs", text.reset_index(drop=True))


def parse_recorded(text: pd.Series, first_rows: pd.DataFrame, codes: tuple[str, ...], date_formats: tuple[str, ...],
                   reference_date: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`HLT:2025-03-14;REL:02/05/2025` per family into rows, and a problem for each item that cannot be read."""
    items = text.dropna().str.split(";").explode().str.strip()
    items = items[items != ""]
    parts = items.str.extract(RECORDED_ITEM)
    parsed = pd.DataFrame({"family_id": items.index, "item": items.to_numpy(),
                           "headline": parts[0].str.upper().to_numpy(),
                           "recorded_on": parse_dates(parts[1].reset_index(drop=True), date_formats).to_numpy()})
    bad_shape = parts[0].isna().to_numpy()
    unknown = ~bad_shape & ~parsed["headline"].isin(codes).to_numpy()
    no_date = ~bad_shape & ~unknown & parsed["recorded_on"].isna().to_numpy()
    future = ~bad_shape & ~unknown & ~no_date & (parsed["recorded_on"] > pd.Timestamp(reference_date)).to_numpy()
    reasons = np.select([bad_shape, unknown, no_date, future], [
        "is not CODE:date", "names no headline of the framework", "has no date that can be read",
        "is dated after the run's reference date"], "")
    wrong = reasons != ""
    rows = first_rows.loc[parsed.loc[wrong, "family_id"]]
    text_of = "item '" + parsed.loc[wrong, "item"].astype(str) + "' " + pd.Series(reasons[wrong], index=parsed.index[wrong])
    problems = _problem(rows, "outcomes_recorded", text_of.reset_index(drop=True))
    good = parsed[~wrong].groupby(["family_id", "headline"], as_index=False)["recorded_on"].min()
    return good, problems


def case_facts(la_cases: pd.DataFrame, codes: tuple[str, ...], framework: str, date_formats: tuple[str, ...],
               reference_date: date, sustain_months: int) -> CaseFacts:
    """Every family's case facts and stage, with the problems that hold its claim back."""
    first_rows = la_cases.sort_values("source_row", kind="stable").drop_duplicates("family_id").set_index("family_id",
                                                                                                          drop=False)
    families = pd.DataFrame(index=pd.Index(sorted(first_rows.index), name="family_id"))
    problems = []
    for field in CASE_FIELDS:
        if field not in la_cases:
            families[field] = pd.NaT if field in CASE_DATES else None
            continue
        chosen, disagree = _family_values(la_cases, field)
        families[field] = chosen.reindex(families.index)
        problems.append(disagree)
    for field in CASE_DATES:
        families[field] = pd.to_datetime(families[field])
    needs, need_problems = _entry_need_problems(families["entry_needs"], first_rows, codes, framework)
    families["entry_needs"] = needs
    problems.append(need_problems)
    recorded, recorded_problems = parse_recorded(families["outcomes_recorded"], first_rows, codes, date_formats,
                                                 reference_date)
    problems.append(recorded_problems)

    today = pd.Timestamp(reference_date)
    first = first_rows.loc[families.index]
    taken, closed = families["taken_on"], families["closure_date"]
    checks = [
        ("closure_date", closed < taken, "the case closed before the family was taken on"),
        ("closure_date", closed > today, "the case closes after the run's reference date"),
        ("taken_on", taken > today, "the family was taken on after the run's reference date"),
        ("closure_date", closed.notna() & taken.isna(), "a closed case with no date the family was taken on"),
        ("reopened_date", families["reopened_date"] > today, "the case re-opens after the run's reference date"),
    ]
    for field, mask, text in checks:
        if mask.any():
            problems.append(_problem(first[mask.to_numpy()], field, text))

    reopened = families["reopened_date"].notna() & (closed.isna() | (families["reopened_date"] > closed))
    months_closed = months_between(closed, reference_date)
    families["stage"] = np.select(
        [taken.isna(), reopened.to_numpy(), closed.isna().to_numpy(),
         (months_closed < sustain_months).fillna(False).to_numpy()],
        [NOT_TAKEN_ON, REOPENED, OPEN, CLOSED_RECENTLY], CLOSED)
    problems = pd.concat([p for p in problems if len(p)], ignore_index=True) if any(len(p) for p in problems) \
        else pd.DataFrame(columns=PROBLEM_COLUMNS)
    problems = problems.sort_values(["family_id", "row", "field"], kind="stable").reset_index(drop=True)
    return CaseFacts(families.reset_index(), recorded, problems)
