"""Reference tables shipped with the code: names, nicknames, streets, postcode districts.

The nickname table is read by the linkage as well as the generator, so it is
maintained here, in one place, as data.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).parent


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
