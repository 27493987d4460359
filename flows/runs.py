"""Run identity and the run folder.

A run's id is derived from what determines its outputs: the input files'
hashes, the settings and the code version. Running the same inputs with the
same settings again therefore lands in the same folder and rewrites the same
outputs, while any change of input or setting gets a folder of its own.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "matching", "criteria", "expectations", "pseudonymise", "flows")
SOURCE_SUFFIXES = {".py", ".yaml", ".csv", ".j2"}


def source_digest() -> str:
    """A hash of the packages' code and shipped files, so an edit outside git (or an uncommitted one) still
    counts as a code change for run ids and cached stages."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((PACKAGE_ROOT / package).rglob("*")):
            if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts and path.is_file():
                digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@cache
def code_version() -> dict[str, object]:
    """The package version, a digest of its source and, in a git checkout, the commit and whether the tree
    had local changes."""
    try:
        version = metadata.version("sfmatch")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit, dirty = None, None
    if (PACKAGE_ROOT / ".git").exists():
        def git(*args: str) -> str:
            return subprocess.run(
                ["git", *args], cwd=PACKAGE_ROOT, capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()

        try:
            commit = git("rev-parse", "HEAD")
            dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.SubprocessError):
            commit, dirty = None, None
    return {"version": version, "source_sha256": source_digest(), "git_commit": commit, "git_dirty": dirty}


def run_id_for(reference_date: date, input_hashes: dict[str, str], settings: dict[str, object]) -> str:
    """`<reference date>-<fingerprint>`: readable in a folder listing, unique to what the run will do."""
    basis = json.dumps(
        {"inputs": input_hashes, "settings": settings, "code": code_version()}, sort_keys=True, default=str
    )
    return f"{reference_date:%Y%m%d}-{hashlib.sha256(basis.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class RunFolder:
    """Where one run writes: `<out>/runs/<run_id>/` (or `<out>/training/<run_id>/` for a training run)."""

    out_dir: Path
    run_id: str
    kind: str = "runs"

    @property
    def root(self) -> Path:
        return self.out_dir / self.kind / self.run_id

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def create(self) -> RunFolder:
        self.root.mkdir(parents=True, exist_ok=True)
        return self

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.root))


def previous_run(out_dir: Path, run_id: str) -> Path | None:
    """The folder of the latest completed run other than this one, if any."""
    latest: tuple[str, Path] | None = None
    for manifest in (out_dir / "runs").glob("*/manifest.json"):
        if manifest.parent.name == run_id:
            continue
        try:
            document = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        if document.get("status") == "completed":
            finished = str(document.get("finished_at") or "")
            if latest is None or finished > latest[0]:
                latest = (finished, manifest.parent)
    return latest[1] if latest else None


def finished_at(folder: Path) -> datetime:
    """When a run finished, from its manifest; its folder's last change when the manifest says nothing."""
    try:
        document = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        stamp = document.get("finished_at") or document.get("started_at")
        if stamp:
            return datetime.fromisoformat(stamp)
    except (OSError, json.JSONDecodeError, ValueError):
        pass
    return datetime.fromtimestamp(folder.stat().st_mtime, tz=timezone.utc)


def expired_runs(folders: list[Path], cutoff: datetime) -> list[Path]:
    """The run folders that finished before the cutoff."""
    return [folder for folder in folders if finished_at(folder) < cutoff]
