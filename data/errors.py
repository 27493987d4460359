"""Errors that stop a run, worded for the data team rather than for a debugger.

A message names the file, and where it helps the row and field, but never a
value from the data: values are personal data, and messages end up in logs.
"""

from __future__ import annotations


class SfmatchError(Exception):
    """An expected failure with a message meant for the person running the pipeline."""


class ContractError(SfmatchError):
    """A source contract (YAML) that cannot be used as written."""


class ExtractError(SfmatchError):
    """An extract that cannot be ingested as a whole: missing, unreadable, truncated, empty."""

    def __init__(self, file: str, problem: str, *, row: int | None = None, field: str | None = None):
        self.file = file
        self.problem = problem
        self.row = row
        self.field = field
        where = [file]
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {problem}")
