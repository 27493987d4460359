"""Keys stored from one month to the next: a record's identity key and a reviewed pair's id.

They are kept in the person index and the analysts' decision store and compared
with next month's, so they must never change unless the data does. Each is a
BLAKE2b hash (hashlib) of a canonical text of its fields: the fields in a fixed
order, joined by the unit separator, a missing value as empty text and a date
of birth as YYYYMMDD. That text, and so the key, does not depend on the
version of pandas, numpy or Arrow that built it.

Keys are 32 hexadecimal characters (128 bits). Keys of the earlier format were
16 characters; `matching.migration` recognises and converts them.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.tables import STRING, arrow_text

KEY_CHARACTERS = 32
SEPARATOR = "\x1f"
IDENTITY_FIELDS = ("source", "forename", "surname", "dob_int", "nino", "nhs_number", "upn")
"""The address is left out on purpose: a person who moves is still the same record of them."""


def _digest(texts: pa.Array, label: bytes) -> np.ndarray:
    prefix = label + b"\x00"
    return np.array([hashlib.blake2b(prefix + text.encode("utf-8"), digest_size=KEY_CHARACTERS // 2).hexdigest()
                     for text in texts.to_pylist()], dtype=object)


def _text(values: pd.Series) -> pa.Array:
    return pc.fill_null(arrow_text(values), "")


def identity_keys(frame: pd.DataFrame) -> pd.Series:
    """A key of a record's person details, to recognise the same record when its record_id is reissued.

    `frame` holds the standardised columns in IDENTITY_FIELDS (dob_int: YYYYMMDD, -1 where missing).
    """
    dob = frame["dob_int"].astype("int64")
    parts = [_text(frame[name]) if name != "dob_int" else _text(dob.astype(str).where(dob >= 0))
             for name in IDENTITY_FIELDS]
    canonical = pc.binary_join_element_wise(*parts, SEPARATOR)
    return pd.Series(_digest(canonical, b"identity"), index=frame.index, dtype=STRING)


def pair_ids(left_source: pd.Series, left_record: pd.Series, right_source: pd.Series,
             right_record: pd.Series) -> pd.Series:
    """A stable id for a pair of records, the same whichever side each record is on."""
    a = pc.binary_join_element_wise(_text(left_source), _text(left_record), SEPARATOR)
    b = pc.binary_join_element_wise(_text(right_source), _text(right_record), SEPARATOR)
    first = pc.if_else(pc.less_equal(a, b), a, b)
    second = pc.if_else(pc.less_equal(a, b), b, a)
    canonical = pc.binary_join_element_wise(first, second, "\x1e")
    return pd.Series(_digest(canonical, b"pair"), index=left_source.index, dtype=STRING)


def is_current_format(keys: pd.Series) -> np.ndarray:
    """True for keys of this format (older keys were shorter)."""
    return (keys.astype(STRING).str.len() == KEY_CHARACTERS).fillna(False).to_numpy(dtype=bool)
