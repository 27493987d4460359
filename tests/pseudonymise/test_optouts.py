"""Opt-outs: read with clear errors, matched through the linkage by whichever identifier is given."""

from __future__ import annotations

import pandas as pd
import pytest

from pseudonymise.optouts import OptOutError, match_opt_outs, read_opt_outs
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
    opt_outs = read_opt_outs(listing(tmp_path, "NHS Number,nino\n943 476 5870,\n"))
    persons, stats = match_opt_outs(opt_outs, built, linked)
    assert persons == {"P1"}
    assert (stats.listed, stats.matched, stats.persons_left_out, stats.unmatched) == (1, 1, 1, 0)

    by_name = read_opt_outs(listing(tmp_path, "forename,surname,dob\nSAM,cole,05/05/1985\nNo,Body,01/01/2000\n"))
    persons, stats = match_opt_outs(by_name, built, linked)
    assert persons == {"P2"} and stats.unmatched == 1


def test_a_row_that_identifies_nobody_is_named(tmp_path):
    with pytest.raises(OptOutError, match=r"row\(s\) 3 give no valid NINO"):
        read_opt_outs(listing(tmp_path, "nino,forename,surname,dob\nAB123456C,,,\nQQ123456C,Ann,,\n"))


def test_unexpected_columns_are_refused(tmp_path):
    with pytest.raises(OptOutError, match="unexpected: address"):
        read_opt_outs(listing(tmp_path, "nino,address\nAB123456C,1 High St\n"))
