"""The synthetic council's case history: families taken on, assessed, planned, closed, re-opened.

The case facts are drawn after the partner extracts, from what those extracts
say happened to each household, as a real council's case history follows
what happened to a family: a case closes after the family's last incident,
not before it, more often than not. So the synthetic council has families at
every stage of the programme (not taken on, open, closed less than six months,
closed and sustained, re-opened), and some whose outcomes did not last.

A few families carry the faults case systems really export: a closure dated
before the family was taken on, a need at entry that is not a headline of the
framework (a code from an older system). The pipeline must name them and claim
nothing for them until they are put right.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

STAGES = ("not taken on", "open", "closed recently", "closed long enough", "re-opened")
STAGE_WEIGHTS = np.array([0.15, 0.30, 0.15, 0.33, 0.07])
SUSTAIN_DAYS = 190  # a little over six months: the families closed long enough to be judged
RECORDED_HEADLINES = ("EYD", "HLT", "SUB", "REL")
"""Needs whose outcome only the keyworker can record."""
FAULT_RATE = 0.01
"""Of families taken on: the share with a closure before the start, and the share with an unknown need code
(at least one of each, so that every synthetic council shows both)."""
LEGACY_CODE = "ASB"
"""A need code from an older case system, not a headline of any framework the pipeline ships."""


def _day(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype="datetime64[D]")


def last_events(extracts: dict[str, pd.DataFrame], reference_date: date) -> pd.DataFrame:
    """Per true household and headline, the last day a record of the partner extracts showed the need.

    A benefit still being paid shows it on the reference date. Education has no dates (a return for the
    period): a child with poor attendance or suspensions shows it on the reference date, as the need is
    still there in the latest return.
    """
    today = np.datetime64(reference_date, "D")
    parts = []
    police = extracts.get("police")
    if police is not None and len(police):
        kinds = {"CRM": ["asb", "offence"], "DAB": ["domestic_abuse_victim", "domestic_abuse_perpetrator"],
                 "SAF": ["missing_person"]}
        for code, types in kinds.items():
            rows = police[police["incident_type"].isin(types)]
            parts.append(pd.DataFrame({"household": rows["true_household_id"], "headline": code,
                                       "day": _day(pd.to_datetime(rows["incident_date"]).dt.normalize())}))
    housing = extracts.get("housing")
    if housing is not None and len(housing):
        parts.append(pd.DataFrame({"household": housing["true_household_id"], "headline": "HOU",
                                   "day": _day(pd.to_datetime(housing["event_date"]))}))
    dwp = extracts.get("dwp_benefits")
    if dwp is not None and len(dwp):
        ended = pd.to_datetime(dwp["end_date"])
        parts.append(pd.DataFrame({"household": dwp["true_household_id"], "headline": "FIN",
                                   "day": _day(ended.fillna(pd.Timestamp(today)))}))
    education = extracts.get("education")
    if education is not None and len(education):
        missed = (education["sessions_missed_authorised"] + education["sessions_missed_unauthorised"])
        poor = (missed >= 0.1 * education["sessions_possible"]) | (education["suspensions"] >= 3) \
            | (education["permanent_exclusion"] == "Y")
        rows = education[poor.to_numpy()]
        parts.append(pd.DataFrame({"household": rows["true_household_id"], "headline": "EDU",
                                   "day": np.full(len(rows), today)}))
    if not parts:
        return pd.DataFrame({"household": [], "headline": [], "day": []})
    events = pd.concat(parts, ignore_index=True)
    return events.groupby(["household", "headline"], as_index=False)["day"].max()


def _good_returns(education: pd.DataFrame | None) -> set[str]:
    """Households with children in the school return, none of them missing school or suspended."""
    if education is None or education.empty:
        return set()
    missed = education["sessions_missed_authorised"] + education["sessions_missed_unauthorised"]
    poor = (missed >= 0.1 * education["sessions_possible"]) | (education["suspensions"] > 0) \
        | (education["permanent_exclusion"] == "Y")
    any_poor = poor.groupby(education["true_household_id"]).any()
    return set(any_poor.index[~any_poor.to_numpy()])


def _some(rng: np.random.Generator, among: np.ndarray) -> np.ndarray:
    """FAULT_RATE of the families `among` (at least one, where there are any), as a mask."""
    chosen = np.zeros(len(among), dtype=bool)
    candidates = np.flatnonzero(among)
    if len(candidates):
        chosen[rng.choice(candidates, max(1, round(FAULT_RATE * len(candidates))), replace=False)] = True
    return chosen


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    return rng.integers(low, high, n).astype("timedelta64[D]")


def add_case_history(la_cases: pd.DataFrame, extracts: dict[str, pd.DataFrame], reference_date: date,
                     rng: np.random.Generator) -> pd.DataFrame:
    """The la_cases rows with the case facts of their family (and the child's own plan end) filled in."""
    today = np.datetime64(reference_date, "D")
    families = la_cases.drop_duplicates("family_id")[["family_id", "true_household_id", "assessed_needs",
                                                       "early_help_start"]].reset_index(drop=True)
    n = len(families)
    stage = np.array(STAGES, dtype=object)[rng.choice(len(STAGES), n, p=STAGE_WEIGHTS)]
    events = last_events(extracts, reference_date)
    household = pd.Index(families["true_household_id"])
    codes = ("EDU", "EYD", "HLT", "SUB", "REL", "SAF", "CRM", "DAB", "HOU", "FIN")
    last = np.full((n, len(codes)), np.datetime64("NaT"), dtype="datetime64[D]")
    where = household.get_indexer(events["household"])
    known = where >= 0
    last[where[known], [codes.index(c) for c in events.loc[known, "headline"]]] = _day(events.loc[known, "day"])

    # Needs at entry: what the partner data showed, what the assessment found, and a child in need or on a plan.
    children_flagged = la_cases.assign(flag=(la_cases["cin_flag"] == "Y") | (la_cases["cp_flag"] == "Y")) \
        .groupby("family_id")["flag"].any().reindex(families["family_id"], fill_value=False).to_numpy()
    shown = ~np.isnat(last)
    shown[:, codes.index("SAF")] |= children_flagged
    assessed = families["assessed_needs"].fillna("").str.split(";")
    for row, items in enumerate(assessed):
        for item in items:
            if item in codes:
                shown[row, codes.index(item)] = True
    # A child whose latest return is good may have been missing school when the family was taken on:
    # the need at entry came from an earlier census, and the outcome is there to be found.
    attending = _good_returns(extracts.get("education"))
    improved = household.isin(attending) & (rng.random(n) < 0.5)
    shown[improved, codes.index("EDU")] = True
    # Three needs is the programme's bar; a family short of it at entry had a need the keyworker found.
    short = np.flatnonzero(shown.sum(axis=1) < 3)
    extra = np.array([codes.index(c) for c in RECORDED_HEADLINES])
    for row in short:
        shown[row, rng.choice(extra, 3 - min(int(shown[row].sum()), 2), replace=False)] = True

    taken_on = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    closure = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    reopened = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    # The clock that matters is the last partner-recorded need's last event: a case closes after it.
    measured = np.array([codes.index(c) for c in codes if c not in RECORDED_HEADLINES])
    clocks = np.where(shown[:, measured], last[:, measured], np.datetime64("NaT"))
    latest = np.where(np.isnat(clocks), np.datetime64("1900-01-01"), clocks).max(axis=1)
    latest = np.where(latest == np.datetime64("1900-01-01"), np.datetime64("NaT"), latest)
    open_ = stage == "open"
    taken_on[open_] = today - _days(rng, 30, 700, int(open_.sum()))
    recent = stage == "closed recently"
    closure[recent] = today - _days(rng, 1, 180, int(recent.sum()))
    sustained = stage == "closed long enough"
    planned = today - _days(rng, SUSTAIN_DAYS, 720, int(sustained.sum()))
    after_last = latest[sustained] + _days(rng, 1, 60, int(sustained.sum()))
    # Closed after the last event where that still leaves six months; otherwise the outcome did not last.
    closure[sustained] = np.where(~np.isnat(after_last) & (after_last > planned) & (after_last <= today - SUSTAIN_DAYS),
                                  after_last, planned)
    again = stage == "re-opened"
    closure[again] = today - _days(rng, 100, 400, int(again.sum()))
    reopened[again] = np.minimum(closure[again] + _days(rng, 20, 90, int(again.sum())), today)
    closed = recent | sustained | again
    taken_on[closed] = closure[closed] - _days(rng, 120, 540, int(closed.sum()))

    worked = ~np.isnat(taken_on)
    assessment = taken_on + _days(rng, 0, 42, n)
    plan = assessment + _days(rng, 0, 28, n)
    assessment = np.where(rng.random(n) < 0.03, np.datetime64("NaT"), np.minimum(assessment, today))
    plan = np.where(rng.random(n) < 0.03, np.datetime64("NaT"), np.minimum(plan, today))
    practitioner = np.array([f"KW{v:04d}" for v in rng.integers(1, 400, n)], dtype=object)
    practitioner[rng.random(n) < 0.03] = None
    entry = np.array([";".join(c for c, s in zip(codes, row) if s) for row in shown], dtype=object)

    # Keyworker-recorded outcomes: mostly before a closure, less often while the case is open.
    recorded_items = [[] for _ in range(n)]
    for code in RECORDED_HEADLINES:
        column = codes.index(code)
        chance = np.where(closed & ~again, 0.9, np.where(again, 0.5, 0.35))
        met = worked & shown[:, column] & (rng.random(n) < chance)
        end = np.where(np.isnat(closure), today, closure)
        span = np.maximum((end - taken_on).astype("timedelta64[D]").astype("int64", copy=False), 1)
        on = taken_on + (rng.random(n) * span).astype("int64").astype("timedelta64[D]")
        uk = rng.random(n) < 0.3  # some keyworkers type dates the UK way
        for row in np.flatnonzero(met):
            day = pd.Timestamp(on[row])
            recorded_items[row].append(f"{code}:{day.strftime('%d/%m/%Y' if uk[row] else '%Y-%m-%d')}")
    recorded = np.array([";".join(items) if items else None for items in recorded_items], dtype=object)

    # The faults case systems export.
    faulty = _some(rng, worked & ~np.isnat(closure))
    closure[faulty] = taken_on[faulty] - _days(rng, 1, 60, int(faulty.sum()))
    odd_code = _some(rng, worked & ~faulty)
    entry[odd_code] = np.array([f"{e};{LEGACY_CODE}" for e in entry[odd_code]], dtype=object)

    facts = pd.DataFrame({
        "family_id": families["family_id"],
        "taken_on": taken_on, "lead_practitioner": np.where(worked, practitioner, None),
        "assessment_date": np.where(worked, assessment, np.datetime64("NaT")),
        "action_plan_date": np.where(worked, plan, np.datetime64("NaT")),
        "entry_needs": np.where(worked, entry, None), "closure_date": closure, "reopened_date": reopened,
        "outcomes_recorded": np.where(worked, recorded, None),
        "closed_now": closed & ~again,
    })
    out = la_cases.drop(columns=[c for c in facts.columns if c in la_cases and c != "family_id"])
    out = out.merge(facts, on="family_id", how="left", sort=False)
    out.index = la_cases.index
    out["early_help_start"] = np.where(out["taken_on"].notna(), out["taken_on"], out["early_help_start"])

    # A closed case's child in need or on a plan had it end before the closure.
    child_open = (out["cin_flag"] == "Y") | (out["cp_flag"] == "Y")
    ending = child_open.to_numpy() & out["closed_now"].to_numpy(dtype=bool)
    closes = _day(out.loc[ending, "closure_date"])
    started = _day(out.loc[ending, "taken_on"])
    ended = np.maximum(closes - _days(rng, 0, 60, int(ending.sum())), started)
    out["cin_cp_end"] = pd.Series(np.datetime64("NaT"), index=out.index, dtype="datetime64[ns]")
    out.loc[ending, "cin_cp_end"] = ended.astype("datetime64[ns]")
    out.loc[ending, ["cin_flag", "cp_flag"]] = "N"
    for column in ("taken_on", "assessment_date", "action_plan_date", "closure_date", "reopened_date"):
        out[column] = pd.to_datetime(out[column])
    return out.drop(columns="closed_now")
