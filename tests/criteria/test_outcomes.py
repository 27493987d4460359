"""Outcome plans, case facts, each need's outcome and the claims made from them (outcome_scenario.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from criteria.cases import CLOSED, CLOSED_RECENTLY, NOT_TAKEN_ON, OPEN, REOPENED
from criteria.claims import CLAIMABLE, CLAIMED_BEFORE, NOT_CLAIMABLE, assess_claims, read_register, register_claims
from criteria.outcome_plan import PLANS_DIR, OutcomePlanError, load_outcome_plan
from criteria.outcome_status import MET, NOT_MET, PENDING_REVIEW, SUSTAINED
from tests.criteria import outcome_scenario as scenario
from tests.criteria.outcome_scenario import CONTRACTS, FRAMEWORK, D

PERIOD = "2026-09"


@pytest.fixture(scope="module")
def built():
    return scenario.build()


def need(built, family: str, headline: str) -> pd.Series:
    needs = built.status.needs
    return needs[(needs["family_id"] == family) & (needs["headline"] == headline)].iloc[0]


# --- the outcome plan -------------------------------------------------------------------------------------------

def test_the_shipped_plan_covers_every_headline_of_its_framework():
    plan = load_outcome_plan("sf-2022", FRAMEWORK, CONTRACTS).plan
    assert {h.code for h in plan.headlines} == set(FRAMEWORK.headline_codes)
    assert plan.sustain.months == 6 and plan.sustain.counted_from == "closure"


def _plan_with(tmp_path: Path, change) -> Path:
    document = yaml.safe_load((PLANS_DIR / "sf-2022.yaml").read_text())
    change(document)
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["headlines"][6]["tests"][0].update(source="probation"),
     "headline CRM, test 1 (no_record): unknown source 'probation'"),
    (lambda d: d["headlines"][6]["tests"][0].update(date="incident_day"),
     "headline CRM, test 1 (no_record): field 'incident_day' is not a field of source 'police'"),
    (lambda d: d["headlines"][6]["tests"][0].update(date="incident_type"),
     "'incident_type' must be a date field, but it is code"),
    (lambda d: d["headlines"][6]["tests"][0]["conditions"][0].update(value=["burglary"]),
     "burglary is not a code of 'incident_type'"),
    (lambda d: d["headlines"].pop(9), "no outcome for headline(s) FIN"),
    (lambda d: d["headlines"][9].update(code="WRK"), "headline WRK: not a headline of sf-2022"),
    (lambda d: d.update(framework="tf-2015"), "the plan is for framework 'tf-2015'"),
    (lambda d: d["headlines"][5]["tests"][0].update(open=["cin_cp_end"]), "'cin_cp_end' must be a flag field"),
])
def test_a_plan_that_does_not_fit_is_refused_saying_where(tmp_path, change, message):
    with pytest.raises(OutcomePlanError) as error:
        load_outcome_plan(_plan_with(tmp_path, change), FRAMEWORK, CONTRACTS)
    assert message in str(error.value)
    assert "Traceback" not in str(error.value)


def test_a_no_record_test_is_dated_one_way(tmp_path):
    def both(document):
        document["headlines"][6]["tests"][0]["spell"] = {"start": "incident_date", "end": "incident_date"}
    with pytest.raises(OutcomePlanError, match="either 'date' \\(events\\) or 'spell'"):
        load_outcome_plan(_plan_with(tmp_path, both), FRAMEWORK, CONTRACTS)


# --- case facts -------------------------------------------------------------------------------------------------

def test_families_have_their_stage(built):
    stage = built.cases.families.set_index("family_id")["stage"]
    assert stage["F1"] == CLOSED and stage["F4"] == CLOSED_RECENTLY and stage["F5"] == REOPENED
    assert stage["F11"] == OPEN and stage["F12"] == NOT_TAKEN_ON


def test_bad_case_records_are_named_by_file_row_and_field(built):
    problems = built.cases.problems
    by_family = {family: rows for family, rows in problems.groupby("family_id")}
    closure = by_family["F6"].iloc[0]
    assert (closure["file"], closure["field"]) == ("la_cases.csv", "closure_date")
    assert closure["row"] == 12  # F6's first row: the header is row 1
    assert "closed before the family was taken on" in closure["problem"]
    f7 = by_family["F7"].set_index("field")["problem"]
    assert "ASB is not a headline of sf-2022" in f7["entry_needs"]
    assert "'REL:31/02/2025' has no date that can be read" in f7["outcomes_recorded"]
    assert set(problems["family_id"]) == {"F6", "F7"}


def test_recorded_outcomes_read_both_date_orders(built):
    recorded = built.cases.recorded.set_index(["family_id", "headline"])["recorded_on"]
    assert recorded[("F1", "HLT")] == D("2025-11-01")  # written 01/11/2025
    assert recorded[("F2", "REL")] == D("2025-11-02")  # written 2025-11-02


def test_rows_of_one_family_that_disagree_are_a_problem():
    data = scenario.tables()["la_cases"]
    data.loc[data["record_id"] == "LS1", "closure_date"] = D("2026-03-01")
    from criteria.cases import case_facts
    facts = case_facts(data, FRAMEWORK.headline_codes, "sf-2022", CONTRACTS["la_cases"].date_formats,
                       scenario.REFERENCE, 6)
    assert "the family's rows give different closure dates" in set(facts.problems["problem"])


# --- outcomes ---------------------------------------------------------------------------------------------------

def test_an_offence_before_closure_leaves_the_outcome_sustained_from_the_closure(built):
    crm = need(built, "F1", "CRM")
    assert crm["status"] == SUSTAINED
    assert crm["met_since"] == D("2025-12-02")  # the day after the offence
    assert crm["clock_from"] == D("2026-02-15")  # the closure, which is later
    assert crm["months_sustained"] == 7 and crm["sustained_to"] == D("2026-09-30")
    fin = need(built, "F1", "FIN")
    assert fin["status"] == SUSTAINED and fin["met_since"] == D("2025-11-01")  # the spell ended 31 October


def test_an_incident_after_closure_restarts_the_clock(built):
    crm = need(built, "F2", "CRM")
    assert crm["status"] == MET
    assert crm["met_since"] == D("2026-05-02") and crm["clock_from"] == D("2026-05-02")
    assert crm["months_sustained"] == 4 and crm["months_to_go"] == 2


def test_a_benefit_still_paid_means_not_met(built):
    fin = need(built, "F3", "FIN")
    assert fin["status"] == NOT_MET and "still going" in fin["reason"]


def test_a_call_out_is_not_an_offence(built):
    assert need(built, "F1", "CRM")["met_since"] == D("2025-12-02")  # P9 (a call-out in August) does not count


def test_a_record_reaching_the_family_through_a_waiting_pair_holds_the_outcome(built):
    crm = need(built, "F8", "CRM")
    assert crm["status"] == PENDING_REVIEW
    evidence = built.status.evidence
    breaking = evidence[(evidence["family_id"] == "F8") & (evidence["headline"] == "CRM")].iloc[0]
    assert breaking["record_id"] == "P8" and breaking["link_probability"] == pytest.approx(0.83)


def test_attendance_is_judged_over_all_of_a_pupils_schools(built):
    edu = need(built, "F10", "EDU")
    assert edu["status"] == SUSTAINED
    assert edu["met_since"] == D("2025-10-01")  # the return covers the period
    records = built.status.evidence
    assert set(records.loc[(records["family_id"] == "F10") & (records["headline"] == "EDU"), "record_id"]) == \
        {"E10a", "E10b"}


def test_a_plan_ended_dates_the_safety_outcome_and_an_open_one_fails_it(built):
    saf = need(built, "F10", "SAF")
    assert saf["status"] == SUSTAINED and saf["met_since"] == D("2025-12-20")
    assert need(built, "F11", "SAF")["status"] == NOT_MET


def test_an_open_case_has_met_outcomes_but_no_sustain_clock(built):
    hlt = need(built, "F11", "HLT")
    assert hlt["status"] == NOT_MET  # nothing recorded yet
    f4 = need(built, "F4", "HLT")
    assert f4["status"] == MET and f4["clock_from"] == D("2026-06-01") and f4["months_to_go"] == 3


def test_only_families_taken_on_are_tracked(built):
    assert "F12" not in set(built.status.needs["family_id"])
    tracked = built.status.needs.groupby("family_id").size()
    assert tracked.drop("F7").eq(3).all()
    assert tracked["F7"] == 2  # ASB is no headline: a problem of the case record, with no outcome to track


# --- claims -----------------------------------------------------------------------------------------------------

def claims_for(built, register: pd.DataFrame | None = None):
    register = register if register is not None else read_register(Path("/nonexistent"))
    in_education = set(built.linked.loc[built.linked["source"] == "education", "person_id"])
    return assess_claims(FRAMEWORK, built.cases, built.status, built.members, in_education, register, PERIOD)


def test_claimable_families_and_why_the_others_are_not(built):
    claims = claims_for(built)
    status = claims.families.set_index("family_id")
    assert set(status.index[status["claim_status"] == CLAIMABLE]) == {"F1", "F9", "F10"}
    reasons = status["reasons"]
    assert "not every need at entry sustained" in reasons["F2"]
    assert "not every need at entry sustained" in reasons["F3"]
    assert "not closed, or closed less than the sustain period ago" in reasons["F4"]
    assert "not closed, or closed less than the sustain period ago" in reasons["F5"]
    assert "a problem in the case record" in reasons["F6"] and "a problem in the case record" in reasons["F7"]
    assert "a need pending an analyst's decision" in reasons["F8"]
    assert reasons["F13"] == "no family action plan date"
    assert "F12" not in status.index


def test_the_claims_file_gives_each_need_its_outcome_and_dates(built):
    row = claims_for(built).claims.set_index("family_id").loc["F1"]
    assert row["claim_id"] == "CLM-202609-F1"
    assert (row["CRM_outcome"], str(row["CRM_achieved"]), str(row["CRM_sustained_to"])) == \
        (SUSTAINED, "2025-12-02", "2026-09-30")
    assert str(row["FIN_achieved"]) == "2025-11-01" and str(row["HLT_achieved"]) == "2025-11-01"
    assert pd.isna(row["EDU_outcome"])  # not a need at entry
    assert "forename" not in row.index and "dob" not in row.index


def test_a_family_is_never_claimed_twice(tmp_path, built):
    register = tmp_path / "register.parquet"
    register_claims(register, pd.DataFrame({"family_id": ["F9"], "claim_id": ["CLM-202606-F9"]}), "2026-06", "run-a")
    claims = claims_for(built, read_register(register))
    status = claims.families.set_index("family_id")
    assert status.loc["F9", "claim_status"] == CLAIMED_BEFORE and status.loc["F9", "claimed_in"] == "2026-06"
    assert "F9" not in set(claims.claims["family_id"])
    # The same period run again claims the same families: the register holds them for this period only.
    register_claims(register, claims.claims, PERIOD, "run-b")
    again = claims_for(built, read_register(register)).families.set_index("family_id")
    assert again.loc["F1", "claim_status"] == CLAIMABLE
    register_claims(register, claims.claims, PERIOD, "run-c")
    assert sorted(read_register(register)["family_id"]) == ["F1", "F10", "F9"]


def test_a_family_without_a_dependent_child_when_taken_on_is_not_claimable(built):
    members = built.members.copy()
    members.loc[members["person_id"] == "S1", "dob"] = D("2005-01-01")  # 20 when taken on
    in_education = set()
    claims = assess_claims(FRAMEWORK, built.cases, built.status, members, in_education,
                           read_register(Path("/nonexistent")), PERIOD)
    reasons = claims.families.set_index("family_id").loc["F1"]
    assert reasons["claim_status"] == NOT_CLAIMABLE and "no dependent child when taken on" in reasons["reasons"]


def test_a_member_of_unknown_age_counts_against_an_outcome():
    """Eligibility leaves out a member whose age is unknown; an outcome must not be met by leaving out their records."""
    data = scenario.tables()
    linked = scenario.linked()
    linked.loc[linked["record_id"] == "W3", "person_id"] = "M1"  # a benefit still paid, to F1's adult
    members = scenario.members()
    members.loc[members["person_id"] == "M1", ["dob", "age", "role"]] = [pd.NaT, None, "unknown"]
    from criteria.cases import case_facts
    from criteria.outcome_status import outcome_status
    cases = case_facts(data["la_cases"], FRAMEWORK.headline_codes, "sf-2022", CONTRACTS["la_cases"].date_formats,
                       scenario.REFERENCE, 6)
    status = outcome_status(scenario.PLAN, data, linked, scenario.pending(), members, cases, scenario.REFERENCE,
                            scenario.PERIOD_START)
    fin = status.needs[(status.needs["family_id"] == "F1") & (status.needs["headline"] == "FIN")].iloc[0]
    assert fin["status"] == NOT_MET
