"""The Dask benchmark's extracts in parts: split where a record ends, so they read as the whole file did."""

from __future__ import annotations

from benchmarks.run import deliver_in_parts
from data.contract import load_contracts
from data.ingest import ingest_extract
from tests.factories import DWP_HEADER


def test_parts_split_between_records_and_read_as_the_whole(tmp_path):
    extracts = tmp_path / "extracts"
    extracts.mkdir()
    rows = [f'D{n},C{n},,"Ann\nMarie",Lee,1975-11-30,,ESA,2023-12-01,' if n % 3 == 0 else
            f"D{n},C{n},,Bo,Ray,1980-01-0{1 + n % 9},LS6 1AA,UC,2024-01-01," for n in range(10)]
    (extracts / "dwp_benefits.csv").write_text("\r\n".join([DWP_HEADER, *rows]) + "\r\n", encoding="utf-8")
    contracts = load_contracts(sources=["dwp_benefits"])
    assert deliver_in_parts(extracts, tmp_path / "parts", 4, contracts) == {"dwp_benefits": 4}
    parts = sorted((tmp_path / "parts" / "dwp_benefits").iterdir())
    assert len(parts) == 4 and all(p.read_bytes().startswith(f"{DWP_HEADER}\r\n".encode()) for p in parts)
    whole = ingest_extract(extracts / "dwp_benefits.csv", contracts["dwp_benefits"]).records
    split = ingest_extract(tmp_path / "parts" / "dwp_benefits", contracts["dwp_benefits"]).records
    lineage = ["source_file", "source_sha256", "source_row"]
    assert split.drop(columns=lineage).equals(whole.drop(columns=lineage)) and len(split) == 10
    assert (split["forename"] == "Ann Marie").sum() == 4  # the quoted line break stayed inside its record


def test_the_report_says_how_the_extracts_were_delivered():
    from benchmarks.run import parts_text

    assert parts_text({"files_per_source": {"police": 4, "housing": 1, "la_cases": 4}}) == (
        ", each CSV extract (la_cases, police) delivered as a folder of 4 files, read a file per task "
        "(housing, a workbook, as one file)")
    assert parts_text({}) == ""
