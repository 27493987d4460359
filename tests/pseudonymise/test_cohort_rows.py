"""Who is a row of the cohort file: members of eligible families, less opt-outs and members of unknown age."""

from __future__ import annotations

import pandas as pd

from criteria.framework import load_framework
from data.contract import load_contracts
from pseudonymise.keys import new_key
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.submission import SENT_ROLES, RunContext, build_submission

FRAMEWORK = load_framework("sf-2022", load_contracts()).framework
CONTEXT = RunContext("E99999999", "r1", "2026-09-30", "sf-2022 v3")


def family(family_id: str, eligible: bool) -> dict:
    needs = {f"need_{code}": int(code in ("EDU", "FIN", "HOU")) for code in FRAMEWORK.headline_codes}
    return {"family_id": family_id, "eligible": eligible, "needs_count": 3, **needs}


def test_a_member_of_unknown_age_is_held_out_and_counted_and_the_family_is_still_sent():
    families = pd.DataFrame([family("F1", True), family("F2", False)])
    members = pd.DataFrame({"family_id": ["F1", "F1", "F1", "F1", "F2"], "person_id": ["A", "C", "U", "O", "X"],
                            "role": ["adult", "child", "unknown", "adult", "adult"]})
    people = pd.DataFrame({
        "forename": "ANN", "surname": "LEE", "dob": [pd.Timestamp("1980-01-01"), pd.Timestamp("2015-01-01"), pd.NaT,
                                                      pd.Timestamp("1979-01-01"), pd.Timestamp("1970-01-01")],
        "sex": "F", "postcode": "LS9 1AA", "nino": None, "nhs_number": None,
    }, index=pd.Index(["A", "C", "U", "O", "X"], name="person_id"))
    cohort, crosswalk, counts = build_submission(FRAMEWORK, families, members, people, {"O"},
                                                 Pseudonymiser(new_key("council")), Pseudonymiser(new_key("evaluation")),
                                                 CONTEXT)
    assert sorted(crosswalk["person_id"]) == ["A", "C"]
    assert set(cohort["role"]) == set(SENT_ROLES) == {"adult", "child"}
    assert counts["persons_held_out_role_unknown"] == 1 and counts["persons_left_out_by_opt_out"] == 1
    assert counts["families"] == 1 and counts["rows"] == 2


def test_opt_outs_are_looked_for_among_the_families_members_whatever_the_row_order():
    import numpy as np

    from pseudonymise.cohort import members_rows

    records = pd.DataFrame({"source": ["la_cases", "police", "police", "dwp_benefits"],
                            "record_id": ["L1", "P1", "P2", "W1"]})
    linked = records.assign(person_id=["A", "A", "B", "C"], match_probability=[None, 0.99, 0.98, 0.97])
    members = pd.DataFrame({"family_id": ["F1", "F2"], "person_id": ["A", "C"]})
    assert list(members_rows(records, linked, members)) == [True, True, False, True]
    shuffled = records.iloc[[3, 1, 0, 2]].reset_index(drop=True)
    assert list(members_rows(shuffled, linked, members)) == [True, True, True, False]
    assert members_rows(records.iloc[:0], linked.iloc[:0], members).dtype == np.bool_
