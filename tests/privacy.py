"""Finding personal data where it must not be: a scan for every name, identifier, date of birth and
postcode of the synthetic population in a piece of text."""

from __future__ import annotations

import re

import pandas as pd

from matching.names import clean_name


def sensitive_values(people: pd.DataFrame, households: pd.DataFrame | None = None) -> dict[str, set[str]]:
    """The values that identify someone, in the spellings they could leak in."""
    names = set()
    for column in ("forename", "surname"):
        for value in people[column].dropna().astype(str):
            for form in (value, value.upper(), clean_name(value)):
                if len(form) >= 4:  # shorter names are too often ordinary words or codes
                    names.add(form)
    dobs = pd.to_datetime(people["dob"]).dropna()
    values = {
        "name": names,
        "nino": set(people["nino"].dropna().astype(str)),
        "nhs_number": set(people["nhs_number"].dropna().astype(str)),
        "upn": set(people["upn"].dropna().astype(str)),
        "dob": set(dobs.dt.strftime("%Y-%m-%d")) | set(dobs.dt.strftime("%d/%m/%Y")),
    }
    if households is not None:
        values["postcode"] = set(households["postcode"].dropna().astype(str))
        values["address"] = set(households["address"].dropna().astype(str))
    return values


def leaks(text: str, values: dict[str, set[str]]) -> dict[str, list[str]]:
    """Which sensitive values appear in the text (names as whole words), by kind."""
    found: dict[str, list[str]] = {}
    words = set(re.findall(r"[A-Za-z][A-Za-z'\-]+", text))
    for kind, candidates in values.items():
        if kind == "name":
            hits = sorted(candidates & words)
        else:
            hits = sorted(v for v in candidates if v in text)
        if hits:
            found[kind] = hits[:10]
    return found
