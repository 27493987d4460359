"""An extract delivered as a folder of parts (each council's file of a region, a month sent weekly) is read as
one extract: the same records as one file holding the same rows, keys unique across the parts, and every row
set aside naming its own file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.errors import ExtractError
from data.ingest import ingest_extract
from data.readers import extract_sha256, file_sha256, locate_extracts
from tests.factories import DWP_HEADER, dwp_file

ROWS = [
    "D1,C1,AB123456C,Zoë,Smith,07/03/1984,LS1 4AP,UC,2024-01-05,",
    "D2,C2,,Amir,Khan,1990-02-03,LS2 7EW,JSA,2024-02-01,",
    "D3,C3,,Ann,Lee,1975-11-30,,ESA,2023-12-01,2024-03-01",
    "D4,C4,,Bo,Ray,not a date,LS6 1AA,UC,2024-01-01,",
]


def parts(tmp_path, *files: tuple[str, list[str]]) -> Path:
    folder = tmp_path / "extracts" / "dwp_benefits"
    folder.mkdir(parents=True)
    for name, rows in files:
        dwp_file(folder, rows, name=name)
    return folder


def test_parts_give_the_records_one_file_of_the_same_rows_gives(tmp_path, contracts):
    folder = parts(tmp_path, ("dwp_benefits_north.csv", ROWS[:2]), ("dwp_benefits_south.csv", ROWS[2:]))
    whole = ingest_extract(dwp_file(tmp_path, ROWS), contracts["dwp_benefits"])
    combined = ingest_extract(folder, contracts["dwp_benefits"])
    lineage = ["source_file", "source_sha256", "source_row"]
    pd.testing.assert_frame_equal(combined.records.drop(columns=lineage), whole.records.drop(columns=lineage))
    assert list(combined.records["source_file"]) == ["dwp_benefits/dwp_benefits_north.csv"] * 2 + \
        ["dwp_benefits/dwp_benefits_south.csv"] * 2
    assert list(combined.records["source_row"]) == [2, 3, 2, 3]  # each file counts its own rows
    stats = combined.stats
    assert (stats.rows_read, stats.rows_ingested, stats.rows_quarantined) == (4, 4, 0) and stats.reconciles
    assert stats.field_issues == whole.stats.field_issues == {"dob": 1}
    assert [p.file_name for p in stats.parts] == ["dwp_benefits/dwp_benefits_north.csv",
                                                   "dwp_benefits/dwp_benefits_south.csv"]
    assert [p.sha256 for p in stats.parts] == [file_sha256(folder / "dwp_benefits_north.csv"),
                                               file_sha256(folder / "dwp_benefits_south.csv")]
    assert stats.sha256 == extract_sha256(folder) and stats.file_name == "dwp_benefits/"
    assert list(combined.field_issues["source_file"]) == ["dwp_benefits/dwp_benefits_south.csv"]
    assert len(combined.readable) == 4 and combined.readable["kept"].all()


def test_a_key_repeated_across_parts_follows_the_one_file_rule(tmp_path, contracts):
    changed = ROWS[1].replace("Khan", "Kahn")
    folder = parts(tmp_path, ("dwp_benefits_a.csv", ROWS[:3]),
                   ("dwp_benefits_b.csv", [ROWS[0], changed, ROWS[3]]))
    result = ingest_extract(folder, contracts["dwp_benefits"])
    assert list(result.records["record_id"]) == ["D1", "D3", "D4"]  # D1 repeated exactly: the first kept
    quarantine = result.quarantine
    assert list(quarantine.columns[:3]) == ["source_file", "source_row", "reason"]
    reasons = dict(zip(zip(quarantine["source_file"], quarantine["source_row"]), quarantine["reason"]))
    assert reasons == {
        ("dwp_benefits/dwp_benefits_a.csv", 3): "record_id shared with rows of other files of different content",
        ("dwp_benefits/dwp_benefits_b.csv", 2): "repeats dwp_benefits/dwp_benefits_a.csv row 2",
        ("dwp_benefits/dwp_benefits_b.csv", 3): "record_id shared with rows of other files of different content",
    }
    stats = result.stats
    assert stats.reconciles and (stats.rows_read, stats.rows_ingested, stats.rows_quarantined) == (6, 3, 3)
    assert stats.quarantine_reasons == {"duplicate record_id across files": 2, "duplicate row across files": 1}
    assert int((~result.readable["kept"]).sum()) == 3


def test_a_part_that_cannot_be_read_is_named_with_its_folder(tmp_path, contracts):
    folder = parts(tmp_path, ("dwp_benefits_a.csv", ROWS[:1]))
    (folder / "dwp_benefits_b.csv").write_bytes(b"")
    with pytest.raises(ExtractError, match=r"dwp_benefits/dwp_benefits_b.csv: is empty"):
        ingest_extract(folder, contracts["dwp_benefits"])


def test_a_folder_of_parts_is_located_and_refused_when_ambiguous(tmp_path, contracts):
    folder = parts(tmp_path, ("dwp_benefits_a.csv", ROWS[:1]))
    only_dwp = {"dwp_benefits": contracts["dwp_benefits"]}
    assert locate_extracts(folder.parent, only_dwp) == {"dwp_benefits": folder}

    dwp_file(folder.parent, ROWS, name="dwp_benefits.csv")
    with pytest.raises(ExtractError, match=r"both a file \(dwp_benefits.csv\) and a folder of parts"):
        locate_extracts(folder.parent, only_dwp)
    (folder.parent / "dwp_benefits.csv").unlink()

    (folder / "notes.txt").write_text("sent by email\n")
    with pytest.raises(ExtractError, match=r"dwp_benefits/ holds notes.txt, which do\(es\) not match"):
        locate_extracts(folder.parent, only_dwp)
    (folder / "notes.txt").unlink()
    (folder / "dwp_benefits_a.csv").unlink()
    with pytest.raises(ExtractError, match=r"the folder dwp_benefits/ holds no files"):
        locate_extracts(folder.parent, only_dwp)


def test_the_parts_digest_changes_with_any_part(tmp_path):
    folder = tmp_path / "police"
    folder.mkdir()
    (folder / "police_a.csv").write_text("a\n")
    (folder / "police_b.csv").write_text("b\n")
    before = extract_sha256(folder)
    (folder / "police_b.csv").rename(folder / "police_c.csv")
    renamed = extract_sha256(folder)
    (folder / "police_c.csv").write_text("c\n")
    assert len({before, renamed, extract_sha256(folder)}) == 3


def test_a_key_one_part_set_aside_for_differing_rows_is_set_aside_in_the_others(tmp_path, contracts):
    # One file holding all three rows would set every D2 aside: rows sharing a key but differing.
    folder = parts(tmp_path, ("dwp_benefits_a.csv", [ROWS[1], ROWS[1].replace("Khan", "Kahn")]),
                   ("dwp_benefits_b.csv", [ROWS[1], ROWS[0]]))
    result = ingest_extract(folder, contracts["dwp_benefits"])
    whole = ingest_extract(dwp_file(tmp_path, [ROWS[1], ROWS[1].replace("Khan", "Kahn"), ROWS[1], ROWS[0]]),
                           contracts["dwp_benefits"])
    assert list(result.records["record_id"]) == list(whole.records["record_id"]) == ["D1"]
    assert result.quarantine.loc[result.quarantine["source_file"].str.endswith("_b.csv"), "reason"].tolist() == [
        "record_id shared with rows of other files of different content"]
    assert result.stats.reconciles and result.stats.rows_quarantined == 3
