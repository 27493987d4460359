"""The tables the linkage stages pass to each other, declared once as Arrow schemas.

Each is checked against its schema where it is written (`TableSchema.write`).
Missing values follow one rule throughout: an integer column holds -1 where a
value is missing (a name code, a date of birth as YYYYMMDD, a sex code), a
text, date or probability column holds null.
"""

from __future__ import annotations

import pyarrow as pa

from data.tables import TableSchema
from matching.comparisons import Comparison, level_column


def _fields(*specs: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in specs])


TEXT, REQUIRED, OPTIONAL = pa.string(), False, True
_CODE = pa.int32()

PERSON_RECORDS = TableSchema("person records", _fields(
    ("source", TEXT, REQUIRED), ("record_id", TEXT, REQUIRED), ("family_id", TEXT, OPTIONAL),
    ("event_code", _CODE, REQUIRED),
    ("forename", TEXT, OPTIONAL), ("surname", TEXT, OPTIONAL),
    ("surname_part1", TEXT, OPTIONAL), ("surname_part2", TEXT, OPTIONAL),
    ("dob", pa.timestamp("ns"), OPTIONAL), ("dob_int", pa.int32(), REQUIRED), ("birth_year", pa.int16(), REQUIRED),
    ("sex_code", pa.int8(), REQUIRED),
    ("nino", TEXT, OPTIONAL), ("nino_status", TEXT, REQUIRED),
    ("nhs_number", TEXT, OPTIONAL), ("nhs_status", TEXT, REQUIRED),
    ("upn", TEXT, OPTIONAL), ("upn_status", TEXT, REQUIRED),
    ("postcode", TEXT, OPTIONAL), ("postcode_sector", TEXT, OPTIONAL), ("postcode_district", TEXT, OPTIONAL),
    ("fn", _CODE, REQUIRED), ("sn", _CODE, REQUIRED), ("sn_part1", _CODE, REQUIRED), ("sn_part2", _CODE, REQUIRED),
    ("nick1", _CODE, REQUIRED), ("nick2", _CODE, REQUIRED), ("nick3", _CODE, REQUIRED),
    ("initial_code", pa.int8(), REQUIRED), ("sn_phonetic", TEXT, OPTIONAL),
    ("nino_code", _CODE, REQUIRED), ("nhs_number_code", _CODE, REQUIRED), ("upn_code", _CODE, REQUIRED),
    ("postcode_code", _CODE, REQUIRED), ("postcode_sector_code", _CODE, REQUIRED),
    ("postcode_district_code", _CODE, REQUIRED),
    ("identity_key", TEXT, REQUIRED),
), extra_columns=True)
"""One row per ingested record, in the order of every pair array: its lineage, its standardised person
fields, the integer codes that blocking and comparison use, and its identity key. A linkage spec may add
columns of its own (FEBRL's social security id)."""

CATEGORY_COLUMNS = ("source", "nino_status", "nhs_status", "upn_status")
"""Held as pandas categories in memory: few values, many rows."""

CANDIDATE_PAIRS = TableSchema("candidate pairs", _fields(
    ("left", pa.int32(), REQUIRED), ("right", pa.int32(), REQUIRED), ("rules", pa.int64(), REQUIRED),
))
"""Pairs of record positions (left < right), with a bit per blocking rule that found each."""


def scored_pairs(comparisons: tuple[Comparison, ...]) -> TableSchema:
    """The pairs scoring keeps: accepted, for review, contradicted or near the threshold, with every level."""
    return TableSchema("scored pairs", _fields(
        ("left", pa.int32(), REQUIRED), ("right", pa.int32(), REQUIRED), ("rules", pa.int64(), REQUIRED),
        ("weight", pa.float64(), REQUIRED), ("probability", pa.float64(), REQUIRED),
        ("decision", pa.int8(), REQUIRED), ("contradiction", pa.int8(), REQUIRED),
        *((level_column(c.name), pa.int8(), REQUIRED) for c in comparisons),
    ))


LINKED_RECORDS = TableSchema("linked records", _fields(
    ("source", TEXT, REQUIRED), ("record_id", TEXT, REQUIRED), ("person_id", TEXT, REQUIRED),
    ("match_probability", pa.float64(), OPTIONAL),
))
"""Every ingested record and its person; the probability of the weakest link that put it there (null alone)."""

LINKS = TableSchema("links", _fields(
    ("left", pa.int64(), REQUIRED), ("right", pa.int64(), REQUIRED), ("weight", pa.float64(), REQUIRED),
    ("probability", pa.float64(), REQUIRED), ("origin", TEXT, REQUIRED),
    ("left_source", TEXT, REQUIRED), ("left_record_id", TEXT, REQUIRED),
    ("right_source", TEXT, REQUIRED), ("right_record_id", TEXT, REQUIRED), ("person_id", TEXT, REQUIRED),
))
"""The links that made the persons, from the model or an analyst."""

PENDING_PAIRS = TableSchema("pending pairs", _fields(
    ("left_source", TEXT, REQUIRED), ("left_record_id", TEXT, REQUIRED),
    ("right_source", TEXT, REQUIRED), ("right_record_id", TEXT, REQUIRED),
    ("probability", pa.float64(), REQUIRED), ("reason", TEXT, REQUIRED),
))
"""Pairs waiting for an analyst: the linkage's own record of them, which criteria reads (the review queue is
the analysts' copy, which they edit)."""

PERSON_INDEX = TableSchema("person index", _fields(
    ("person_id", TEXT, REQUIRED), ("source", TEXT, REQUIRED), ("record_id", TEXT, REQUIRED),
    ("identity_key", TEXT, REQUIRED), ("first_seen_run", TEXT, REQUIRED), ("last_seen_run", TEXT, REQUIRED),
))
"""Every record ever linked and its person ID, read by the next run. A person ID is `P` and 32 hex digits, derived
from the records that first made the person up (`matching.person_index`); an index of an earlier version may
carry sequential IDs (`P` and 9 digits), which are kept."""
