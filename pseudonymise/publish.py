"""Sealing the staged packages for their recipients, describing them, and publishing them as immutable versions.

Write-audit-publish: the packages are staged in the run folder, audited by the
submission gate (the caller), sealed here, and only then published, all at once
or not at all. Two packages, never one: `cohort/` (one row per person:
pseudonymised personal data, for the evaluation under the data-sharing
agreement) and `aggregates/` (the disclosure-controlled return), each encrypted
for its own recipient and described by its own manifest.

A publication is never changed once made. Each is `published/<period>/v<n>/`
(the period is the reference date's month); publishing the period again (a
rerun after a review decision or an opt-out) makes `v<n+1>`, whose manifests
name the version they supersede, and `published/latest.json` moves to it. A
rerun whose sealed files are the very ones published already makes no new
version. The council keeps an internal register of what each publication sent
(`sent/<period>/v<n>.parquet`: person IDs and the pseudonyms sent), so that when
someone already sent has since opted out, the next publication carries a
withdrawal list of the pseudonyms they were sent under, and the recipient
deletes those rows.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from data.private_files import DIR_MODE, restrict, write_private
from data.readers import file_sha256
from data.tables import read_parquet, write_parquet
from pseudonymise.cohort import AGGREGATE_FILES, COHORT_FILES
from pseudonymise.quarterly import QUARTERLY_FILES
from pseudonymise.keys import public_fingerprint
from pseudonymise.transfer import encrypt_file, encrypt_stream

AGGREGATES_NOTE = "families by headline and eligibility; ONS 10-5 rule with secondary suppression, [c] = suppressed"
PROGRESS_NOTE = ("the quarterly progress return: families worked with, eligible, closed, outcomes achieved and claimed, "
                 "in the quarter to the reference date; ONS 10-5 rule, [c] = suppressed")
COHORT_NOTE = ("pseudonymised personal data, not anonymous: one row per person, sent under the data-sharing "
               "agreement; the recipient must not try to re-identify anyone, and deletes the rows of every "
               "pseudonym in withdrawals.csv from everything it holds")
ENCRYPTION_NOTE = "X25519 + HKDF-SHA256 + AES-256-GCM in 1 MiB authenticated chunks (sfmatch decrypt)"
MANIFEST = "manifest.json"
LATEST = "latest.json"
WITHDRAWALS = "withdrawals.csv"
SENT = "sent"
SENT_COLUMNS = ["person_id", "person_pseudo_id", "action", "publication", "sequence"]
SENT_ACTION, WITHDRAWN_ACTION = "sent", "withdrawn"


@dataclass(frozen=True)
class Package:
    name: str
    files: tuple[str, ...]
    note: str


COHORT = Package("cohort", COHORT_FILES, COHORT_NOTE)
AGGREGATES = Package("aggregates", AGGREGATE_FILES, AGGREGATES_NOTE)
PROGRESS = Package("progress", QUARTERLY_FILES, PROGRESS_NOTE)
PACKAGES = (COHORT, AGGREGATES, PROGRESS)
"""`progress/` is staged only when the run tracks outcomes; a publication holds the packages the run staged."""


def staged_packages(staging: Path) -> tuple[Package, ...]:
    return tuple(package for package in PACKAGES if (staging / package.name / MANIFEST).exists())


@dataclass(frozen=True)
class PackageDescription:
    """What a package's manifest says besides its files: the run, counts, key fingerprints, the gate's verdict."""

    context: dict[str, str]
    details: dict[str, object]
    key_fingerprints: dict[str, str]
    quality_gate: dict[str, object]


def _write_json(document: dict[str, object], path: Path) -> Path:
    return write_private(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), replace=True)


def seal_package(folder: Path, package: Package, recipient: X25519PublicKey, description: PackageDescription) -> Path:
    """Encrypt each staged file of the package for its recipient and write its manifest beside them."""
    files, encrypted = {}, {}
    for name in package.files:
        plain, sealed = folder / name, folder / f"{name}.enc"
        encrypt_file(plain, sealed, recipient)
        files[name] = file_sha256(plain)
        encrypted[sealed.name] = file_sha256(sealed)
    manifest = {
        "package": package.name, **description.context, **description.details,
        "files_sha256": files, "encrypted_files_sha256": encrypted,
        "key_fingerprints": {**description.key_fingerprints, "recipient": public_fingerprint(recipient)},
        "quality_gate": description.quality_gate, "about": package.note, "encryption": ENCRYPTION_NOTE,
    }
    return _write_json(manifest, folder / MANIFEST)


def period_of(reference_date: str) -> str:
    """The period a publication is filed under: the reference date's month, YYYY-MM."""
    return reference_date[:7]


@dataclass(frozen=True)
class Publication:
    folder: Path
    period: str
    version: int
    supersedes: str | None
    withdrawn: int
    new: bool
    """False when the sealed files were already published as this version: nothing was written."""

    @property
    def name(self) -> str:
        return f"{self.period}/v{self.version}"

    def describe(self) -> dict[str, object]:
        return {"publication": self.name, "folder": str(self.folder), "supersedes": self.supersedes,
                "withdrawn": self.withdrawn, "new": self.new}


def _versions(period_folder: Path) -> list[int]:
    return sorted(int(p.name[1:]) for p in period_folder.glob("v*") if p.is_dir() and p.name[1:].isdigit())


def sent_register(published: Path, register: Path) -> pd.DataFrame:
    """What every publication sent and withdrew, in the order they were made. Entries of a version that never
    reached `published/` (a publish killed between the two writes) are left out."""
    frames = [read_parquet(path) for path in sorted(register.glob("*/v*.parquet"))
              if (published / path.parent.name / path.stem).is_dir()]
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype="string") for column in SENT_COLUMNS}).astype({"sequence": "int64"})
    return pd.concat(frames, ignore_index=True).sort_values("sequence", kind="stable").reset_index(drop=True)


def withdrawals(history: pd.DataFrame, opted_out: set[str]) -> pd.DataFrame:
    """The pseudonyms to withdraw: of persons who opted out, those sent before and not withdrawn since."""
    last = history.drop_duplicates(["person_id", "person_pseudo_id"], keep="last")
    due = last[(last["action"] == SENT_ACTION) & last["person_id"].isin(opted_out)]
    return due[["person_id", "person_pseudo_id"]].drop_duplicates("person_pseudo_id").reset_index(drop=True)


def _already_published(staging: Path, version_folder: Path) -> bool:
    """Whether this version holds exactly the sealed files staged now (a rerun that changed nothing)."""
    if {p.name for p in staged_packages(staging)} != {p.name for p in PACKAGES if (version_folder / p.name).is_dir()}:
        return False
    for package in staged_packages(staging):
        try:
            staged = json.loads((staging / package.name / MANIFEST).read_text(encoding="utf-8"))
            published = json.loads((version_folder / package.name / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return False
        if staged["encrypted_files_sha256"] != {k: v for k, v in published["encrypted_files_sha256"].items()
                                                 if k != f"{WITHDRAWALS}.enc"}:
            return False
    return True


def publish(staging: Path, published: Path, register: Path, period: str, sent: pd.DataFrame, opted_out: set[str],
            recipient: X25519PublicKey) -> Publication:
    """Publish the sealed packages as the period's next version, with a withdrawal list; never overwrite one.

    `sent` is this run's crosswalk (person_id, person_pseudo_id of every row of the cohort); `opted_out` the
    persons who opted out, under every ID they had this run. The caller holds the lock on `latest.json`.
    """
    period_folder = published / period
    versions = _versions(period_folder)
    history = sent_register(published, register)
    withdrawn = withdrawals(history, opted_out)
    if versions and withdrawn.empty and _already_published(staging, period_folder / f"v{versions[-1]}"):
        latest = period_folder / f"v{versions[-1]}"
        block = json.loads((latest / COHORT.name / MANIFEST).read_text(encoding="utf-8"))["publication"]
        return Publication(latest, period, versions[-1], block["supersedes"], 0, new=False)

    version = (versions[-1] if versions else 0) + 1
    name, supersedes = f"{period}/v{version}", (f"{period}/v{versions[-1]}" if versions else None)
    target, partial = period_folder / f"v{version}", period_folder / f".v{version}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run_id = json.loads((staging / COHORT.name / MANIFEST).read_text(encoding="utf-8"))["run_id"]
    block = {"publication": name, "period": period, "version": version, "supersedes": supersedes,
             "published_at": stamp}
    for package in staged_packages(staging):
        (partial / package.name).mkdir()
        for plain in package.files:
            shutil.copyfile(staging / package.name / f"{plain}.enc", partial / package.name / f"{plain}.enc")
        manifest = json.loads((staging / package.name / MANIFEST).read_text(encoding="utf-8"))
        manifest["publication"] = block
        if package is COHORT:
            manifest["withdrawals"] = _write_withdrawals(withdrawn, partial / package.name, recipient)
            manifest["encrypted_files_sha256"][f"{WITHDRAWALS}.enc"] = manifest["withdrawals"].pop("encrypted_sha256")
        _write_json(manifest, partial / package.name / MANIFEST)

    sequence = int(history["sequence"].max()) + 1 if len(history) else 1
    entries = pd.concat([
        sent[["person_id", "person_pseudo_id"]].assign(action=SENT_ACTION),
        withdrawn.assign(action=WITHDRAWN_ACTION),
    ], ignore_index=True).assign(publication=name, sequence=sequence)
    # The register entry first: a publish killed before the rename leaves an entry the register ignores.
    write_parquet(entries[SENT_COLUMNS].astype({c: "string" for c in SENT_COLUMNS if c != "sequence"}),
                  register / period / f"v{version}.parquet")
    restrict(register)
    restrict(partial)
    for folder in (published, period_folder):  # made here, perhaps under a wider umask
        folder.chmod(DIR_MODE)
    partial.rename(target)
    _write_json({"publication": name, "period": period, "version": version, "folder": f"{period}/v{version}",
                 "supersedes": supersedes, "run_id": run_id, "published_at": stamp}, published / LATEST)
    return Publication(target, period, version, supersedes, len(withdrawn), new=True)


def _write_withdrawals(withdrawn: pd.DataFrame, folder: Path, recipient: X25519PublicKey) -> dict[str, object]:
    """The withdrawal list, encrypted straight from memory: the pseudonyms whose rows the recipient deletes."""
    plain = withdrawn[["person_pseudo_id"]].to_csv(index=False).encode("utf-8")
    target = folder / f"{WITHDRAWALS}.enc"
    with target.open("wb") as sealed:
        encrypt_stream(io.BytesIO(plain), sealed, recipient)
    return {"file": f"{WITHDRAWALS}.enc", "rows": len(withdrawn), "sha256": hashlib.sha256(plain).hexdigest(),
            "encrypted_sha256": file_sha256(target)}


def published_files(packages: tuple[Package, ...] = PACKAGES) -> dict[str, list[str]]:
    """What leaves the council, by package: the sealed files and the manifest, never a plain file."""
    return {package.name: sorted([f"{name}.enc" for name in package.files] + [MANIFEST]
                                 + ([f"{WITHDRAWALS}.enc"] if package is COHORT else []))
            for package in packages}
