"""DWP's side of the confirm-back, for the synthetic council: answer a request from the population's truth.

DWP matches each requested adult to its own customer records (on NI number,
or else surname and date of birth), and replies with the benefits extract: the
claims of the adults it found, each row carrying the request reference of the
adult it answers. The other rows of the extract come back as they were. The
new extracts folder holds the reply beside copies of the other four extracts,
ready for the next run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from data.tables import read_parquet

REFERENCE_HEADER = "REQUEST_REFERENCE"


@dataclass(frozen=True)
class Reply:
    requested: int
    found: int
    answered: int
    """Requested adults found and on benefit: their rows carry a reference."""
    rows_with_reference: int
    extracts_dir: Path


def _key(surname: pd.Series, dob: pd.Series) -> pd.Series:
    return surname.fillna("").astype(str).str.upper().str.replace(r"[^A-Z]", "", regex=True) + "|" + \
        pd.to_datetime(dob, errors="coerce").dt.strftime("%Y-%m-%d").fillna("")


def answer_request(request: pd.DataFrame, synthetic: Path, out: Path) -> Reply:
    """Write `out/` (the five extracts, the benefits one answering `request`) from the synthetic folder's truth."""
    people = read_parquet(synthetic / "truth" / "people.parquet")
    truth = read_parquet(synthetic / "truth" / "records.parquet")
    by_nino = people.dropna(subset=["nino"]).drop_duplicates("nino").set_index("nino")["person_id"]
    by_name = people.assign(key=_key(people["surname"], people["dob"])).drop_duplicates("key", keep=False) \
        .set_index("key")["person_id"]
    found = request["nino"].map(by_nino)
    found = found.fillna(_key(request["surname"], request["dob"]).map(by_name))
    reference_of = pd.Series(request["request_reference"].to_numpy(), index=found.to_numpy()).dropna()
    reference_of = reference_of[~reference_of.index.isna()]
    reference_of = reference_of[~reference_of.index.duplicated()]

    source = synthetic / "extracts"
    out.mkdir(parents=True, exist_ok=True)
    benefits = None
    for path in sorted(source.iterdir()):
        if path.name.startswith("dwp_benefits"):
            benefits = path
        elif path.is_file():
            shutil.copyfile(path, out / path.name)
    if benefits is None or benefits.suffix != ".csv":
        raise ValueError(f"{source}: no dwp_benefits CSV to answer from")
    raw = benefits.read_bytes()
    encoding = "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    table = pd.read_csv(benefits, dtype=str, keep_default_na=False, encoding=encoding)
    record_column = next(c for c in table.columns if c.strip().lower() == "record_id")
    person = table[record_column].map(truth[truth["source"] == "dwp_benefits"].set_index("record_id")["person_id"])
    table[REFERENCE_HEADER] = person.map(reference_of).fillna("")
    table.to_csv(out / benefits.name, index=False, encoding=encoding)
    answered = table.loc[table[REFERENCE_HEADER] != "", REFERENCE_HEADER]
    return Reply(requested=len(request), found=int(found.notna().sum()), answered=int(answered.nunique()),
                 rows_with_reference=len(answered), extracts_dir=out)
