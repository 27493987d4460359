"""The privacy scan the other tests rely on finds what it is meant to find."""

from __future__ import annotations

import pandas as pd

from tests.privacy import leaks, sensitive_values

PEOPLE = pd.DataFrame({
    "forename": ["Zoë", "Al"], "surname": ["Okonkwo-Smith", "Li"], "dob": pd.to_datetime(["2001-02-03", "1990-01-01"]),
    "nino": ["AB123456C", None], "nhs_number": ["9434765870", None], "upn": [None, "B801200005001"],
})


def test_each_kind_of_value_is_found():
    values = sensitive_values(PEOPLE)
    text = "seen ZOE OKONKWO-SMITH, 03/02/2001, nino AB123456C, nhs 9434765870, upn B801200005001"
    found = leaks(text, values)
    assert set(found) == {"name", "dob", "nino", "nhs_number", "upn"}


def test_short_names_and_parts_of_words_are_not_false_alarms():
    values = sensitive_values(PEOPLE)
    assert leaks("ALLOW LIKE Zoëtrope", values) == {}
