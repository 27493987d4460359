"""Name standardisation: one spelling per name, so that comparisons see the person, not the typist.

Every function works on the distinct values of a column and maps the result
back, because a month's extracts hold a few hundred thousand names but only a
few tens of thousands of distinct ones.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import jellyfish
import pandas as pd

from data import reference
from data.tables import STRING

TITLES = frozenset({"MR", "MRS", "MS", "MISS", "MX", "DR", "MASTER", "REV", "REVD", "SIR", "DAME", "PROF", "LADY", "LORD"})
SUFFIXES = frozenset({"JR", "JNR", "JUNIOR", "SR", "SNR", "SENIOR", "II", "III", "IV"})
# Particles that are part of a surname but say nothing on their own ("DE SOUZA" and "DA SILVA" share "D...").
PARTICLES = frozenset({"DE", "DA", "DOS", "DAS", "DI", "DEL", "DELLA", "LA", "LE", "VAN", "VON", "DER", "DEN", "ST", "AL", "EL", "BIN", "BINTI", "BEN", "MC", "MAC"})
# Letters that Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSED = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "ß": "ss", "Đ": "D", "đ": "d", "Þ": "TH", "þ": "th", "Œ": "OE", "œ": "oe", "ı": "i"})
_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_LETTERS = re.compile(r"[^A-Z\- ]+")
_SPACES = re.compile(r"\s+")


def fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def clean_name(text: str) -> str:
    """Upper-case ASCII letters, hyphens between parts, single spaces; O'Brien becomes OBRIEN."""
    text = fold_accents(text).upper()
    text = _APOSTROPHES.sub("", text)
    text = _NOT_LETTERS.sub(" ", text)
    text = re.sub(r"\s*-\s*", "-", text).strip(" -")
    return _SPACES.sub(" ", text)


def _tokens(text: str) -> list[str]:
    return [t for t in text.replace("-", " ").split(" ") if t]


def forename_first(text: str) -> str:
    """The first given name, after any title: 'Mr John Paul' -> 'JOHN'."""
    tokens = [t for t in _tokens(clean_name(text)) if t not in TITLES]
    return tokens[0] if tokens else ""


def surname_key(text: str) -> str:
    """The whole surname as one key: parts joined, titles and suffixes dropped, Mac read as Mc.

    Mac/Mc is the same name written two ways in British records (MacDonald,
    McDonald); reading one as the other on both sides of every comparison
    cannot make two different names equal unless they differ only there.
    """
    tokens = [t for t in _tokens(clean_name(text)) if t not in TITLES and t not in SUFFIXES]
    key = "".join(tokens)
    if key.startswith("MAC") and len(key) >= 7:
        key = "MC" + key[3:]
    return key


def surname_parts(text: str) -> tuple[str, str]:
    """The parts of a double-barrelled or multi-word surname, particles left out; empty when single."""
    cleaned = clean_name(text)
    if "-" not in cleaned and " " not in cleaned:
        return "", ""
    parts = [t for t in _tokens(cleaned) if t not in PARTICLES and t not in TITLES and t not in SUFFIXES]
    if len(parts) < 2:
        return "", ""
    return parts[0], parts[1]


def phonetic(key: str) -> str:
    """Soundex, so that SMITH and SMYTH, or typos that keep the sound, share a block.

    Soundex found slightly more true pairs than metaphone or NYSIIS on the
    synthetic extracts, for a few more candidates; it also forgives a typo
    after the first letter, which jellyfish's metaphone does not (HUGHES, HUGHS).
    """
    return jellyfish.soundex(key) if key else ""


@cache
def nickname_groups() -> dict[str, tuple[str, ...]]:
    """Each name's canonical forms: a canonical name maps to itself, a variant to every canonical it belongs to."""
    table = reference.nicknames()
    groups: dict[str, set[str]] = {}
    for canonical, variant in zip(table["canonical"], table["variant"]):
        groups.setdefault(variant, set()).add(canonical)
        groups.setdefault(canonical, set()).add(canonical)
    return {name: tuple(sorted(canonicals)) for name, canonicals in groups.items()}


def map_distinct(values: pd.Series, function) -> pd.Series:
    """Apply a per-name function once per distinct value."""
    distinct = pd.Series(values.dropna().unique())
    mapping = dict(zip(distinct, distinct.map(function)))
    return values.map(mapping, na_action="ignore")


def standardise_forenames(values: pd.Series) -> pd.Series:
    out = map_distinct(values.astype(object), forename_first).astype(STRING)
    return out.mask(out == "")


def standardise_surnames(values: pd.Series) -> pd.DataFrame:
    """The surname key and up to two parts (for double-barrelled names)."""
    raw = values.astype(object)
    key = map_distinct(raw, surname_key).astype(STRING)
    parts = map_distinct(raw, surname_parts)
    first = parts.map(lambda p: p[0] if isinstance(p, tuple) else None).astype(STRING)
    second = parts.map(lambda p: p[1] if isinstance(p, tuple) else None).astype(STRING)
    return pd.DataFrame({
        "surname": key.mask(key == ""),
        "surname_part1": first.mask(first == ""),
        "surname_part2": second.mask(second == ""),
    }, index=values.index)
