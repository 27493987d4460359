"""Sealing the staged submission for its recipient, describing it in a manifest, and publishing it.

Write-audit-publish: the cohort file is staged in the run folder, audited by
the submission gate (the caller), then sealed here, and only then copied to
`published/`, all at once or not at all.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from data.readers import file_sha256
from pseudonymise.cohort import STAGED_FILES
from pseudonymise.keys import public_fingerprint
from pseudonymise.transfer import encrypt_file

AGGREGATES_NOTE = "families by headline and eligibility; ONS 10-5 rule with secondary suppression, [c] = suppressed"
ENCRYPTION_NOTE = "X25519 + HKDF-SHA256 + AES-256-GCM in 1 MiB authenticated chunks (sfmatch decrypt)"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SubmissionDescription:
    """What the manifest says about the submission besides its files: counts, keys and the gate's verdict."""

    context: dict[str, str]
    rows: int
    families: int
    columns: tuple[str, ...]
    key_fingerprints: dict[str, str]
    opt_outs: dict[str, int] | None
    counts: dict[str, int]
    quality_gate: dict[str, object]


def seal_submission(staging: Path, recipient: X25519PublicKey, description: SubmissionDescription) -> Path:
    """Encrypt each staged file for the recipient and write the submission manifest beside them."""
    files, encrypted = {}, {}
    for name in STAGED_FILES:
        plain, sealed = staging / name, staging / f"{name}.enc"
        encrypt_file(plain, sealed, recipient)
        files[name] = file_sha256(plain)
        encrypted[sealed.name] = file_sha256(sealed)
    manifest = {
        **description.context, "rows": description.rows, "families": description.families,
        "columns": list(description.columns), "files_sha256": files, "encrypted_files_sha256": encrypted,
        "key_fingerprints": {**description.key_fingerprints, "recipient": public_fingerprint(recipient)},
        "opt_outs": description.opt_outs, "counts": description.counts, "quality_gate": description.quality_gate,
        "aggregates": AGGREGATES_NOTE, "encryption": ENCRYPTION_NOTE,
    }
    path = staging / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def published_files() -> list[str]:
    """What leaves the council: the sealed files and the manifest, never a plain file."""
    return [f"{name}.enc" for name in STAGED_FILES] + [MANIFEST]


def publish(staging: Path, published: Path, run_id: str) -> Path:
    """Copy the sealed files and their manifest to `published/<run_id>/`, all at once or not at all."""
    target, partial = published / run_id, published / f".{run_id}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in published_files():
        shutil.copy2(staging / name, partial / name)
    if target.exists():
        retired = published / f".{run_id}.replaced"
        shutil.rmtree(retired, ignore_errors=True)
        target.rename(retired)
        partial.rename(target)
        shutil.rmtree(retired)
    else:
        partial.rename(target)
    latest = published / ".latest.json.partial"
    latest.write_text(json.dumps({"run_id": run_id, "folder": target.name}) + "\n", encoding="utf-8")
    latest.replace(published / "latest.json")
    return target
