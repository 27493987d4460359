"""How every stage stores its tables: pyarrow-backed strings in memory, Parquet on disk.

A table passed from one stage to another is declared once as a `TableSchema`
(an Arrow schema with a name), and checked against it where it is written: a
missing column, a wrong type, a value that does not fit or a null where the
schema forbids one stops the run with the table's name, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data.errors import SfmatchError

STRING = pd.StringDtype("pyarrow")


class TableSchemaError(SfmatchError):
    """A table that does not match its declared schema: a fault in the code, reported without values."""


@dataclass(frozen=True)
class TableSchema:
    name: str
    schema: pa.Schema
    extra_columns: bool = False
    """Whether columns beyond the declared ones may ride along (a linkage spec's own comparison columns)."""

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def conform(self, frame: pd.DataFrame) -> pa.Table:
        """The frame as an Arrow table of this schema, or an error naming the table and the column."""
        missing = [name for name in self.schema.names if name not in frame.columns]
        extra = [name for name in frame.columns if name not in self.schema.names]
        if missing:
            raise TableSchemaError(f"{self.name}: missing column(s) {', '.join(missing)}")
        if extra and not self.extra_columns:
            raise TableSchemaError(f"{self.name}: undeclared column(s) {', '.join(map(str, extra))}")
        schema = self.schema
        if extra:
            rest = pa.Table.from_pandas(frame[extra], preserve_index=False).schema
            schema = pa.schema(list(self.schema) + [rest.field(name) for name in extra])
        ordered = frame[self.schema.names + extra]
        for field in self.schema:
            if not field.nullable and ordered[field.name].isna().any():
                raise TableSchemaError(f"{self.name}: column {field.name} has missing values, which it may not")
        try:
            return pa.Table.from_pandas(ordered, schema=schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, ValueError, TypeError):
            kinds = ", ".join(f"{name} {ordered[name].dtype}" for name in ordered.columns)
            raise TableSchemaError(f"{self.name}: columns do not fit the declared types ({kinds})") from None

    def write(self, frame: pd.DataFrame, path: Path, **options) -> Path:
        """Check the frame against the schema, then write it as Parquet."""
        table = self.conform(frame)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path, **options)
        return path


def arrow_text(values: pd.Series | pd.Index) -> pa.Array:
    """Text as one Arrow string array (missing values null), for Arrow's compute functions."""
    array = pa.array(pd.Series(values).astype(STRING), from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string())


def utf8_bytes(values: pd.Series | pd.Index, batch: int = 100_000) -> Iterator[bytes]:
    """Text as UTF-8 bytes (None where missing), made by Arrow a batch at a time, for hashing: encoding millions
    of values one by one in Python costs seconds, and all of them at once hold hundreds of megabytes."""
    encoded = arrow_text(values).cast(pa.binary())
    for start in range(0, len(encoded), batch):
        yield from encoded.slice(start, batch).to_pylist()


def text_isin(values: pd.Series | pd.Index, wanted: Iterable[str]) -> np.ndarray:
    """Which values are among `wanted` (text; a missing value never is), as a boolean array.

    pandas' `isin` on Arrow strings turns every wanted value into an Arrow scalar one at a time in Python,
    which for the hundreds of thousands of person IDs of a county costs seconds; Arrow's own `is_in` does it
    in C++."""
    wanted = wanted if isinstance(wanted, (pd.Series, pd.Index)) else pd.Index(list(wanted), dtype=object)
    value_set = pa.array(pd.Series(wanted).dropna().astype(str).to_numpy(dtype=object), type=pa.string())
    return pc.is_in(arrow_text(values), value_set=value_set, skip_nulls=True).fill_null(False).to_numpy(zero_copy_only=False)


def write_parquet(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> Path:
    """Write without the pandas index, to a fixed schema when one is given."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, path)
    return path


def read_parquet(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read back with dates as datetime64 and strings as pyarrow strings, as the stages expect."""
    table = pq.read_table(path, columns=columns)
    return table.to_pandas(
        date_as_object=False,
        types_mapper={pa.string(): STRING, pa.large_string(): STRING}.get,
    )
