"""Which person each record belongs to, looked up by source and record_id.

Every step of the assessment asks this of a few hundred thousand records at a
time. A join on two text columns turns each record_id into a Python string;
Arrow's `index_in` finds the positions in C++ on the Arrow strings as they are,
an order of magnitude faster on millions of records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.tables import STRING


def _arrow_text(values: pd.Series) -> pa.Array:
    array = pa.array(values.astype(STRING), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.large_string())


class RecordPersons:
    """`linked` (source, record_id, person_id, match_probability) arranged for lookups by source."""

    def __init__(self, linked: pd.DataFrame):
        sources = linked["source"].astype(str).to_numpy()
        self._parts: dict[str, tuple[pa.Array, np.ndarray, np.ndarray]] = {}
        for source in pd.unique(sources):
            part = linked.loc[sources == source]
            self._parts[str(source)] = (
                _arrow_text(part["record_id"]),
                part["person_id"].astype(object).to_numpy(),
                pd.to_numeric(part["match_probability"]).to_numpy(dtype=float, na_value=np.nan),
            )

    def positions(self, source: str, record_ids: pd.Series) -> np.ndarray:
        """Each record's row among `source`'s linked records, -1 where it has none."""
        part = self._parts.get(source)
        if part is None or len(record_ids) == 0:
            return np.full(len(record_ids), -1, dtype=np.int64)
        found = pc.index_in(_arrow_text(record_ids), value_set=part[0])
        return found.fill_null(-1).to_numpy().astype(np.int64)

    def _take(self, source: str, record_ids: pd.Series, column: int, missing: object, dtype) -> np.ndarray:
        found = self.positions(source, record_ids)
        out = np.full(len(found), missing, dtype=dtype)
        part = self._parts.get(source)
        if part is not None:
            out[found >= 0] = part[column][found[found >= 0]]
        return out

    def persons(self, source: str, record_ids: pd.Series) -> np.ndarray:
        """Each record's person_id (None where the record is not linked)."""
        return self._take(source, record_ids, 1, None, object)

    def probabilities(self, source: str, record_ids: pd.Series) -> np.ndarray:
        """The probability of the link that put each record in its person (NaN for a record on its own)."""
        return self._take(source, record_ids, 2, np.nan, float)

    def persons_of(self, source: str) -> np.ndarray:
        """Every person with a record in `source`."""
        part = self._parts.get(source)
        return pd.unique(part[1]) if part is not None else np.array([], dtype=object)
