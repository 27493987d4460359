"""Opt-outs: read with clear errors, matched through the linkage by whichever identifier is given, kept as a
restriction register of keyed hashes only."""

from __future__ import annotations

import pandas as pd
import pytest

import re
import stat

from typer.testing import CliRunner

from flows.cli import app
from pseudonymise.keys import new_key, write_key_file
from pseudonymise.optouts import OptOutError, load_opt_outs, match_opt_outs, read_opt_outs
from tests.factories import records, table


def listing(tmp_path, text: str):
    path = tmp_path / "opt_outs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_person_listed_by_one_identifier_is_found_under_all_their_records(tmp_path):
    built = records(
        la_cases=table({"forename": "Amina", "surname": "Yusuf", "dob": "1990-02-03", "nhs_number": "9434765870"}, prefix="L"),
        dwp_benefits=table({"forename": "Amina", "surname": "Yusuf", "dob": "1990-02-03", "nino": "AB123456C"}, prefix="D"),
        police=table({"forename": "Sam", "surname": "Cole", "dob": "1985-05-05"}, prefix="P"),
    ).frame
    linked = pd.DataFrame({"source": ["dwp_benefits", "la_cases", "police"], "record_id": ["D0", "L0", "P0"],
                           "person_id": ["P1", "P1", "P2"]})
    opt_outs = load_opt_outs(listing(tmp_path, "NHS Number,nino\n943 476 5870,\n"), None)
    persons, stats = match_opt_outs(opt_outs, built, linked)
    assert persons == {"P1"}
    assert (stats.listed, stats.matched, stats.persons_left_out, stats.unmatched) == (1, 1, 1, 0)

    by_name = load_opt_outs(listing(tmp_path, "forename,surname,dob\nSAM,cole,05/05/1985\nNo,Body,01/01/2000\n"), None)
    persons, stats = match_opt_outs(by_name, built, linked)
    assert persons == {"P2"} and stats.unmatched == 1


def test_a_row_that_identifies_nobody_is_named(tmp_path):
    with pytest.raises(OptOutError, match=r"row\(s\) 3 give no valid NINO"):
        read_opt_outs(listing(tmp_path, "nino,forename,surname,dob\nAB123456C,,,\nQQ123456C,Ann,,\n"))


def test_unexpected_columns_are_refused(tmp_path):
    with pytest.raises(OptOutError, match="unexpected: address"):
        read_opt_outs(listing(tmp_path, "nino,address\nAB123456C,1 High St\n"))


def built_records():
    built = records(
        la_cases=table({"forename": "Amina", "surname": "Yusuf", "dob": "1990-02-03", "nhs_number": "9434765870"}, prefix="L"),
        dwp_benefits=table({"forename": "Amina", "surname": "Yusuf", "dob": "1990-02-03", "nino": "AB123456C"}, prefix="D"),
        police=table({"forename": "Sam", "surname": "Cole", "dob": "1985-05-05"}, prefix="P"),
    ).frame
    linked = pd.DataFrame({"source": ["dwp_benefits", "la_cases", "police"], "record_id": ["D0", "L0", "P0"],
                           "person_id": ["P1", "P1", "P2"]})
    return built, linked


PLAIN = "nino,nhs_number,forename,surname,dob\nAB 12 34 56 C,,,,\n,,sam,COLE,1985-05-05\n,,No,Body,01/01/2000\n"


def test_a_sealed_register_keeps_no_identifier_and_matches_as_the_list_did(tmp_path):
    key_file = write_key_file(new_key("opt-out"), tmp_path / "opt-out.key")
    register = tmp_path / "register.csv"
    result = CliRunner().invoke(app, ["optouts", "seal", str(listing(tmp_path, PLAIN)), "--out", str(register),
                                      "--key", str(key_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(register.stat().st_mode) == 0o600
    header, *rows = register.read_text().splitlines()
    assert header == "key_fingerprint,nino_hmac,nhs_number_hmac,name_dob_hmac"
    # Every cell is a key fingerprint, a keyed digest or empty, so no identifier survives in any form. Checked by
    # the cells' shape: a year's digits can occur inside a hex digest by chance, so a substring test would be flaky.
    cells = [cell for row in rows for cell in row.split(",")]
    assert len(rows) == 3 and all(re.fullmatch(r"[0-9a-f]*", cell) for cell in cells)
    for value in ("AB 12 34 56 C", "COLE", "SAM", "BODY", "1985-05-05", "05/05/1985", "01/01/2000"):
        assert value not in "\n".join(rows).upper()

    from pseudonymise.keys import read_key_file
    built, linked = built_records()
    persons, stats = match_opt_outs(load_opt_outs(register, read_key_file(key_file, "opt-out")), built, linked)
    assert persons == {"P1", "P2"}
    assert (stats.listed, stats.matched, stats.unmatched) == (3, 2, 1)

    # Next month's opt-outs are added to the register; someone listed twice is kept once.
    more = tmp_path / "more.csv"
    more.write_text("nino,nhs_number\nAB123456C,\n,9434765870\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["optouts", "seal", str(more), "--out", str(register), "--key", str(key_file)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(register)) == 4 and stat.S_IMODE(register.stat().st_mode) == 0o600


def test_a_register_is_refused_under_another_key_or_without_one(tmp_path):
    key_file = write_key_file(new_key("opt-out"), tmp_path / "opt-out.key")
    register = tmp_path / "register.csv"
    CliRunner().invoke(app, ["optouts", "seal", str(listing(tmp_path, PLAIN)), "--out", str(register),
                             "--key", str(key_file)])
    with pytest.raises(OptOutError, match="sealed with opt-out key .*, but the settings give key"):
        load_opt_outs(register, new_key("opt-out"))
    with pytest.raises(OptOutError, match="is sealed: set opt_out_key_file"):
        load_opt_outs(register, None)
    from pseudonymise.keys import read_key_file
    key = read_key_file(key_file, "opt-out")
    register.write_text(register.read_text() + f"{key.fingerprint},AB123456C,,\n")  # a plain NINO slipped in
    with pytest.raises(OptOutError, match="hold something other than keyed hashes"):
        load_opt_outs(register, key)
