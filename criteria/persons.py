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

from data.tables import arrow_text


def _arrow_text(values: pd.Series) -> pa.Array:
    return arrow_text(values).cast(pa.large_string())


class RecordPersons:
    """`linked` (source, record_id, person_id, match_probability) arranged for lookups by source.

    Persons are held as integer codes into `names`, the person_ids in sorted
    order, so that steps which group, count or sort by person can work on the
    codes and get the order the person_ids would give.
    """

    def __init__(self, linked: pd.DataFrame):
        encoded = _arrow_text(linked["person_id"]).dictionary_encode()
        order = pc.array_sort_indices(encoded.dictionary).to_numpy()
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        self.names: np.ndarray = encoded.dictionary.take(pa.array(order)).to_numpy(zero_copy_only=False)
        first_seen = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
        codes = np.full(len(first_seen), -1, dtype=np.int64)
        codes[first_seen >= 0] = rank[first_seen[first_seen >= 0]]
        record_ids = _arrow_text(linked["record_id"])
        probabilities = pd.to_numeric(linked["match_probability"]).to_numpy(dtype=float, na_value=np.nan)
        sources = _arrow_text(linked["source"]).dictionary_encode()
        source_of_row = sources.indices.to_numpy(zero_copy_only=False)
        self._parts: dict[str, tuple[pa.Array, np.ndarray, np.ndarray]] = {}
        for number, source in enumerate(sources.dictionary.to_pylist()):
            rows = np.flatnonzero(source_of_row == number)
            self._parts[source] = (record_ids.take(pa.array(rows)), codes[rows], probabilities[rows])

    def lookup(self, source: str, record_ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Each record's person code (-1 where it is not linked) and link probability (NaN for a record on its own).

        One search serves both: finding millions of record_ids is the costly
        part, so callers that need both ask once.
        """
        part = self._parts.get(source)
        codes = np.full(len(record_ids), -1, dtype=np.int64)
        probabilities = np.full(len(record_ids), np.nan)
        if part is None or len(record_ids) == 0:
            return codes, probabilities
        wanted = _arrow_text(record_ids)
        if len(wanted) == len(part[0]) and wanted.equals(part[0]):
            found = np.arange(len(wanted))  # the same records in the same order: nothing to search
        else:
            found = pc.index_in(wanted, value_set=part[0]).fill_null(-1).to_numpy().astype(np.int64)
        hit = found >= 0
        codes[hit] = part[1][found[hit]]
        probabilities[hit] = part[2][found[hit]]
        return codes, probabilities

    def codes(self, source: str, record_ids: pd.Series) -> np.ndarray:
        """Each record's person as a position in `names` (-1 where the record is not linked)."""
        return self.lookup(source, record_ids)[0]

    def names_of(self, codes: np.ndarray) -> np.ndarray:
        """The person_ids of codes (None for -1)."""
        out = np.full(len(codes), None, dtype=object)
        out[codes >= 0] = self.names[codes[codes >= 0]]
        return out

    def persons(self, source: str, record_ids: pd.Series) -> np.ndarray:
        """Each record's person_id (None where the record is not linked)."""
        return self.names_of(self.codes(source, record_ids))

    def persons_of(self, source: str) -> np.ndarray:
        """Every person with a record in `source`."""
        part = self._parts.get(source)
        return self.names[pd.unique(part[1][part[1] >= 0])] if part is not None else np.array([], dtype=object)
