"""Standardised person records: validity rules applied, placeholders spotted, codes shared across fields."""

from __future__ import annotations

import pandas as pd

from tests.factories import records, table


def test_invalid_identifiers_are_kept_for_audit_but_not_used():
    built = records(la_cases=table(
        {"nino": "AB123456C", "nhs_number": "9434765870", "upn": "B801200005001"},
        {"nino": "QQ123456C", "nhs_number": "9434765871", "upn": "A801200005001"},
        {"nhs_number": "9990000018"},
        {},
    )).frame
    assert built["nino"].tolist()[:2] == ["AB123456C", pd.NA]
    assert built["nino_status"].astype(str).tolist() == ["valid", "invalid", "missing", "missing"]
    assert built["nhs_status"].astype(str).tolist() == ["valid", "invalid", "invalid", "missing"]
    assert built["upn_status"].astype(str).tolist() == ["valid", "invalid", "missing", "missing"]
    assert (built["nino_code"] >= 0).tolist() == [True, False, False, False]


def test_a_nino_carried_by_clearly_different_people_is_a_placeholder():
    built = records(housing=table(
        {"forename": "Amy", "surname": "Jones", "dob": "1980-01-01", "nino": "AB123456C"},
        {"forename": "Tariq", "surname": "Hussain", "dob": "1992-05-05", "nino": "AB123456C"},
        {"forename": "Ann", "surname": "Smith", "dob": "1975-03-03", "nino": "CE111111A"},
        {"forename": "Ann", "surname": "Smith", "dob": "1975-03-30", "nino": "CE111111A"},  # one person, a typo
    )).frame
    assert built["nino_status"].astype(str).tolist() == ["placeholder", "placeholder", "valid", "valid"]
    assert built["nino"].isna().tolist() == [True, True, False, False]


def test_placeholders_are_found_within_one_extract_and_excluded_everywhere():
    built = records(
        police=table(
            {"forename": "Amy", "surname": "Jones", "nino": "AB123456C"},
            {"forename": "Tariq", "surname": "Hussain", "nino": "AB123456C"},
        ),
        dwp_benefits=table({"forename": "Ben", "surname": "Cole", "nino": "AB123456C"}, prefix="D"),
    ).frame
    assert set(built["nino_status"].astype(str)) == {"placeholder"}


def test_a_stand_in_number_on_thousands_of_records_is_found_without_comparing_every_pair():
    surnames = ["Jones", "Hussain", "Smith", "Okafor", "Novak", "Evans", "Patel"]
    rows = [{"forename": f"Name{i % 50}", "surname": surnames[i % len(surnames)], "dob": f"19{50 + i % 40}-01-01",
             "nino": "AB123456C"} for i in range(6000)]
    # The same person on forty police records is still one person.
    rows += [{"forename": "Ann", "surname": "Smith", "dob": "1975-03-03", "nino": "CE111111A"}] * 40
    built = records(police=table(*rows)).frame
    assert set(built["nino_status"].astype(str)[:6000]) == {"placeholder"}
    assert set(built["nino_status"].astype(str)[6000:]) == {"valid"}


def test_implausible_dates_of_birth_are_not_used():
    built = records(a=table({"dob": "1850-01-01"}, {"dob": "2030-01-01"}, {"dob": "2001-02-03"})).frame
    assert built["dob"].isna().tolist() == [True, True, False]
    assert built["dob_int"].tolist() == [-1, -1, 20010203]
    assert built["birth_year"].tolist() == [-1, -1, 2001]


def test_postcodes_give_district_and_sector_and_bad_ones_are_dropped():
    built = records(a=table({"postcode": "LS1 4AP"}, {"postcode": "NOT A PC"})).frame
    assert built["postcode"].tolist() == ["LS1 4AP", pd.NA]
    assert built["postcode_sector"].tolist()[0] == "LS1 4"
    assert built["postcode_district"].tolist()[0] == "LS1"


def test_one_vocabulary_lets_a_forename_be_compared_with_a_surname():
    built = records(a=table({"forename": "James", "surname": "Thomas"}, {"forename": "Thomas", "surname": "James"}))
    frame = built.frame
    assert frame.loc[0, "fn"] == frame.loc[1, "sn"] and frame.loc[0, "sn"] == frame.loc[1, "fn"]
    assert built.vocabulary[frame.loc[0, "fn"]] == "JAMES"


def test_nickname_codes_point_at_the_canonical_name():
    built = records(a=table({"forename": "Bill"}, {"forename": "William"}, {"forename": "Zebedee"}))
    frame = built.frame
    assert frame.loc[0, "nick1"] == frame.loc[1, "nick1"] == frame.loc[1, "fn"]
    assert frame.loc[2, "nick1"] == frame.loc[2, "fn"]  # not in the table: its own canonical


def test_identity_keys_follow_person_details_not_the_address():
    built = records(a=table(
        {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS1 4AP"},
        {"forename": "Ann", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS2 7AB"},
        {"forename": "Anne", "surname": "Lee", "dob": "2001-02-03", "postcode": "LS1 4AP"},
    )).frame
    keys = built["identity_key"].tolist()
    assert keys[0] == keys[1] != keys[2]


def test_records_from_one_event_share_an_event_code():
    police = table({"forename": "A"}, {"forename": "B"}, {"forename": "C"}, incident_id=None)
    police["incident_id"] = ["IN1", "IN1", "IN2"]
    built = records(police=police).frame
    codes = built["event_code"].tolist()
    assert codes[0] == codes[1] != codes[2]


def test_nhs_numbers_of_one_repeated_digit_are_placeholders_although_they_pass_modulus_11():
    built = records(la_cases=table(
        {"nhs_number": "0000000000"}, {"nhs_number": "1111111111"}, {"nhs_number": "2222222222"},
        {"nhs_number": "9434765870"},
    )).frame
    assert built["nhs_status"].astype(str).tolist() == ["placeholder", "placeholder", "placeholder", "valid"]
    assert built["nhs_number"].isna().tolist() == [True, True, True, False]
    assert (built["nhs_number_code"] >= 0).tolist() == [False, False, False, True]


def test_an_nhs_number_carried_by_clearly_different_people_is_a_placeholder():
    built = records(police=table(
        {"forename": "Amy", "surname": "Jones", "dob": "1980-01-01", "nhs_number": "9434765870"},
        {"forename": "Tariq", "surname": "Hussain", "dob": "1992-05-05", "nhs_number": "9434765870"},
        {"forename": "Ann", "surname": "Smith", "dob": "1975-03-03", "nhs_number": "4010232137"},
        {"forename": "Ann", "surname": "Smith", "dob": "1975-03-03", "nhs_number": "4010232137"},
    )).frame
    assert built["nhs_status"].astype(str).tolist() == ["placeholder", "placeholder", "valid", "valid"]
