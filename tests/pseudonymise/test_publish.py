"""Publications: two packages for two recipients, immutable versions that name what they supersede, and a
withdrawal list for people sent before who have since opted out."""

from __future__ import annotations

import json
import stat

import pandas as pd
import pytest

from data.readers import file_sha256
from pseudonymise.keys import load_private_key, new_recipient_pair
from pseudonymise.keys import load_public_key
from pseudonymise.publish import (
    AGGREGATES,
    COHORT,
    PackageDescription,
    publish,
    published_files,
    seal_package,
    sent_register,
)
from pseudonymise.transfer import decrypt_file

PERIOD = "2026-09"


@pytest.fixture()
def recipients(tmp_path):
    folder = tmp_path / "keys"
    new_recipient_pair(folder / "cohort_private.pem", folder / "cohort_public.pem")
    new_recipient_pair(folder / "aggregates_private.pem", folder / "aggregates_public.pem")
    return {name: (load_public_key(folder / f"{name}_public.pem"), load_private_key(folder / f"{name}_private.pem"))
            for name in ("cohort", "aggregates")}


def stage(staging, recipients, rows: str = "a,b\n1,2\n"):
    """A staged, sealed submission, as the encrypt stage leaves it (each sealing encrypts afresh)."""
    for package, content in ((COHORT, rows), (AGGREGATES, "headline,eligible\nALL,[c]\n")):
        folder = staging / package.name
        folder.mkdir(parents=True, exist_ok=True)
        for name in package.files:
            (folder / name).write_text(content)
        description = PackageDescription({"la_code": "E99999999", "run_id": "r1", "reference_date": "2026-09-30"},
                                         {}, {}, {"passed": True})
        seal_package(folder, package, recipients[package.name][0], description)
    return staging


def crosswalk(*people):
    return pd.DataFrame(people, columns=["person_id", "person_pseudo_id"])


def open_withdrawals(version, private, tmp_path):
    decrypt_file(version / "cohort" / "withdrawals.csv.enc", tmp_path / "w.csv", private)
    return pd.read_csv(tmp_path / "w.csv", dtype=str)["person_pseudo_id"].tolist()


def test_a_period_is_published_as_immutable_versions_that_name_what_they_supersede(tmp_path, recipients):
    out = tmp_path / "out"
    published, register = out / "published", out / "sent"
    cohort_public, cohort_private = recipients["cohort"]
    first = publish(stage(tmp_path / "run1", recipients), published, register, PERIOD,
                    crosswalk(("PA", "pa" * 32), ("PB", "pb" * 32)), set(), cohort_public)
    assert (first.name, first.supersedes, first.new, first.withdrawn) == ("2026-09/v1", None, True, 0)
    v1 = published / PERIOD / "v1"
    # a run that tracks no outcomes stages no progress package, and publishes the two it staged
    assert {p.name: sorted(f.name for f in p.iterdir()) for p in v1.iterdir()} == published_files((COHORT, AGGREGATES))
    before = {p.relative_to(v1): file_sha256(p) for p in v1.rglob("*") if p.is_file()}
    assert json.loads((published / "latest.json").read_text())["folder"] == "2026-09/v1"

    # The same sealed files again (a rerun that changed nothing): no new version.
    again = publish(tmp_path / "run1", published, register, PERIOD, crosswalk(("PA", "pa" * 32), ("PB", "pb" * 32)),
                    set(), cohort_public)
    assert (again.name, again.new) == ("2026-09/v1", False)

    # PB opts out; the month is rerun: a new version, withdrawing what was sent of PB.
    second = publish(stage(tmp_path / "run2", recipients), published, register, PERIOD,
                     crosswalk(("PA", "pa" * 32)), {"PB"}, cohort_public)
    v2 = published / PERIOD / "v2"
    assert (second.name, second.supersedes, second.withdrawn) == ("2026-09/v2", "2026-09/v1", 1)
    for package in ("cohort", "aggregates"):
        block = json.loads((v2 / package / "manifest.json").read_text())["publication"]
        assert (block["supersedes"], block["version"]) == ("2026-09/v1", 2)
    manifest = json.loads((v2 / "cohort" / "manifest.json").read_text())
    assert manifest["withdrawals"]["rows"] == 1
    assert open_withdrawals(v2, cohort_private, tmp_path) == ["pb" * 32]
    assert json.loads((published / "latest.json").read_text())["folder"] == "2026-09/v2"
    assert {p.relative_to(v1): file_sha256(p) for p in v1.rglob("*") if p.is_file()} == before, "v1 is untouched"

    # Withdrawn once: the next publication (next month) does not withdraw PB again, and never sends them.
    third = publish(stage(tmp_path / "run3", recipients), published, register, "2026-10",
                    crosswalk(("PA", "pa" * 32)), {"PB"}, cohort_public)
    assert (third.name, third.supersedes, third.withdrawn) == ("2026-10/v1", None, 0)
    assert open_withdrawals(published / "2026-10" / "v1", cohort_private, tmp_path) == []
    history = sent_register(published, register)
    assert history.groupby("publication")["action"].apply(sorted).to_dict() == {
        "2026-09/v1": ["sent", "sent"], "2026-09/v2": ["sent", "withdrawn"], "2026-10/v1": ["sent"]}


def test_published_files_are_readable_by_their_owner_only_whatever_the_umask(tmp_path, recipients):
    import os

    previous = os.umask(0o000)
    try:
        publish(stage(tmp_path / "run", recipients), tmp_path / "published", tmp_path / "sent", PERIOD,
                crosswalk(("PA", "pa" * 32)), set(), recipients["cohort"][0])
    finally:
        os.umask(previous)
    published = tmp_path / "published"
    for path in [published, *published.rglob("*"), tmp_path / "sent", *(tmp_path / "sent").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o700), path


def test_a_register_entry_of_a_version_that_never_reached_published_is_ignored(tmp_path, recipients):
    published, register = tmp_path / "published", tmp_path / "sent"
    publish(stage(tmp_path / "run1", recipients), published, register, PERIOD, crosswalk(("PA", "pa" * 32)), set(),
            recipients["cohort"][0])
    # A publish killed between its register entry and its rename: v2's entry claims PB was sent.
    ghost = crosswalk(("PB", "pb" * 32)).assign(action="sent", publication="2026-09/v2", sequence=2)
    ghost.astype({"person_id": "string"}).to_parquet(register / PERIOD / "v2.parquet")
    assert set(sent_register(published, register)["person_id"]) == {"PA"}
    retry = publish(stage(tmp_path / "run2", recipients), published, register, PERIOD, crosswalk(("PA", "pa" * 32)),
                    {"PB"}, recipients["cohort"][0])
    assert (retry.name, retry.withdrawn) == ("2026-09/v2", 0), "PB was never sent: nothing to withdraw"
