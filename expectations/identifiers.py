"""A custom expectation: no value of a column may look like a personal identifier or a full date.

It is a built-in GX expectation (values must not match any of a list of
regular expressions) with the list fixed to the shapes that must never leave
the council. Each pattern matches a whole value, so a 64-character hex
pseudonym, which contains runs of digits, is not mistaken for an NHS number.
"""

from __future__ import annotations

from functools import cache
from typing import List

from expectations.runner import gx_expectations

IDENTIFIER_SHAPES: dict[str, str] = {
    "NINO": r"^\s*[A-Za-z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-Da-d]\s*$",
    "NHS number": r"^\s*\d{3}[\s-]?\d{3}[\s-]?\d{4}\s*$",
    "UPN": r"^\s*[A-Za-z]\d{11}[0-9A-Za-z]\s*$",
    "full postcode": r"^\s*[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}\s*$",
    "full date": r"^\s*(?:\d{4}-\d{2}-\d{2}|\d{1,2}/\d{1,2}/\d{4}|\d{8})(?:\s.*)?$",
}

@cache
def identifier_expectation():
    """The expectation class, defined on first use so that importing this module does not import GX."""
    gxe = gx_expectations()

    class ExpectColumnValuesToNotLookLikeIdentifiers(gxe.ExpectColumnValuesToNotMatchRegexList):
        """No value may have the shape of a NINO, an NHS number, a UPN, a full postcode or a full date."""

        regex_list: List[str] = list(IDENTIFIER_SHAPES.values())
        description: str = "values must not look like a NINO, NHS number, UPN, full postcode or full date"

    return ExpectColumnValuesToNotLookLikeIdentifiers
