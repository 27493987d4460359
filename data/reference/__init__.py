"""Reference tables shipped with the code: names, nicknames, streets, postcode districts.

The nickname table is read by the linkage as well as the generator, so it is
maintained here, in one place, as data.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).parent
# Broad groups of the names' origins, so that a household's names come mostly from one tradition.
ORIGIN_GROUPS = {
    "english": "british_irish", "welsh": "british_irish", "scottish": "british_irish", "irish": "british_irish",
    "caribbean": "british_irish",
    "south_asian": "south_asian", "muslim_arabic": "south_asian",
    "polish": "east_european", "romanian": "east_european", "lithuanian": "east_european",
    "other_european": "east_european", "portuguese": "east_european",
    "west_african": "african", "east_african": "african",
    "chinese": "chinese", "turkish": "turkish",
}


def origin_group(origins: pd.Series) -> pd.Series:
    """Each name origin's broad group; an origin the table does not know counts as British and Irish."""
    return origins.map(ORIGIN_GROUPS).fillna("british_irish")


@cache
def load_table(name: str) -> pd.DataFrame:
    """One reference CSV, read once per process."""
    return pd.read_csv(REFERENCE_DIR / f"{name}.csv", dtype=str, keep_default_na=False)


def forenames() -> pd.DataFrame:
    table = load_table("forenames").copy()
    for column in ("weight_adult", "weight_child"):
        table[column] = table[column].astype(int)
    return table


def surnames() -> pd.DataFrame:
    table = load_table("surnames").copy()
    table["weight"] = table["weight"].astype(int)
    return table


_SYLLABLE = re.compile(r"^([^AEIOUY]*[AEIOUY]+)([^AEIOUY].*)$")


@cache
def surname_tail() -> pd.DataFrame:
    """Made-up surnames for the long tail every real population has: the opening of one listed surname
    joined to the ending of another of the same origin (Tay + nes = Taynes). None is in the list.

    The list holds a few hundred common surnames, borne by roughly half of people in England and
    Wales; without a tail every surname is common, strangers share names far more often than they
    do, and blocks on names grow with the square of the population.
    """
    head = surnames()
    head["group"] = origin_group(head["origin"])
    known = set(head["name"].str.upper())
    rows = []
    for group, names in head.groupby("group", sort=True):
        parts = [(_SYLLABLE.match(name.upper()), origin) for name, origin in zip(names["name"], names["origin"])
                 if name.isalpha()]
        starts = sorted({(m.group(1), origin) for m, origin in parts if m})
        ends = sorted({m.group(2) for m, _ in parts if m})
        for start, origin in starts:
            for end in ends:
                made = (start + end).capitalize()
                if 4 <= len(made) <= 12 and made.upper() not in known:
                    rows.append((made, origin))
    return pd.DataFrame(rows, columns=["name", "origin"]).drop_duplicates("name", ignore_index=True)


def nicknames() -> pd.DataFrame:
    """Pairs (canonical, variant), upper-case ASCII; a variant may belong to several canonicals."""
    return load_table("nicknames")


def streets() -> pd.Series:
    return load_table("streets")["name"]


def districts() -> pd.DataFrame:
    table = load_table("districts").copy()
    table["weight"] = table["weight"].astype(int)
    table["home"] = table["home"].astype(int).astype(bool)
    return table
