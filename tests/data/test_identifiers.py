"""The identifier rules, checked against python-stdnum and the published worked examples."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import stdnum.gb.nhs
import stdnum.gb.upn
from hypothesis import given, settings
from hypothesis import strategies as st

from data.identifiers import (
    clean_identifier,
    nhs_check_digits,
    nhs_number_is_valid,
    nino_is_valid,
    normalise_postcode,
    postcode_district,
    postcode_is_valid,
    postcode_sector,
    upn_check_letters,
    upn_is_valid,
    upn_local_authority_numbers,
)

SPEC_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
ADMIN_PREFIXES = ("OO", "CR", "FY", "MW", "NC")

ten_digits = st.text(alphabet="0123456789", min_size=10, max_size=10)
nino_like = st.builds(
    lambda a, b, digits, s: f"{a}{b}{digits}{s}",
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    st.text(alphabet="0123456789", min_size=6, max_size=6), st.sampled_from("ABCDEFGHZ"),
)


@settings(max_examples=500)
@given(st.lists(ten_digits, min_size=1, max_size=50))
def test_nhs_validity_agrees_with_stdnum_outside_the_test_range(numbers):
    ours = nhs_number_is_valid(pd.Series(numbers))
    expected = [stdnum.gb.nhs.is_valid(n) and not n.startswith("999") for n in numbers]
    assert ours.tolist() == expected


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_nhs_check_digit_makes_a_number_stdnum_accepts_unless_it_is_ten(body):
    check = int(nhs_check_digits(np.array([[int(c) for c in body]]))[0])
    if check == 10:
        assert not any(stdnum.gb.nhs.is_valid(body + str(d)) for d in range(10))
    else:
        assert stdnum.gb.nhs.is_valid(body + str(check))


def test_nhs_worked_examples_and_the_test_range():
    numbers = pd.Series(["9434765870", "9434765871", "4010232137", "9990000018", "123", None])
    assert nhs_number_is_valid(numbers).tolist() == [True, False, True, False, False, False]


@settings(max_examples=500)
@given(st.lists(nino_like, min_size=1, max_size=50))
def test_nino_rule_is_the_spec_regex_less_the_administrative_prefixes(values):
    ours = nino_is_valid(pd.Series(values))
    expected = [bool(SPEC_NINO.match(v)) and v[:2] not in ADMIN_PREFIXES for v in values]
    assert ours.tolist() == expected


def test_nino_examples():
    values = pd.Series(["AB123456C", "QQ123456C", "TN311284M", "ZZ999999D", "NC000000A", "CR123456A", "AO123456A", None])
    assert nino_is_valid(values).tolist() == [True, False, False, False, False, False, False, False]


@st.composite
def upn_like(draw):
    la = draw(st.sampled_from(sorted(upn_local_authority_numbers()) + ["000", "999", "123"]))
    body = la + draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    last = draw(st.sampled_from("0123456789ABCDEFGHJKLMNPQRTUVWXYZ"))
    body += last
    letter = draw(st.one_of(st.just(stdnum.gb.upn.calc_check_digit(body)), st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ")))
    return letter + body


@settings(max_examples=500)
@given(st.lists(upn_like(), min_size=1, max_size=50))
def test_upn_validity_agrees_with_stdnum(values):
    assert upn_is_valid(pd.Series(values)).tolist() == [stdnum.gb.upn.is_valid(v) for v in values]


def test_upn_worked_example_from_dfe():
    assert upn_check_letters(pd.Series(["801200005001"])).tolist() == ["B"]
    assert upn_is_valid(pd.Series(["B801200005001", "A801200005001", "E000200005001"])).tolist() == [True, False, False]


def test_upn_local_authorities_come_from_stdnum():
    known = upn_local_authority_numbers()
    assert "801" in known and "000" not in known and len(known) > 100


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUVWXYZ", min_size=12, max_size=12))
def test_upn_check_letter_matches_stdnum(body):
    assert upn_check_letters(pd.Series([body])).tolist() == [stdnum.gb.upn.calc_check_digit(body)]


def test_cleaning_removes_spaces_hyphens_and_case():
    values = pd.Series(["ab 12 34 56 c", "943-476-5870", " b801200005001 ", "", None])
    assert clean_identifier(values).tolist() == ["AB123456C", "9434765870", "B801200005001", pd.NA, pd.NA]


def test_postcodes_are_normalised_with_district_and_sector():
    raw = pd.Series(["ls1 4ap", "LS14AP", " sw1a-1aa", "M1 1AE", "nonsense", None])
    normalised = normalise_postcode(raw)
    assert normalised.tolist()[:4] == ["LS1 4AP", "LS1 4AP", "SW1A 1AA", "M1 1AE"]
    assert postcode_is_valid(normalised).tolist() == [True, True, True, True, False, False]
    assert postcode_district(normalised[:4]).tolist() == ["LS1", "LS1", "SW1A", "M1"]
    assert postcode_sector(normalised[:4]).tolist() == ["LS1 4", "LS1 4", "SW1A 1", "M1 1"]


@given(st.from_regex(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}", fullmatch=True))
def test_normalising_a_valid_postcode_in_any_spelling_gives_it_back(postcode):
    variants = pd.Series([postcode, postcode.lower(), postcode.replace(" ", ""), f"  {postcode}  "])
    assert normalise_postcode(variants).tolist() == [postcode] * 4
