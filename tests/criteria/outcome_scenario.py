"""A small council whose families stand at every stage of the programme, for the outcome and claim tests.

Reference date 30 September 2026; the period is the twelve months before. Every family has an adult (M*) and
a child (S*); each family's comment says what its case is there to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd

from criteria.cases import CaseFacts, case_facts
from criteria.framework import load_framework
from criteria.outcome_plan import load_outcome_plan
from criteria.outcome_status import OutcomeStatus, outcome_status
from data.contract import load_contracts

CONTRACTS = load_contracts()
FRAMEWORK = load_framework("sf-2022", CONTRACTS).framework
PLAN = load_outcome_plan("sf-2022", FRAMEWORK, CONTRACTS).plan
REFERENCE = date(2026, 9, 30)
PERIOD_START = date(2025, 10, 1)
D = pd.Timestamp
COMPLETE = dict(lead_practitioner="KW1", assessment_date=D("2025-01-20"), action_plan_date=D("2025-02-01"))

FAMILIES = {
    # F1: claimable. An offence before the closure, a benefit that ended, a health outcome the keyworker recorded.
    "F1": dict(taken_on=D("2025-01-10"), closure_date=D("2026-02-15"), entry_needs="CRM;FIN;HLT",
               outcomes_recorded="HLT:01/11/2025", **COMPLETE),
    # F2: an incident after the closure restarts the clock: met, two months from sustained.
    "F2": dict(taken_on=D("2025-01-10"), closure_date=D("2026-02-15"), entry_needs="CRM;HLT;REL",
               outcomes_recorded="HLT:2025-11-01;REL:2025-11-02", **COMPLETE),
    # F3: a benefit still being paid: FIN not met.
    "F3": dict(taken_on=D("2025-01-10"), closure_date=D("2026-01-15"), entry_needs="FIN;HLT;REL",
               outcomes_recorded="HLT:2025-11-01;REL:2025-11-02", **COMPLETE),
    # F4: closed four months ago: within the sustain period.
    "F4": dict(taken_on=D("2025-01-10"), closure_date=D("2026-06-01"), entry_needs="HLT;REL;SUB",
               outcomes_recorded="HLT:2025-11-01;REL:2025-11-02;SUB:2025-11-03", **COMPLETE),
    # F5: closed, then re-opened.
    "F5": dict(taken_on=D("2025-01-10"), closure_date=D("2025-12-01"), reopened_date=D("2026-03-01"),
               entry_needs="HLT;REL;SUB", outcomes_recorded="HLT:2025-11-01;REL:2025-11-02;SUB:2025-11-03", **COMPLETE),
    # F6: the case system says it closed before it was taken on.
    "F6": dict(taken_on=D("2025-01-10"), closure_date=D("2024-12-01"), entry_needs="HLT;REL;SUB",
               outcomes_recorded="HLT:2025-11-01", **COMPLETE),
    # F7: a need at entry from an older system's codes, and a recorded outcome with an impossible date.
    "F7": dict(taken_on=D("2025-01-10"), closure_date=D("2026-01-15"), entry_needs="HLT;REL;ASB",
               outcomes_recorded="HLT:2025-11-01;REL:31/02/2025", **COMPLETE),
    # F8: an offence after the closure reaches the family only through a pair waiting for an analyst.
    "F8": dict(taken_on=D("2025-01-10"), closure_date=D("2026-01-15"), entry_needs="CRM;HLT;REL",
               outcomes_recorded="HLT:2025-11-01;REL:2025-11-02", **COMPLETE),
    # F9: everything sustained, but claimed in June.
    "F9": dict(taken_on=D("2025-01-10"), closure_date=D("2025-10-01"), entry_needs="HLT;REL;SUB",
               outcomes_recorded="HLT:2025-05-01;REL:2025-05-02;SUB:2025-05-03", **COMPLETE),
    # F10: school attendance, judged over the pupil's two schools together (12.5 % and 5 % missed: 8.75 %).
    "F10": dict(taken_on=D("2025-01-10"), closure_date=D("2026-01-15"), entry_needs="EDU;SAF;HLT",
                outcomes_recorded="HLT:2025-11-01", **COMPLETE),
    # F11: open, and the child's protection plan is still open.
    "F11": dict(taken_on=D("2026-02-01"), entry_needs="SAF;HLT;REL", **COMPLETE),
    # F12: not taken on (assessed only); F13: closed and sustained but no action plan recorded.
    "F12": dict(),
    "F13": dict(taken_on=D("2025-01-10"), closure_date=D("2026-01-15"), entry_needs="HLT;REL;SUB",
                outcomes_recorded="HLT:2025-11-01;REL:2025-11-02;SUB:2025-11-03", lead_practitioner="KW2",
                assessment_date=D("2025-01-20")),
}


def _la_cases() -> pd.DataFrame:
    rows = []
    for number, (family, facts) in enumerate(FAMILIES.items(), start=1):
        for person, born in ((f"M{number}", D("1985-05-05")), (f"S{number}", D("2014-04-04"))):
            rows.append(dict(record_id=f"L{person}", family_id=family, forename="Alex", surname=f"Case{number}",
                             dob=born, cin_flag=False, cp_flag=False, cin_cp_end=pd.NaT, source_file="la_cases.csv",
                             source_row=len(rows) + 2, **{k: v for k, v in facts.items()}))
    table = pd.DataFrame(rows)
    for column in ("taken_on", "assessment_date", "action_plan_date", "closure_date", "reopened_date"):
        table[column] = pd.to_datetime(table[column]) if column in table else pd.NaT
    for column in ("lead_practitioner", "entry_needs", "outcomes_recorded"):
        table[column] = table[column].astype("string") if column in table else pd.NA
    table.loc[table["record_id"] == "LS10", "cin_cp_end"] = D("2025-12-20")
    table.loc[table["record_id"] == "LS11", "cp_flag"] = True
    table["cin_flag"] = table["cin_flag"].astype("boolean")
    table["cp_flag"] = table["cp_flag"].astype("boolean")
    return table


def tables() -> dict[str, pd.DataFrame]:
    police = pd.DataFrame([
        dict(record_id="P1", incident_type="offence", incident_date=D("2025-12-01 14:30")),   # F1's child
        dict(record_id="P2", incident_type="asb", incident_date=D("2026-05-01 09:00")),       # F2's adult
        dict(record_id="P8", incident_type="offence", incident_date=D("2026-04-01 10:00")),   # F8's adult, if confirmed
        dict(record_id="P9", incident_type="call_out", incident_date=D("2026-08-01 10:00")),  # not an offence
    ])
    dwp = pd.DataFrame([
        dict(record_id="W1", benefit_type="UC", start_date=D("2024-01-01"), end_date=D("2025-10-31")),
        dict(record_id="W3", benefit_type="UC", start_date=D("2025-06-01"), end_date=pd.NaT),
    ])
    education = pd.DataFrame([
        dict(record_id="E10a", sessions_possible=200, sessions_missed_authorised=20, sessions_missed_unauthorised=5,
             suspensions=0, permanent_exclusion=False),
        dict(record_id="E10b", sessions_possible=200, sessions_missed_authorised=10, sessions_missed_unauthorised=0,
             suspensions=0, permanent_exclusion=False),
    ]).astype({"sessions_possible": "Int64", "sessions_missed_authorised": "Int64",
               "sessions_missed_unauthorised": "Int64", "suspensions": "Int64", "permanent_exclusion": "boolean"})
    housing = pd.DataFrame({"record_id": pd.Series([], dtype="string"), "event_type": pd.Series([], dtype="string"),
                            "event_date": pd.Series([], dtype="datetime64[ns]")})
    return {"la_cases": _la_cases(), "police": police, "dwp_benefits": dwp, "education": education, "housing": housing}


def linked() -> pd.DataFrame:
    rows = [("la_cases", r, r[1:], None) for r in _la_cases()["record_id"]]
    rows += [("police", "P1", "S1", 0.99), ("police", "P2", "M2", 0.97), ("police", "P8", "X8", None),
             ("police", "P9", "M1", 0.99), ("dwp_benefits", "W1", "M1", 0.999), ("dwp_benefits", "W3", "M3", 0.998),
             ("education", "E10a", "S10", 0.995), ("education", "E10b", "S10", 0.96)]
    return pd.DataFrame(rows, columns=["source", "record_id", "person_id", "match_probability"])


def pending() -> pd.DataFrame:
    return pd.DataFrame([dict(left_source="la_cases", left_record_id="LM8", right_source="police",
                              right_record_id="P8", probability=0.83)])


def members() -> pd.DataFrame:
    rows = []
    for number, family in enumerate(FAMILIES, start=1):
        rows.append(dict(family_id=family, person_id=f"M{number}", dob=D("1985-05-05"), age=41, role="adult",
                         dependent=False))
        rows.append(dict(family_id=family, person_id=f"S{number}", dob=D("2014-04-04"), age=12, role="child",
                         dependent=True))
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Scenario:
    tables: dict[str, pd.DataFrame]
    linked: pd.DataFrame
    members: pd.DataFrame
    cases: CaseFacts
    status: OutcomeStatus


def build() -> Scenario:
    data = tables()
    cases = case_facts(data["la_cases"], FRAMEWORK.headline_codes, FRAMEWORK.framework,
                       CONTRACTS["la_cases"].date_formats, REFERENCE, PLAN.sustain.months)
    status = outcome_status(PLAN, data, linked(), pending(), members(), cases, REFERENCE, PERIOD_START)
    return Scenario(data, linked(), members(), cases, status)
