"""The public rules for UK person identifiers (NINO, NHS number, UPN, postcode).

They live in `data/` because the generator, the readers and the linkage all
need them and `data/` is the top of the import chain.

Every function is vectorised over a pandas Series: a monthly run checks
hundreds of thousands of values, and a per-value call (python-stdnum costs
about 5 us a value) would dominate standardisation. python-stdnum remains the
authority: the property tests check these functions against it, and the UPN
local-authority list is read from it rather than copied.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd
import stdnum.gb.upn

from data.tables import STRING

# HMRC NIM39110: the shape, then the prefixes that are never allocated and the
# administrative look-alikes (OO, CR, FY, MW, NC) that are not a person's number
# and so must never link two records. (Arrow's regex engine has no look-ahead,
# so the prefixes are a set rather than part of the pattern.)
NINO_SHAPE = re.compile(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]")
NINO_BLOCKED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ", "OO", "CR", "FY", "MW", "NC"})
POSTCODE_PATTERN = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}")
NHS_TEST_RANGE_PREFIX = "999"
NHS_NUMBER_SHAPE = re.compile(r"\d{10}")
# DfE check-letter table: A-Z without I, O and S.
UPN_CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"
UPN_SHAPE = re.compile(rf"[{UPN_CHECK_LETTERS}]\d{{11}}[0-9{UPN_CHECK_LETTERS}]")

_SEPARATORS = re.compile(r"[\s\-\./]+")


def clean_identifier(values: pd.Series) -> pd.Series:
    """Upper-case an identifier column and drop the spaces, hyphens and dots people type."""
    cleaned = values.astype(STRING).str.upper().str.replace(_SEPARATORS, "", regex=True)
    return cleaned.mask(cleaned == "")


def normalise_postcode(values: pd.Series) -> pd.Series:
    """One canonical spelling: upper case, one space before the three-character inward code."""
    compact = values.astype(STRING).str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    spaced = compact.str.slice(0, -3) + " " + compact.str.slice(-3)
    return spaced.where(compact.str.len().between(5, 7), compact).mask(compact == "")


def _fullmatch(values: pd.Series, pattern: re.Pattern[str]) -> np.ndarray:
    return values.astype(STRING).str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)


def nino_is_valid(values: pd.Series) -> np.ndarray:
    """True where a cleaned value is a NINO that can belong to a person."""
    values = values.astype(STRING)
    blocked = values.str.slice(0, 2).isin(NINO_BLOCKED_PREFIXES).fillna(False).to_numpy(dtype=bool)
    return _fullmatch(values, NINO_SHAPE) & ~blocked


def postcode_is_valid(values: pd.Series) -> np.ndarray:
    """True where a normalised value has the UK postcode shape."""
    return _fullmatch(values, POSTCODE_PATTERN)


def _digit_matrix(strings: pd.Series, width: int) -> np.ndarray:
    """Fixed-width digit strings as an (n, width) integer array, without a Python loop."""
    if strings.empty:
        return np.zeros((0, width), dtype=np.int64)
    joined = "".join(strings.tolist()).encode("ascii")
    return (np.frombuffer(joined, dtype=np.uint8).reshape(-1, width) - ord("0")).astype(np.int64)


def nhs_check_digits(first_nine: np.ndarray) -> np.ndarray:
    """The mod-11 check digit for rows of nine digits; 10 marks a body that has no valid number."""
    weights = np.arange(10, 1, -1)
    check = 11 - (first_nine @ weights) % 11
    return np.where(check == 11, 0, check)


def nhs_number_is_valid(values: pd.Series) -> np.ndarray:
    """True for a ten-digit NHS number whose check digit holds, outside the 999 test range."""
    values = values.astype(STRING)
    valid = _fullmatch(values, NHS_NUMBER_SHAPE)
    if valid.any():
        candidates = values[valid]
        digits = _digit_matrix(candidates, 10)
        check_ok = nhs_check_digits(digits[:, :9]) == digits[:, 9]
        not_test = ~candidates.str.startswith(NHS_TEST_RANGE_PREFIX).to_numpy(dtype=bool)
        valid[np.flatnonzero(valid)] = check_ok & not_test
    return valid


def _upn_char_values(chars: np.ndarray) -> np.ndarray:
    """Digits count as themselves; a letter counts as its place in the check-letter table."""
    is_digit = (chars >= ord("0")) & (chars <= ord("9"))
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[[ord(c) for c in UPN_CHECK_LETTERS]] = np.arange(len(UPN_CHECK_LETTERS))
    return np.where(is_digit, chars - ord("0"), lookup[chars])


def upn_check_letters(bodies: pd.Series) -> np.ndarray:
    """The DfE check letter for 12-character UPN bodies (positions 2 to 13)."""
    if bodies.empty:
        return np.array([], dtype="<U1")
    chars = np.frombuffer("".join(bodies.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 12)
    total = (_upn_char_values(chars) * np.arange(2, 14)).sum(axis=1)
    return np.array(list(UPN_CHECK_LETTERS))[total % 23]


@cache
def upn_local_authority_numbers() -> frozenset[str]:
    """The LA numbers that python-stdnum knows, found through its public API."""
    known = set()
    for number in range(1000):
        body = f"{number:03d}000000001"
        probe = stdnum.gb.upn.calc_check_digit(body) + body
        if stdnum.gb.upn.is_valid(probe):
            known.add(f"{number:03d}")
    return frozenset(known)


def upn_is_valid(values: pd.Series) -> np.ndarray:
    """True for a full or temporary UPN with a known LA number and a correct check letter."""
    values = values.astype(STRING)
    valid = _fullmatch(values, UPN_SHAPE)
    if valid.any():
        candidates = values[valid]
        known_la = candidates.str.slice(1, 4).isin(upn_local_authority_numbers()).to_numpy(dtype=bool)
        check_ok = upn_check_letters(candidates.str.slice(1)) == candidates.str.slice(0, 1).to_numpy(dtype=str)
        valid[np.flatnonzero(valid)] = known_la & check_ok
    return valid


def postcode_district(postcodes: pd.Series) -> pd.Series:
    """The outward code: what the submission may carry in place of the full postcode.

    For a normalised postcode that is everything before the space and the three-character inward code.
    """
    return postcodes.astype(STRING).str.slice(0, -4)


def postcode_sector(postcodes: pd.Series) -> pd.Series:
    """Outward code plus the inward digit: a finer area than the district, coarser than the unit."""
    return postcodes.astype(STRING).str.slice(0, -2)
