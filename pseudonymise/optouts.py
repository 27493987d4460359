"""People who objected to or restricted processing, found through the linkage and left out.

The list names each person by NINO, NHS number, or name and date of birth. A
listed person is matched to records by whichever of those the row gives, and
through the linkage to their person, so that someone listed under their NHS
number is also left out where a partner knew them only by NINO. Only counts
are reported: how many were listed, matched and left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.errors import SfmatchError
from data.identifiers import clean_identifier, nhs_number_is_valid, nino_is_valid
from data.parsing import parse_dates
from data.contract import DEFAULT_DATE_FORMATS, normalise_header
from matching.names import forename_first, surname_key

COLUMNS = ("nino", "nhs_number", "forename", "surname", "dob")


class OptOutError(SfmatchError):
    """An opt-out list that cannot be used as it stands."""


@dataclass(frozen=True)
class OptOutStats:
    listed: int
    matched: int
    persons_left_out: int

    @property
    def unmatched(self) -> int:
        return self.listed - self.matched


def read_opt_outs(path: Path) -> pd.DataFrame:
    """The list as cleaned identifiers and standardised names; each row must identify someone."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OptOutError(f"opt-out list {path.name}: cannot be read ({type(exc).__name__})") from None
    table.columns = [normalise_header(c) for c in table.columns]
    unknown = [c for c in table.columns if c not in COLUMNS]
    if unknown or not set(COLUMNS) & set(table.columns):
        raise OptOutError(f"opt-out list {path.name}: columns must be among {', '.join(COLUMNS)}"
                          + (f" (unexpected: {', '.join(unknown)})" if unknown else ""))
    for column in COLUMNS:
        if column not in table:
            table[column] = ""
    cleaned = pd.DataFrame({
        "nino": clean_identifier(table["nino"]),
        "nhs_number": clean_identifier(table["nhs_number"]),
        "forename": table["forename"].map(forename_first).replace("", None),
        "surname": table["surname"].map(surname_key).replace("", None),
        "dob": parse_dates(table["dob"].replace("", None).astype("string"), DEFAULT_DATE_FORMATS),
    })
    has_name_dob = cleaned[["forename", "surname", "dob"]].notna().all(axis=1)
    usable = nino_is_valid(cleaned["nino"]) | nhs_number_is_valid(cleaned["nhs_number"]) | has_name_dob.to_numpy()
    if not usable.all():
        rows = ", ".join(str(i + 2) for i in (~usable).nonzero()[0][:10])
        raise OptOutError(
            f"opt-out list {path.name}: row(s) {rows} give no valid NINO, no valid NHS number and not a full "
            "name with date of birth"
        )
    return cleaned


def match_opt_outs(opt_outs: pd.DataFrame, records: pd.DataFrame, linked: pd.DataFrame) -> tuple[set[str], OptOutStats]:
    """The persons the list names. `records` are the standardised linkage records; `linked` maps them to persons."""
    listed = opt_outs.reset_index(drop=True).assign(row=lambda t: t.index)
    # Only records sharing an identifier or a surname and birth date with the list can match: find those
    # first, so the join with the linkage is a few hundred rows rather than every record.
    could = (records["nino"].isin(listed["nino"].dropna()) | records["nhs_number"].isin(listed["nhs_number"].dropna())
             | (records["surname"].isin(listed["surname"].dropna()) & records["dob"].isin(listed["dob"].dropna())))
    candidates = records.loc[could.fillna(False).to_numpy(dtype=bool),
                             ["source", "record_id", "forename", "surname", "dob", "nino", "nhs_number"]]
    candidates = candidates.astype({"source": str, "record_id": str})
    links = linked.loc[linked["record_id"].isin(candidates["record_id"]), ["source", "record_id", "person_id"]]
    persons = candidates.merge(links.astype({"source": str, "record_id": str}), on=["source", "record_id"])
    found = []
    for keys in (["nino"], ["nhs_number"], ["forename", "surname", "dob"]):
        usable = listed.dropna(subset=keys)
        found.append(usable[["row", *keys]].merge(persons.dropna(subset=keys)[[*keys, "person_id"]], on=keys)[["row", "person_id"]])
    hits = pd.concat(found, ignore_index=True).drop_duplicates()
    left_out = set(hits["person_id"])
    return left_out, OptOutStats(len(listed), int(hits["row"].nunique()), len(left_out))
