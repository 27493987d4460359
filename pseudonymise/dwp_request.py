"""The DWP "confirm back" request, and the reconciliation of DWP's reply with it.

Councils ask DWP to confirm whether the adults of the families they assess
receive an out-of-work benefit; their privacy notices describe this. The
request lists those adults with the identifiers DWP matches on (NI number,
names, date of birth, postcode), each under a request reference, and is sealed
for DWP's public key: the plain list is never written to disk. The council
keeps a register of which adult each reference stands for (never sent). DWP's
reply comes back as the benefits extract, its rows carrying the references of
the adults they answer, and the next run says how many requested adults came
back and whether the linkage put each reply row with the adult it answers.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from data.private_files import restrict, write_private
from data.readers import file_sha256
from data.tables import read_parquet, write_parquet
from pseudonymise.keys import public_fingerprint
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.transfer import encrypt_stream

REQUEST_COLUMNS = ["request_reference", "nino", "surname", "forename", "dob", "postcode"]
REGISTER_COLUMNS = ["request_reference", "request_id", "family_id", "person_id", "record_id"]
REQUEST_FILE, REGISTER_FILE, MANIFEST_FILE = "dwp_request.csv.enc", "register.parquet", "manifest.json"
REFERENCE_LABEL = "dwp-request-reference"


@dataclass(frozen=True)
class DwpRequest:
    rows: pd.DataFrame
    """What DWP receives (REQUEST_COLUMNS): one row per adult."""
    register: pd.DataFrame
    """What the council keeps (REGISTER_COLUMNS): which adult each reference stands for."""
    families: int


def _commonest(values: pd.Series, by: pd.Series) -> pd.Series:
    """Per group, its most frequent value (ties to the first in sort order)."""
    present = pd.DataFrame({"by": by, "value": values}).dropna()
    counts = present.value_counts().reset_index(name="n").sort_values(["by", "n", "value"], ascending=[True, False, True])
    return counts.drop_duplicates("by").set_index("by")["value"]


def build_request(members: pd.DataFrame, records: pd.DataFrame, linked: pd.DataFrame, request_id: str,
                  references: Pseudonymiser) -> DwpRequest:
    """The adults of the families assessed, with the identifiers DWP matches on.

    Names, date of birth and postcode are those of the adult's own council record; the NI number is the
    council record's where it is valid, or otherwise the one the adult's other linked records most often
    give. A reference is a keyed hash of the request and the person, so a rerun of the same request gives
    the same references, and references cannot be guessed from a person's details.
    """
    adults = members[members["role"] == "adult"].drop_duplicates("person_id")
    council = records[records["source"] == "la_cases"].merge(
        linked[linked["source"] == "la_cases"][["record_id", "person_id"]], on="record_id")
    council = council[council["person_id"].isin(adults["person_id"])].sort_values("record_id", kind="stable")
    own = council.drop_duplicates("person_id").set_index("person_id")
    valid = records[records["nino_status"] == "valid"].merge(linked[["source", "record_id", "person_id"]],
                                                            on=["source", "record_id"])
    nino = own["nino"].where(own["nino_status"] == "valid")
    elsewhere = _commonest(valid["nino"].astype(object), valid["person_id"])
    nino = nino.fillna(pd.Series(elsewhere, dtype=object).reindex(nino.index))
    chosen = adults[adults["person_id"].isin(own.index)]
    person = chosen["person_id"]
    reference = "R" + references.column(REFERENCE_LABEL, request_id + "|" + person.astype(str)).str.slice(0, 15).str.upper()
    rows = pd.DataFrame({
        "request_reference": reference.to_numpy(),
        "nino": nino.reindex(person).to_numpy(),
        "surname": own["surname"].reindex(person).to_numpy(),
        "forename": own["forename"].reindex(person).to_numpy(),
        "dob": pd.to_datetime(chosen["dob"]).dt.strftime("%Y-%m-%d").to_numpy(),
        "postcode": own["postcode"].reindex(person).to_numpy(),
    }).sort_values("request_reference", kind="stable").reset_index(drop=True)
    register = pd.DataFrame({"request_reference": reference.to_numpy(), "request_id": request_id,
                             "family_id": chosen["family_id"].astype(str).to_numpy(),
                             "person_id": person.astype(str).to_numpy(),
                             "record_id": own["record_id"].reindex(person).astype(str).to_numpy()})
    return DwpRequest(rows, register.sort_values("request_reference").reset_index(drop=True),
                      int(chosen["family_id"].nunique()))


def seal_request(request: DwpRequest, folder: Path, recipient: X25519PublicKey, context: dict[str, str]) -> Path:
    """The sealed request, the council's register and a manifest in `folder`; returns the manifest's path."""
    folder.mkdir(parents=True, exist_ok=True)
    plain = request.rows[REQUEST_COLUMNS].to_csv(index=False).encode("utf-8")
    sealed = folder / REQUEST_FILE
    with sealed.open("wb") as target:
        encrypt_stream(io.BytesIO(plain), target, recipient)
    write_parquet(request.register.astype("string"), folder / REGISTER_FILE)
    manifest = {
        **context, "rows": len(request.rows), "families": request.families,
        "with_nino": int(request.rows["nino"].notna().sum()),
        "columns": REQUEST_COLUMNS, "file": REQUEST_FILE, "sha256": hashlib.sha256(plain).hexdigest(),
        "encrypted_sha256": file_sha256(sealed), "recipient_key": public_fingerprint(recipient),
        "made_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "about": "adults of the families assessed, for DWP to confirm out-of-work benefits; the reply is the "
                 "benefits extract with request_reference on the rows that answer",
    }
    written = write_private(folder / MANIFEST_FILE, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"),
                            replace=True)
    restrict(folder)  # the register says who each reference is: the owner's only, whatever the umask
    return written


def latest_register_path(requests_dir: Path) -> Path | None:
    """Where the register of the most recent request made is (requests are kept by period), if any."""
    registers = sorted(requests_dir.glob(f"*/{REGISTER_FILE}"))
    return registers[-1] if registers else None


def latest_register(requests_dir: Path) -> pd.DataFrame | None:
    """The register of the most recent request made, if any."""
    path = latest_register_path(requests_dir)
    return read_parquet(path) if path is not None else None


@dataclass(frozen=True)
class Reconciliation:
    request_id: str
    requested: int
    came_back: int
    came_back_matched: int
    came_back_not_matched: int
    not_returned: int
    reply_rows_with_reference: int
    unknown_references: int

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "request_id"}


def reconcile(register: pd.DataFrame, reply: pd.DataFrame, linked: pd.DataFrame) -> tuple[Reconciliation, pd.DataFrame]:
    """How many requested adults came back, and whether the linkage put each reply row with its adult.

    `reply` is the ingested benefits extract (record_id, request_reference); `linked` this run's persons.
    The requested adult is found through their council record, whose person may carry another ID this run.
    """
    answered = reply[reply["request_reference"].notna()][["record_id", "request_reference"]].astype(str)
    person_of = linked.assign(key=linked["source"].astype(str) + "|" + linked["record_id"].astype(str)) \
        .set_index("key")["person_id"].astype(str)
    requested_person = ("la_cases|" + register["record_id"].astype(str)).map(person_of)
    reply_person = ("dwp_benefits|" + answered["record_id"]).map(person_of)
    rows = answered.assign(reply_person=reply_person.to_numpy()).merge(
        register[["request_reference"]].assign(requested_person=requested_person.to_numpy()),
        on="request_reference", how="left")
    known = rows["request_reference"].isin(register["request_reference"])
    rows = rows.assign(matched=(rows["reply_person"] == rows["requested_person"]).to_numpy())
    per_reference = rows[known].groupby("request_reference").agg(reply_rows=("record_id", "size"),
                                                                  matched=("matched", "all"))
    detail = register[["request_reference", "family_id"]].merge(per_reference, on="request_reference", how="left")
    detail["came_back"] = detail["reply_rows"].notna()
    detail["reply_rows"] = detail["reply_rows"].fillna(0).astype(int)
    detail["matched"] = detail["matched"].astype("boolean").where(detail["came_back"])
    came_back = int(detail["came_back"].sum())
    matched = int(detail["matched"].fillna(False).sum())
    summary = Reconciliation(
        request_id=str(register["request_id"].iloc[0]) if len(register) else "", requested=len(register),
        came_back=came_back, came_back_matched=matched, came_back_not_matched=came_back - matched,
        not_returned=len(register) - came_back, reply_rows_with_reference=len(answered),
        unknown_references=int(rows.loc[~known, "request_reference"].nunique()),
    )
    return summary, detail[["request_reference", "family_id", "came_back", "reply_rows", "matched"]]

