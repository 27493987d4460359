"""How every stage stores its tables: pyarrow-backed strings in memory, Parquet on disk."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

STRING = pd.StringDtype("pyarrow")


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
