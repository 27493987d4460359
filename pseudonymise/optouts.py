"""People who objected to or restricted processing, found through the linkage and left out.

The list names each person by NINO, NHS number, or name and date of birth. A
listed person is matched to records by whichever of those the row gives, and
through the linkage to their person, so that someone listed under their NHS
number is also left out where a partner knew them only by NINO. Only counts
are reported: how many were listed, matched and left out.

The council may keep "just enough information to ensure that the restriction
is respected in future", and no more: `sfmatch optouts seal` turns the plain
list into a *restriction register* of keyed hashes (HMAC-SHA-256 under the
opt-out key, a label per field) of the normalised identifiers, with no
identifier left in it. Matching is always on those hashes: a plain list is
sealed in memory under a key made for the run, a register under its own key,
and each record's identifiers are hashed the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.errors import SfmatchError
from data.identifiers import clean_identifier, nhs_number_is_valid, nino_is_valid
from data.parsing import parse_dates
from data.contract import DEFAULT_DATE_FORMATS, normalise_header
from data.private_files import write_private
from data.tables import STRING, text_isin
from matching.names import forename_first, surname_key
from pseudonymise.keys import SecretKey, new_key
from pseudonymise.pseudonyms import Pseudonymiser

COLUMNS = ("nino", "nhs_number", "forename", "surname", "dob")
SEALED = ("nino", "nhs_number", "name_dob")
"""What the register keeps of each person: a keyed hash of each identifier the list gave."""
REGISTER_COLUMNS = ("key_fingerprint", *(f"{field}_hmac" for field in SEALED))
LABEL = "opt-out:"
HEX64 = re.compile(r"^(?:[0-9a-f]{64})?$")


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


def identifier_texts(people: pd.DataFrame) -> dict[str, pd.Series]:
    """The normalised text of each identifier the register keeps, from the list or from standardised records
    (valid NINO and NHS number, first forename and surname as the linkage keys them, date of birth)."""
    dob = pd.to_datetime(people["dob"]).dt.strftime("%Y-%m-%d")
    # Arrow strings: a county's members' records as Python strings cost seconds.
    name_dob = people["forename"].astype(STRING) + "|" + people["surname"].astype(STRING) + "|" + dob.astype(STRING)
    return {"nino": people["nino"].astype(STRING), "nhs_number": people["nhs_number"].astype(STRING),
            "name_dob": name_dob}


def seal(people: pd.DataFrame, sealer: Pseudonymiser) -> pd.DataFrame:
    """Keyed hashes of the identifiers, one column per field (empty where not given): nothing else of them."""
    return pd.DataFrame({field: sealer.column(LABEL + field, values).astype(object).where(values.notna(), None)
                         for field, values in identifier_texts(people).items()}, index=people.index)


@dataclass(frozen=True)
class OptOutRegister:
    """The people who opted out, as keyed hashes (`SEALED` columns), with the sealer that made them."""

    hashes: pd.DataFrame
    sealer: Pseudonymiser

    def to_csv(self) -> str:
        table = self.hashes.rename(columns={field: f"{field}_hmac" for field in SEALED}).fillna("")
        table.insert(0, "key_fingerprint", self.sealer.fingerprint)
        return table[list(REGISTER_COLUMNS)].to_csv(index=False)

    def merged(self, other: OptOutRegister) -> OptOutRegister:
        """This register with another's people added (the same key), each person once."""
        if other.sealer.fingerprint != self.sealer.fingerprint:
            raise OptOutError("the registers were sealed with different opt-out keys")
        return OptOutRegister(pd.concat([self.hashes, other.hashes], ignore_index=True).drop_duplicates()
                              .reset_index(drop=True), self.sealer)


def is_register(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig") as handle:
            header = handle.readline().strip()
    except OSError as exc:
        raise OptOutError(f"opt-out list {path.name}: cannot be read ({exc.strerror})") from None
    return [normalise_header(c) for c in header.split(",")] == list(REGISTER_COLUMNS)


def read_register(path: Path, key: SecretKey) -> OptOutRegister:
    """A sealed register; refused if it was sealed under another key, or holds anything but hashes."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OptOutError(f"restriction register {path.name}: cannot be read ({type(exc).__name__})") from None
    table.columns = [normalise_header(c) for c in table.columns]
    sealed_with = set(table["key_fingerprint"])
    if sealed_with - {key.fingerprint}:
        raise OptOutError(f"restriction register {path.name}: sealed with opt-out key "
                          f"{', '.join(sorted(sealed_with - {key.fingerprint}))}, but the settings give key "
                          f"{key.fingerprint}; give the key it was sealed with")
    hashes = table[[f"{field}_hmac" for field in SEALED]]
    shaped = hashes.apply(lambda column: column.str.fullmatch(HEX64.pattern)).all(axis=1)
    given = (hashes != "").any(axis=1)
    bad = (~shaped | ~given).to_numpy().nonzero()[0]
    if len(bad):
        raise OptOutError(f"restriction register {path.name}: row(s) {', '.join(str(i + 2) for i in bad[:10])} "
                          "hold something other than keyed hashes")
    hashes = hashes.set_axis(list(SEALED), axis=1).replace("", None)
    return OptOutRegister(hashes, Pseudonymiser(key))


def load_opt_outs(path: Path, key: SecretKey | None) -> OptOutRegister:
    """The opt-outs as keyed hashes: a sealed register under its key, or a plain list sealed here in memory
    (under the opt-out key if there is one, else a key made for this run and forgotten after it)."""
    if is_register(path):
        if key is None:
            raise OptOutError(f"restriction register {path.name} is sealed: set opt_out_key_file in the settings "
                              "(or SFMATCH_OPT_OUT_KEY) to the key it was sealed with")
        return read_register(path, key)
    sealer = Pseudonymiser(key if key is not None else new_key("opt-out"))
    return OptOutRegister(seal(read_opt_outs(path), sealer), sealer)


def write_register(register: OptOutRegister, path: Path) -> Path:
    """The register, readable by its owner only; an existing one is replaced whole, never half-written."""
    return write_private(path, register.to_csv().encode("utf-8"), replace=True)


OPT_OUT_FIELDS = ["source", "record_id", "forename", "surname", "dob", "nino", "nhs_number"]
"""What matching a record against the register reads of it."""


def match_opt_outs(register: OptOutRegister, records: pd.DataFrame, linked: pd.DataFrame
                   ) -> tuple[set[str], OptOutStats]:
    """The persons the register names. `records` are the standardised linkage records; `linked` maps them to persons.

    Each record's identifiers are hashed as the register's were, and matched on the hashes alone.
    """
    listed = register.hashes.reset_index(drop=True).assign(row=lambda t: t.index)
    frame = records[OPT_OUT_FIELDS]
    hashed = seal(frame, register.sealer)
    found = []
    for field in SEALED:
        hit = hashed[field].isin(listed[field].dropna()).to_numpy()
        hits = pd.DataFrame({"source": frame["source"][hit].astype(str).to_numpy(),
                             "record_id": frame["record_id"][hit].astype(str).to_numpy(),
                             field: hashed[field][hit].to_numpy()})
        found.append(listed.dropna(subset=[field])[["row", field]].merge(hits, on=field)[["row", "source", "record_id"]])
    hits = pd.concat(found, ignore_index=True)
    # Only the records the register names are looked up among the linked ones (a county's millions, as
    # text, cost seconds).
    links = linked.loc[text_isin(linked["record_id"], hits["record_id"]), ["source", "record_id", "person_id"]]
    links = links.astype({"source": str, "record_id": str})
    persons = hits.merge(links, on=["source", "record_id"])[["row", "person_id"]].drop_duplicates()
    left_out = set(persons["person_id"])
    return left_out, OptOutStats(len(listed), int(persons["row"].nunique()), len(left_out))
