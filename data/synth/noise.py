"""The ways a source gets a person wrong, applied to a chosen share of its rows.

Each function changes only the rows its mask selects, so the rates stay
explicit and the rest of the column is untouched. Per-value Python runs only
on those few selected rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from data import reference

_KEYBOARD_NEIGHBOURS = {
    "A": "SQZ", "B": "VNG", "C": "XVD", "D": "SFE", "E": "WRD", "F": "DGR", "G": "FHT", "H": "GJY",
    "I": "UOK", "J": "HKU", "K": "JLI", "L": "KO", "M": "NJ", "N": "BMH", "O": "IPL", "P": "OL",
    "Q": "WA", "R": "ETF", "S": "ADW", "T": "RYG", "U": "YIJ", "V": "CBF", "W": "QES", "X": "ZCS",
    "Y": "TUH", "Z": "XA",
}
# Values that stand in for a NINO when the real one is not known. "AB123456C" has a
# valid shape, so only the fact that many unrelated people carry it gives it away.
PLACEHOLDER_NINOS = ("AB123456C", "QQ123456C", "ZZ999999Z", "AA000000A", "NC000000A")


@dataclass(frozen=True)
class NoiseProfile:
    """How often a source records each person field wrongly or not at all."""

    name_typo: float = 0.0
    nickname: float = 0.0
    swapped_names: float = 0.0
    forename_initial: float = 0.0
    name_case: float = 0.0
    dob_missing: float = 0.0
    dob_error: float = 0.0
    dob_impossible: float = 0.0
    nino_present: float = 1.0
    nino_typo: float = 0.0
    nino_placeholder: float = 0.0
    nhs_present: float = 1.0
    nhs_typo: float = 0.0
    upn_present: float = 1.0
    upn_typo: float = 0.0
    identifier_format: float = 0.0
    previous_address: float = 0.0
    postcode_missing: float = 0.0
    postcode_format: float = 0.0
    # The realistic mode's habits (data.synth.difficulty); all off in the standard mode.
    alias: float = 0.0
    """Another forename altogether, of the same sex: the name someone gives, not the one registered."""
    forename_missing: float = 0.0
    day_month_swap: float = 0.0
    known_as: float = 0.0
    """A step-child recorded under the surname they go by (the household's), not their legal one."""
    surname_part: float = 0.0
    """A double-barrelled surname recorded as one of its parts."""
    other_postcode: float = 0.0
    """A postcode from elsewhere: a relative's address, a hostel, a previous tenancy."""
    household_late_move: float = 0.0
    """A household that moved is recorded at its old address, all of its members at once."""


def _mask(rng: np.random.Generator, n: int, rate: float, eligible: np.ndarray | None = None) -> np.ndarray:
    chosen = rng.random(n) < rate
    return chosen & eligible if eligible is not None else chosen


def typo(value: str, rng: np.random.Generator) -> str:
    """One slip of the keyboard: a neighbouring key, a dropped, doubled or swapped letter."""
    letters = [i for i, c in enumerate(value) if c.isalpha()]
    if len(letters) < 3:
        return value
    i = letters[int(rng.integers(1, len(letters)))]  # the first letter is rarely the one mistyped
    kind = int(rng.integers(0, 4))
    if kind == 0:
        neighbours = _KEYBOARD_NEIGHBOURS.get(value[i].upper(), "E")
        replacement = neighbours[int(rng.integers(0, len(neighbours)))]
        return value[:i] + (replacement if value[i].isupper() else replacement.lower()) + value[i + 1:]
    if kind == 1:
        return value[:i] + value[i + 1:]
    if kind == 2:
        return value[:i] + value[i] + value[i:]
    return value[: i - 1] + value[i] + value[i - 1] + value[i + 1:]


def _nickname_lookup() -> dict[str, list[str]]:
    table = reference.nicknames()
    return table.groupby("canonical")["variant"].apply(list).to_dict()


def nickname(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A known short form or variant in place of the given name, where the table has one."""
    lookup = _nickname_lookup()
    out = values.copy()
    for i, name in enumerate(values):
        variants = lookup.get(str(name).upper())
        if variants:
            out[i] = variants[int(rng.integers(0, len(variants)))].title()
    return out


def dob_error(dates: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A keying error in a date of birth: day and month swapped, a digit off, or the year off by one."""
    stamps = pd.to_datetime(pd.Series(dates))
    day, month, year = stamps.dt.day.to_numpy(), stamps.dt.month.to_numpy(), stamps.dt.year.to_numpy()
    kind = rng.integers(0, 3, len(dates))
    swap = (kind == 0) & (day <= 12) & (day != month)
    new_day = np.where(swap, month, day)
    new_month = np.where(swap, day, month)
    digit = (kind == 1) | ((kind == 0) & ~swap)
    shift = rng.choice([-1, 1], len(dates))
    new_day = np.where(digit, np.clip(day + shift, 1, 28), new_day)
    new_year = np.where(kind == 2, year + shift, year)
    frame = pd.DataFrame({"year": new_year, "month": new_month, "day": new_day})
    return pd.to_datetime(frame, errors="coerce").to_numpy(dtype="datetime64[ns]")


def digit_slip(value: str, rng: np.random.Generator) -> str:
    """Two neighbouring digits transposed, or one digit mistyped."""
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    if len(digits) < 2:
        return value
    i = digits[int(rng.integers(0, len(digits) - 1))]
    if rng.random() < 0.5 and i + 1 < len(value) and value[i + 1].isdigit() and value[i] != value[i + 1]:
        return value[:i] + value[i + 1] + value[i] + value[i + 2:]
    return value[:i] + str((int(value[i]) + int(rng.integers(1, 10))) % 10) + value[i + 1:]


def spaced_identifier(value: str, rng: np.random.Generator) -> str:
    """How people type identifiers: in groups, with hyphens, or in lower case."""
    style = int(rng.integers(0, 3))
    if style == 0:
        return " ".join(value[i:i + 3] for i in range(0, len(value), 3)) if value.isdigit() else \
            " ".join([value[:2], value[2:4], value[4:6], value[6:8], value[8:]])
    if style == 1:
        return "-".join(value[i:i + 4] for i in range(0, len(value), 4))
    return value.lower()


def _apply(values: np.ndarray, mask: np.ndarray, change, rng: np.random.Generator) -> None:
    for i in np.flatnonzero(mask):
        if values[i] is not None and values[i] == values[i]:
            values[i] = change(values[i], rng)


def _realistic_names(out: pd.DataFrame, profile: NoiseProfile, rng: np.random.Generator) -> None:
    """Known-as surnames, parts of double-barrelled ones, and aliases: before any typing error."""
    n = len(out)
    sur = out["surname"].to_numpy(dtype=object).copy()
    if profile.known_as and "known_as_surname" in out:
        known = out["known_as_surname"].notna().to_numpy() & (rng.random(n) < profile.known_as)
        sur[known] = out["known_as_surname"].to_numpy(dtype=object)[known]
    if profile.surname_part:
        barrelled = np.flatnonzero(pd.Series(sur).str.contains("-", na=False).to_numpy() & (rng.random(n) < profile.surname_part))
        part = rng.integers(0, 2, len(barrelled))
        sur[barrelled] = [str(sur[i]).split("-")[p] for i, p in zip(barrelled, part)]
    out["surname"] = sur
    fore = out["forename"].to_numpy(dtype=object).copy()
    if profile.alias:
        names = reference.forenames()
        for person_sex in ("F", "M"):
            pool = names.loc[names["sex"] == person_sex, "name"].to_numpy(dtype=object)
            rows = np.flatnonzero((out["sex"].to_numpy() == person_sex) & (rng.random(n) < profile.alias))
            fore[rows] = pool[rng.integers(0, len(pool), len(rows))]
    if profile.forename_missing:
        fore[rng.random(n) < profile.forename_missing] = None
    out["forename"] = fore


def _realistic_addresses(out: pd.DataFrame, profile: NoiseProfile, rng: np.random.Generator,
                         postcodes: np.ndarray | None) -> None:
    """Whole households recorded at their old address, and postcodes from elsewhere."""
    n = len(out)
    if profile.household_late_move:
        households = pd.unique(out["true_household_id"])
        late = set(households[rng.random(len(households)) < profile.household_late_move])
        rows = out["true_household_id"].isin(late).to_numpy() & out["previous_postcode"].notna().to_numpy()
        out.loc[rows, "postcode"] = out.loc[rows, "previous_postcode"]
        out.loc[rows, "address"] = out.loc[rows, "previous_address"]
    if profile.other_postcode and postcodes is not None and len(postcodes):
        rows = rng.random(n) < profile.other_postcode
        out.loc[rows, "postcode"] = postcodes[rng.integers(0, len(postcodes), int(rows.sum()))]


def day_month_swapped(dates: np.ndarray) -> np.ndarray:
    """Day and month exchanged where both could be a month and they differ (07/03 for 03/07)."""
    stamps = pd.to_datetime(pd.Series(dates))
    day, month = stamps.dt.day, stamps.dt.month
    swappable = (day <= 12) & (day != month)
    swapped = pd.to_datetime(pd.DataFrame({"year": stamps.dt.year, "month": day, "day": month}), errors="coerce")
    return swapped.where(swappable, stamps).to_numpy(dtype="datetime64[ns]")


def apply_noise(frame: pd.DataFrame, profile: NoiseProfile, rng: np.random.Generator,
                postcodes: np.ndarray | None = None) -> pd.DataFrame:
    """The source's view of the people: the true values with this source's errors and gaps.

    `postcodes` are the postcodes a row may carry when it gives one from elsewhere (realistic mode).
    """
    out = frame.copy()
    n = len(out)
    if profile.known_as or profile.surname_part or profile.alias or profile.forename_missing:
        _realistic_names(out, profile, rng)
    fore = out["forename"].to_numpy(dtype=object).copy()
    sur = out["surname"].to_numpy(dtype=object).copy()

    nick = _mask(rng, n, profile.nickname)
    fore[nick] = nickname(fore[nick], rng)
    _apply(fore, _mask(rng, n, profile.name_typo), typo, rng)
    _apply(sur, _mask(rng, n, profile.name_typo), typo, rng)
    initial = _mask(rng, n, profile.forename_initial)
    fore[initial] = np.array([str(v)[0] if v is not None else None for v in fore[initial]], dtype=object)
    swapped = _mask(rng, n, profile.swapped_names)
    fore[swapped], sur[swapped] = sur[swapped], fore[swapped].copy()
    shout = _mask(rng, n, profile.name_case)
    fore[shout] = np.array([str(v).upper() if v is not None else None for v in fore[shout]], dtype=object)
    sur[shout] = np.array([str(v).upper() for v in sur[shout]], dtype=object)
    out["forename"], out["surname"] = fore, sur

    dob = out["dob"].to_numpy(dtype="datetime64[ns]").copy()
    wrong = _mask(rng, n, profile.dob_error)
    dob[wrong] = dob_error(dob[wrong], rng)
    dob[_mask(rng, n, profile.dob_missing)] = np.datetime64("NaT")
    if profile.day_month_swap:
        swap = rng.random(n) < profile.day_month_swap
        dob[swap] = day_month_swapped(dob[swap])
    out["dob"] = dob
    # A date that no calendar has, as legacy systems let through: kept as text.
    out["dob_text_override"] = np.where(_mask(rng, n, profile.dob_impossible), "31/02/" + out["dob"].dt.year.fillna(2000).astype(int).astype(str), None)

    for column, present, slip in (
        ("nino", profile.nino_present, profile.nino_typo),
        ("nhs_number", profile.nhs_present, profile.nhs_typo),
        ("upn", profile.upn_present, profile.upn_typo),
    ):
        values = out[column].to_numpy(dtype=object).copy()
        values[~_mask(rng, n, present)] = None
        _apply(values, _mask(rng, n, slip), digit_slip, rng)
        if column == "nino":
            placeholder = _mask(rng, n, profile.nino_placeholder)
            values[placeholder] = np.array(PLACEHOLDER_NINOS, dtype=object)[
                rng.integers(0, len(PLACEHOLDER_NINOS), int(placeholder.sum()))
            ]
        _apply(values, _mask(rng, n, profile.identifier_format), spaced_identifier, rng)
        out[column] = values

    moved = out["previous_postcode"].notna().to_numpy()
    old = _mask(rng, n, profile.previous_address, moved)
    out.loc[old, "postcode"] = out.loc[old, "previous_postcode"]
    out.loc[old, "address"] = out.loc[old, "previous_address"]
    if profile.household_late_move or profile.other_postcode:
        _realistic_addresses(out, profile, rng, postcodes)
    postcode = out["postcode"].to_numpy(dtype=object).copy()
    postcode[_mask(rng, n, profile.postcode_missing)] = None
    odd = _mask(rng, n, profile.postcode_format)
    postcode[odd] = np.array([str(p).replace(" ", "").lower() if p else p for p in postcode[odd]], dtype=object)
    out["postcode"] = postcode
    return out.drop(columns=["previous_postcode", "previous_address", "known_as_surname"], errors="ignore")
