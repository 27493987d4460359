"""The DWP confirm-back request from a completed run: the library's request, sealed where the council keeps it.

Not a flow: it reads one finished run and writes one sealed file, in a second or two. Requests are kept under
`<out_dir>/dwp/requests/<period>/`, one per period (a second request for a period replaces the first); the next
run reconciles the benefits extract it receives with the latest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from data.errors import SfmatchError
from data.private_files import restrict
from data.tables import read_parquet
from flows.configuration import RunConfiguration
from matching.storage import load_records
from pseudonymise.dwp_request import build_request, seal_request
from pseudonymise.keys import load_public_key
from pseudonymise.pseudonyms import Pseudonymiser
from pseudonymise.publish import period_of


@dataclass(frozen=True)
class RequestMade:
    folder: Path
    adults: int
    families: int
    with_nino: int


def latest_completed_run(out_dir: Path) -> Path:
    """The most recent run under `out_dir/runs` that completed (its manifest says so)."""
    completed = []
    for manifest in (out_dir / "runs").glob("*/manifest.json"):
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if document.get("status") == "completed":
            completed.append((document.get("finished_at") or "", manifest.parent))
    if not completed:
        raise SfmatchError(f"no completed run under {out_dir / 'runs'}: run the month first, or give --run")
    return max(completed)[1]


def make_request(run_dir: Path, config: RunConfiguration, recipient_key: Path | None) -> RequestMade:
    """Seal the adults of the run's assessed families for DWP, and keep the register of references."""
    key_file = recipient_key or config.settings.dwp.recipient_public_key
    if key_file is None:
        raise SfmatchError("no DWP public key: set dwp.recipient_public_key in the settings, or give --recipient-key")
    recipient = load_public_key(key_file)
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    if manifest.get("status") != "completed":
        raise SfmatchError(f"run {run_dir.name} did not complete ({manifest.get('status')}): request from a completed run")
    period = period_of(manifest["reference_date"])
    request = build_request(read_parquet(run_dir / "criteria" / "family_members.parquet"),
                            load_records(run_dir / "linkage").frame, read_parquet(run_dir / "linked_records.parquet"),
                            period, Pseudonymiser(config.submission_keys().council))
    folder = config.settings.out_dir / "dwp" / "requests" / period
    seal_request(request, folder, recipient, {"request_id": period, "run_id": run_dir.name,
                                              "la_code": config.settings.la_code,
                                              "reference_date": manifest["reference_date"]})
    restrict(config.settings.out_dir / "dwp")
    return RequestMade(folder, len(request.rows), request.families, int(request.rows["nino"].notna().sum()))
