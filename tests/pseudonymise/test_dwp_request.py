"""The DWP confirm-back: the request sealed for DWP, and the reply reconciled with it."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from pseudonymise.dwp_request import (
    MANIFEST_FILE, REGISTER_FILE, REQUEST_COLUMNS, REQUEST_FILE, build_request, latest_register, reconcile, seal_request,
)
from pseudonymise.keys import load_private_key, load_public_key, new_key, new_recipient_pair
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.transfer import decrypt_stream

D = pd.Timestamp
MEMBERS = pd.DataFrame([
    dict(family_id="F1", person_id="A", dob=D("1985-05-05"), role="adult"),
    dict(family_id="F1", person_id="C", dob=D("2014-04-04"), role="child"),
    dict(family_id="F2", person_id="B", dob=D("1990-01-01"), role="adult"),
])
RECORDS = pd.DataFrame([
    dict(source="la_cases", record_id="L1", forename="ANNA", surname="SMITH", postcode="LS7 4WF", nino="AB123456C",
         nino_status="valid"),
    dict(source="la_cases", record_id="L2", forename="CARL", surname="SMITH", postcode="LS7 4WF", nino=None,
         nino_status="missing"),
    dict(source="la_cases", record_id="L3", forename="BEN", surname="JONES", postcode="LS11 4UT", nino=None,
         nino_status="missing"),
    dict(source="dwp_benefits", record_id="W3", forename="BEN", surname="JONES", postcode="LS11 4UT",
         nino="CE654321A", nino_status="valid"),
])
LINKED = pd.DataFrame([("la_cases", "L1", "A"), ("la_cases", "L2", "C"), ("la_cases", "L3", "B"),
                       ("dwp_benefits", "W3", "B")], columns=["source", "record_id", "person_id"])


@pytest.fixture(scope="module")
def council():
    return Pseudonymiser(new_key("council"))


def test_the_request_lists_adults_with_the_identifiers_dwp_matches_on(council):
    request = build_request(MEMBERS, RECORDS, LINKED, "2026-09", council)
    rows = request.rows.set_index("surname")
    assert list(request.rows.columns) == REQUEST_COLUMNS
    assert sorted(rows.index) == ["JONES", "SMITH"]  # the child is not asked about
    assert rows.loc["SMITH", "nino"] == "AB123456C"
    assert rows.loc["JONES", "nino"] == "CE654321A"  # the council has none: the one the linkage found
    assert rows.loc["JONES", "dob"] == "1990-01-01"
    assert request.rows["request_reference"].str.fullmatch(r"R[0-9A-F]{15}").all()
    assert set(request.register.columns) == {"request_reference", "request_id", "family_id", "person_id", "record_id"}


def test_references_repeat_for_a_request_and_differ_between_requests(council):
    first = build_request(MEMBERS, RECORDS, LINKED, "2026-09", council).rows["request_reference"]
    again = build_request(MEMBERS, RECORDS, LINKED, "2026-09", council).rows["request_reference"]
    later = build_request(MEMBERS, RECORDS, LINKED, "2026-10", council).rows["request_reference"]
    assert list(first) == list(again) and not set(first) & set(later)


def test_only_dwp_can_open_the_request(council, tmp_path):
    new_recipient_pair(tmp_path / "dwp.pem", tmp_path / "dwp.pub")
    request = build_request(MEMBERS, RECORDS, LINKED, "2026-09", council)
    folder = tmp_path / "requests" / "2026-09"
    manifest = json.loads(seal_request(request, folder, load_public_key(tmp_path / "dwp.pub"),
                                       {"request_id": "2026-09"}).read_text())
    assert manifest["rows"] == 2 and manifest["with_nino"] == 2
    sealed = (folder / REQUEST_FILE).read_bytes()
    assert b"SMITH" not in sealed and b"AB123456C" not in sealed
    plain = io.BytesIO()
    decrypt_stream(io.BytesIO(sealed), plain, load_private_key(tmp_path / "dwp.pem"))
    opened = pd.read_csv(io.BytesIO(plain.getvalue()), dtype=str)
    assert list(opened["request_reference"]) == list(request.rows["request_reference"])
    assert sorted(p.name for p in folder.iterdir()) == sorted([REQUEST_FILE, REGISTER_FILE, MANIFEST_FILE])
    assert all(p.stat().st_mode & 0o077 == 0 for p in folder.iterdir())
    register = latest_register(tmp_path / "requests")
    assert "surname" not in register.columns and len(register) == 2


def test_the_reply_reconciles_with_the_request(council):
    request = build_request(MEMBERS, RECORDS, LINKED, "2026-09", council)
    ref = request.register.set_index("person_id")["request_reference"]
    reply = pd.DataFrame({"record_id": ["W3", "W4", "W5", "W6"],
                          "request_reference": [ref["B"], ref["A"], None, "RFFFFFFFFFFFFFFF"]})
    linked = pd.concat([LINKED, pd.DataFrame([("dwp_benefits", "W4", "Z"), ("dwp_benefits", "W5", "Y"),
                                              ("dwp_benefits", "W6", "X")], columns=LINKED.columns)])
    summary, detail = reconcile(request.register, reply, linked)
    assert summary.requested == 2 and summary.came_back == 2
    assert summary.came_back_matched == 1  # W3 went to B, the adult asked about
    assert summary.came_back_not_matched == 1  # W4 answers A, but the linkage put it with someone else
    assert summary.not_returned == 0 and summary.unknown_references == 1 and summary.reply_rows_with_reference == 3
    assert set(detail.columns) == {"request_reference", "family_id", "came_back", "reply_rows", "matched"}
