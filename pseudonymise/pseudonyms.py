"""Keyed pseudonyms: HMAC-SHA-256 over a field's label and its normalised value.

The label makes equal strings in different fields give different pseudonyms;
the key makes them impossible to recompute by enumerating NINOs or dates of
birth, which a plain hash would allow. One keyed HMAC object is made per key
and copied for each distinct value, which is cheaper than keying afresh, and a
month's values are hashed once each however many rows repeat them.
"""

from __future__ import annotations

import pandas as pd
from cryptography.hazmat.primitives import hashes, hmac

from data.tables import STRING
from pseudonymise.keys import SecretKey

SCHEME = b"sfmatch-pseudonym-v1"
SEPARATOR = b"\x1f"


class Pseudonymiser:
    def __init__(self, key: SecretKey):
        self._base = hmac.HMAC(key.material, hashes.SHA256())
        self.fingerprint = key.fingerprint

    def one(self, label: str, value: str) -> str:
        digest = self._base.copy()
        digest.update(SCHEME + SEPARATOR + label.encode() + SEPARATOR + value.encode("utf-8"))
        return digest.finalize().hex()

    def column(self, label: str, values: pd.Series) -> pd.Series:
        """The pseudonym of every value; empty stays empty (no identifier, no pseudonym)."""
        present = values.dropna()
        present = present[present.astype(str) != ""]
        distinct = pd.unique(present.astype(str))
        mapping = {value: self.one(label, value) for value in distinct}
        return values.astype(object).map(mapping).astype(STRING)
