"""Pseudonyms: deterministic for a key, label and value; different when any of those differs."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudonymise.keys import SecretKey
from pseudonymise.pseudonyms import Pseudonymiser

keys = st.binary(min_size=32, max_size=48)
labels = st.sampled_from(["nino", "nhs_number", "person", "family", "surname_initial_dob_sex"])
values = st.text(min_size=1, max_size=40)


def p(key: bytes) -> Pseudonymiser:
    return Pseudonymiser(SecretKey("council", key))


@given(keys, labels, values)
def test_a_pseudonym_is_hmac_sha256_of_the_scheme_the_label_and_the_value(key, label, value):
    """As the submission specification states it, so that the pseudonyms of earlier months stay the same."""
    message = b"sfmatch-pseudonym-v1\x1f" + label.encode() + b"\x1f" + value.encode("utf-8")
    expected = hmac.new(key, message, hashlib.sha256).hexdigest()
    assert p(key).one(label, value) == expected
    assert p(key).column(label, pd.Series([value, value])).tolist() == [expected, expected]


@settings(max_examples=300)
@given(keys, labels, values)
def test_the_same_value_key_and_label_give_the_same_pseudonym(key, label, value):
    first = p(key).one(label, value)
    assert first == p(key).one(label, value)
    assert len(first) == 64 and int(first, 16) >= 0


@settings(max_examples=300)
@given(keys, keys, labels, values)
def test_a_different_key_gives_a_different_pseudonym(key, other, label, value):
    if key != other:
        assert p(key).one(label, value) != p(other).one(label, value)


@settings(max_examples=300)
@given(keys, labels, labels, values)
def test_a_different_field_label_gives_a_different_pseudonym(key, label, other, value):
    if label != other:
        assert p(key).one(label, value) != p(key).one(other, value)


@given(keys, st.lists(st.one_of(st.none(), st.just(""), values), max_size=20))
def test_a_column_is_the_pseudonym_of_each_value_and_empty_stays_empty(key, items):
    pseudonymiser = p(key)
    column = pseudonymiser.column("nino", pd.Series(items, dtype=object))
    for item, pseudonym in zip(items, column):
        if item in (None, ""):
            assert pd.isna(pseudonym)
        else:
            assert pseudonym == pseudonymiser.one("nino", item)


def test_the_value_is_never_in_the_pseudonym_and_equal_strings_in_two_fields_differ():
    pseudonymiser = p(b"k" * 32)
    assert "AB123456C" not in pseudonymiser.one("nino", "AB123456C")
    assert pseudonymiser.one("nino", "1234567890") != pseudonymiser.one("nhs_number", "1234567890")
