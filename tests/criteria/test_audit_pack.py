"""The audit pack: a page per claim an auditor reads in a browser, identifiable or pseudonymised."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from criteria.audit_pack import AuditContext, write_audit_packs
from criteria.claims import assess_claims, read_register
from pseudonymise.keys import new_key
from pseudonymise.pseudonyms import Pseudonymiser
from tests.criteria import outcome_scenario as scenario
from tests.criteria.outcome_scenario import FRAMEWORK, PLAN

CONTEXT = AuditContext(run_id="20260930-abc", period="2026-09", reference_date="2026-09-30", framework="sf-2022 v3",
                       plan="sf-2022-outcomes v1",
                       input_hashes={"police.csv": "0" * 64})
DECISIONS = pd.DataFrame([dict(left_source="la_cases", left_record_id="LS1", right_source="police",
                               right_record_id="P1", decision="link", decided_at="2026-09-12T10:00:00")])


@pytest.fixture(scope="module")
def built():
    built = scenario.build()
    in_education = set(built.linked.loc[built.linked["source"] == "education", "person_id"])
    claims = assess_claims(FRAMEWORK, built.cases, built.status, built.members, in_education,
                           read_register(Path("/nonexistent")), "2026-09")
    return built, claims


def write(built, folder: Path, mode: str = "identifiable", pseudonymiser=None) -> list[Path]:
    data, claims = built
    return write_audit_packs(claims, data.status, data.members, data.tables, data.linked, DECISIONS, FRAMEWORK, PLAN,
                             CONTEXT, folder, mode, pseudonymiser)


def test_a_page_per_claim_with_the_case_the_records_and_the_decisions(built, tmp_path):
    written = write(built, tmp_path)
    assert sorted(p.name for p in written) == ["CLM-202609-F1.html", "CLM-202609-F10.html", "CLM-202609-F9.html",
                                               "index.html"]
    page = (tmp_path / "CLM-202609-F1.html").read_text(encoding="utf-8")
    for expected in ("KW1", "2025-01-10", "2026-02-15",  # lead practitioner, taken on, closed
                     "CRM · Crime prevention and tackling crime", "no offence or anti-social behaviour incident",
                     "P1", "2025-12-01", "0.9900", "link (2026-09-12)",  # the offence, its link and the decision on it
                     "W1", "2025-10-31", "0.9990",  # the benefit spell that ended
                     "recorded as met by the keyworker", "2025-11-01",
                     "Alex Case1, born 05/05/1985", "identifiable personal data", "0" * 64):
        assert expected in page, expected
    assert "CLM-202609-F10.html" in (tmp_path / "index.html").read_text(encoding="utf-8")
    assert all(p.stat().st_mode & 0o077 == 0 for p in written)


def test_the_pages_stand_alone(built, tmp_path):
    for path in write(built, tmp_path):
        html = path.read_text(encoding="utf-8")
        assert "<script" not in html and "http://" not in html and "https://" not in html, path.name


def test_a_pseudonymised_pack_names_nobody(built, tmp_path):
    pseudonymiser = Pseudonymiser(new_key("council"))
    write(built, tmp_path, "pseudonymised", pseudonymiser)
    page = (tmp_path / "CLM-202609-F1.html").read_text(encoding="utf-8")
    assert "Case1" not in page and "05/05/1985" not in page and "pseudonymised personal data" in page
    assert pseudonymiser.one("audit-person", "M1")[:16] in page
    assert "P1" in page and "2025-12-01" in page  # the records and their dates are still there to audit


def test_a_pseudonymised_pack_needs_the_key(built, tmp_path):
    with pytest.raises(ValueError, match="needs the council key"):
        write(built, tmp_path, "pseudonymised")
