"""Keyed pseudonyms: HMAC-SHA-256 over a field's label and its normalised value.

The label makes equal strings in different fields give different pseudonyms;
the key makes them impossible to recompute by enumerating NINOs or dates of
birth, which a plain hash would allow. One keyed HMAC object is made per key
and field and copied for each distinct value, which is cheaper than keying
afresh, and a month's values are hashed once each however many rows repeat
them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from cryptography.hazmat.primitives import hashes, hmac

from data.tables import STRING, utf8_bytes
from pseudonymise.keys import SecretKey

SCHEME = b"sfmatch-pseudonym-v1"
SEPARATOR = b"\x1f"


class Pseudonymiser:
    def __init__(self, key: SecretKey):
        self._base = hmac.HMAC(key.material, hashes.SHA256())
        self.fingerprint = key.fingerprint

    def _keyed(self, label: str) -> hmac.HMAC:
        """The keyed HMAC already fed the scheme and the field's label: each value then adds only itself."""
        keyed = self._base.copy()
        keyed.update(SCHEME + SEPARATOR + label.encode() + SEPARATOR)
        return keyed

    def one(self, label: str, value: str) -> str:
        return _pseudonym(self._keyed(label), value.encode("utf-8"))

    def column(self, label: str, values: pd.Series) -> pd.Series:
        """The pseudonym of every value; empty stays empty (no identifier, no pseudonym).

        Each distinct value is hashed once and put back in place by its code: a dictionary lookup per row cost
        seconds over a county's millions of identifiers."""
        codes, distinct = pd.factorize(values.astype(STRING))
        keyed = self._keyed(label)
        pseudonyms = pa.array([_pseudonym(keyed, value) if value else None for value in utf8_bytes(distinct)]
                              + [None], type=pa.string())
        missing = len(distinct)  # the code of a missing value (-1) points at the last, empty, entry
        placed = pseudonyms.take(pa.array(np.where(codes < 0, missing, codes)))
        return pd.Series(pd.arrays.ArrowStringArray(placed), index=values.index)


def _pseudonym(keyed: hmac.HMAC, value: bytes) -> str:
    digest = keyed.copy()
    digest.update(value)
    return digest.finalize().hex()
