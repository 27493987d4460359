"""Ingest by contract: every bad-input case ends in a clear error or a quarantined row, never a silent drop."""

from __future__ import annotations

import codecs
from datetime import datetime

import pandas as pd
import pytest
from openpyxl import Workbook

from data.errors import ExtractError
from data.ingest import arrow_schema, ingest_extract, write_ingest_outputs
from data.readers import locate_extracts
from data.tables import read_parquet
from tests.factories import DWP_HEADER, dwp_file

GOOD = "D1,C1,AB123456C,Zoë,Smith,07/03/1984,LS1 4AP,UC,2024-01-05,"


def ingest(path, contracts, source="dwp_benefits"):
    return ingest_extract(path, contracts[source])


def assert_reconciles(result):
    stats = result.stats
    assert stats.rows_read == stats.rows_ingested + stats.rows_quarantined
    assert len(result.records) == stats.rows_ingested
    assert len(result.quarantine) == stats.rows_quarantined


# --- encodings -------------------------------------------------------------------------------

@pytest.mark.parametrize(("encoding", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("cp1252", "cp1252")])
def test_encodings_are_detected_and_accents_survive(tmp_path, contracts, encoding, detected):
    result = ingest(dwp_file(tmp_path, [GOOD], encoding=encoding), contracts)
    assert result.stats.encoding == detected
    assert result.records.loc[0, "forename"] == "Zoë"
    assert result.records.loc[0, "record_id"] == "D1"  # the BOM is not part of the first header


def test_a_file_that_is_not_the_declared_encoding_names_the_line(tmp_path, contracts):
    contract = contracts["dwp_benefits"].model_copy(update={"encoding": "utf-8"})
    path = dwp_file(tmp_path, [GOOD, GOOD.replace("D1", "D2")], encoding="cp1252")
    with pytest.raises(ExtractError) as caught:
        ingest_extract(path, contract)
    message = str(caught.value)
    assert message.startswith("dwp_benefits.csv:")
    assert "cannot be read as UTF-8" in message and "line 2" in message
    assert "Zo" not in message


def test_bytes_that_fit_no_encoding_stop_the_run(tmp_path, contracts):
    path = tmp_path / "dwp_benefits.csv"
    path.write_bytes((DWP_HEADER + "\n").encode() + b"D1,C1,AB123456C,Zo\x81,Smith,,,UC,2024-01-05,\n")
    with pytest.raises(ExtractError, match=r"UTF-8 or Windows-1252: byte 0x81 .*line 2"):
        ingest(path, contracts)


# --- headers -----------------------------------------------------------------------------------

def test_headers_in_any_case_and_spacing_and_aliases_are_mapped(tmp_path, contracts):
    header = " RECORD ID ,Claim-ID,NI Number,forename,SURNAME,Date of Birth,Post Code,Benefit Type,start_date,END_DATE,notes"
    result = ingest(dwp_file(tmp_path, [GOOD + ",free text"], header=header), contracts)
    assert result.records.loc[0, "nino"] == "AB123456C"
    assert result.stats.unmapped_headers == ("notes",)
    assert "notes" not in result.records.columns  # columns outside the contract are not taken


def test_a_missing_required_column_names_the_file_and_column(tmp_path, contracts):
    header = DWP_HEADER.replace(",benefit_type", "")
    row = GOOD.replace(",UC", "")
    with pytest.raises(ExtractError, match=r"dwp_benefits.csv: missing required column\(s\): benefit_type"):
        ingest(dwp_file(tmp_path, [row], header=header), contracts)


def test_an_optional_column_may_be_absent(tmp_path, contracts):
    header = "record_id,case_id,family_id,forename,surname,dob,sex,nino,nhs_number,upn,address,postcode,cin_flag,cp_flag,early_help_start"
    path = tmp_path / "la_cases.csv"
    path.write_text(header + "\nL1,C1,F1,Ann,Lee,2001-02-03,F,,,,1 High St,LS1 4AP,N,N,2025-01-01\n", encoding="utf-8")
    result = ingest(path, contracts, "la_cases")
    assert result.stats.absent_optional_columns == (
        "assessed_needs", "taken_on", "lead_practitioner", "assessment_date", "action_plan_date", "entry_needs",
        "closure_date", "reopened_date", "cin_cp_end", "outcomes_recorded")
    assert result.records["assessed_needs"].isna().all() and result.records["closure_date"].isna().all()


def test_semicolon_and_tab_delimiters_are_found_from_the_header(tmp_path, contracts):
    for delimiter in (";", "\t"):
        path = dwp_file(tmp_path, [GOOD.replace(",", delimiter)], header=DWP_HEADER.replace(",", delimiter))
        assert ingest(path, contracts).records.loc[0, "surname"] == "Smith"


# --- values --------------------------------------------------------------------------------------

def test_the_three_date_formats_and_a_time_are_read(tmp_path, contracts):
    rows = [
        "D1,C1,,A,B,1984-03-07,,UC,2024-01-05,",
        "D2,C2,,A,B,07/03/1984,,UC,05/01/2024 13:45,",
        "D3,C3,,A,B,7/3/1984,,UC,05/01/2024 00:00,",
    ]
    records = ingest(dwp_file(tmp_path, rows), contracts).records
    assert (records["dob"] == pd.Timestamp("1984-03-07")).all()
    assert (records["start_date"] == pd.Timestamp("2024-01-05")).all()


def test_an_unreadable_date_in_an_optional_field_is_nulled_and_listed(tmp_path, contracts):
    rows = [GOOD, "D2,C2,,Ann,Lee,31/02/1984,,UC,2024-01-05,", "D3,C3,,Ann,Lee,07/03/84,,UC,2024-01-05,"]
    result = ingest(dwp_file(tmp_path, rows), contracts)
    assert_reconciles(result)
    assert result.stats.rows_ingested == 3
    assert result.records["dob"].isna().sum() == 2
    issues = result.field_issues
    assert issues["source_row"].tolist() == [3, 4]
    assert set(issues["field"]) == {"dob"}
    assert "not a date in an accepted format" in issues["problem"].iloc[0]
    assert result.stats.field_issues == {"dob": 2}


def test_an_unreadable_required_value_quarantines_the_row_with_its_reason(tmp_path, contracts):
    rows = [GOOD, "D2,C2,,Ann,Lee,,,UC,2024-13-45,", "D3,C3,,Ann,Lee,,,XX,2024-01-05,", "D4,C4,,Ann,Lee,,,,2024-01-05,"]
    result = ingest(dwp_file(tmp_path, rows), contracts)
    assert_reconciles(result)
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))
    assert reasons[3].startswith("start_date: not a date")
    assert reasons[4] == "benefit_type: not one of the codes UC, JSA, ESA, IS"
    assert reasons[5] == "benefit_type: missing"
    assert result.records["record_id"].tolist() == ["D1"]


def test_identifiers_with_spaces_hyphens_and_lower_case_are_cleaned(tmp_path, contracts):
    result = ingest(dwp_file(tmp_path, ["D1,C1, ab 12-34-56 c ,A,B,,ls14ap,uc,2024-01-05,"]), contracts)
    record = result.records.iloc[0]
    assert (record["nino"], record["postcode"], record["benefit_type"]) == ("AB123456C", "LS1 4AP", "UC")


def test_sex_codes_and_words(tmp_path, contracts):
    header = "record_id,upn,forename,surname,dob,sex,postcode,school_urn,sessions_possible,sessions_missed_authorised,sessions_missed_unauthorised,suspensions,permanent_exclusion"
    values = ["M", "f", "Male", "FEMALE", "U", "x", "Unknown", "?"]
    rows = [f"E{i},,A,B,,{v},,1,300,1,2,0,N" for i, v in enumerate(values)]
    path = tmp_path / "education.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = ingest(path, contracts, "education")
    assert result.records["sex"].tolist()[:7] == ["M", "F", "M", "F", "U", "X", "U"]
    assert pd.isna(result.records["sex"].iloc[7])
    assert result.stats.field_issues == {"sex": 1}


def test_integers_and_flags(tmp_path, contracts):
    header = "record_id,upn,forename,surname,dob,sex,postcode,school_urn,sessions_possible,sessions_missed_authorised,sessions_missed_unauthorised,suspensions,permanent_exclusion"
    rows = ["E1,,A,B,,,,1,300.0,1,2,0,Y", "E2,,A,B,,,,1,12.5,-1,x,3,no", "E3,,A,B,,,,1,,,,,maybe",
            "E4,,A,B,,,,1,,,,99999999999999999999999,"]  # too big for a whole number: an issue, not a crash
    path = tmp_path / "education.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    result = ingest(path, contracts, "education")
    records = result.records
    assert records["sessions_possible"].tolist()[:1] == [300]
    assert records["permanent_exclusion"].tolist()[:2] == [True, False]
    assert result.stats.field_issues == {
        "sessions_possible": 1, "sessions_missed_authorised": 1, "sessions_missed_unauthorised": 1,
        "permanent_exclusion": 1, "suspensions": 1,
    }
    assert pd.isna(records["suspensions"].iloc[3])


def test_stray_whitespace_and_null_markers_are_empty(tmp_path, contracts):
    result = ingest(dwp_file(tmp_path, ["  D1 ,C1,NULL,  Ann  Marie ,N/A,,,UC,2024-01-05,  "]), contracts)
    record = result.records.iloc[0]
    assert record["record_id"] == "D1"
    assert pd.isna(record["nino"]) and pd.isna(record["surname"])
    assert record["forename"] == "Ann Marie"


# --- rows ---------------------------------------------------------------------------------------

def test_duplicate_keys(tmp_path, contracts):
    rows = [
        GOOD,
        GOOD,                                   # an exact repeat: kept once
        "D2,C2,,Ann,Lee,,,UC,2024-01-05,",
        "D2,C9,,Bob,Day,,,JSA,2024-01-05,",     # same key, different content: neither is trusted
        "D3,C3,,Ann,Lee,,,,2024-01-05,",
        "D3,C3,,Ann,Lee,,,UC,2024-01-05,",      # one copy broken for another reason: still a shared key
    ]
    result = ingest(dwp_file(tmp_path, rows), contracts)
    assert_reconciles(result)
    assert result.records["record_id"].tolist() == ["D1"]
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))
    assert reasons[3] == "repeats row 2"
    assert reasons[4] == reasons[5] == "record_id shared with other rows of different content"
    assert "benefit_type: missing" in reasons[6] and "record_id shared" in reasons[6]
    assert reasons[7] == "record_id shared with other rows of different content"


def test_blank_rows_short_rows_and_long_rows_are_quarantined(tmp_path, contracts):
    rows = [GOOD, ",,,,,,,,,", "D2,C2", "", "D3,C3,,Ann,Lee,,,UC,2024-01-05,,extra", "D4,C4,,Ann,Lee,,,UC,2024-01-05,"]
    result = ingest(dwp_file(tmp_path, rows), contracts)
    assert_reconciles(result)
    assert result.records["record_id"].tolist() == ["D1", "D4"]
    assert result.records["source_row"].tolist() == [2, 6]
    reasons = dict(zip(result.quarantine["source_row"], result.quarantine["reason"]))
    assert reasons == {
        3: "blank row",
        4: "row has 2 fields; the header has 10",
        5: "row has 11 fields; the header has 10",
    }
    assert result.quarantine.set_index("source_row").loc[4, "raw_text"] == "D2,C2"


def test_windows_line_endings_and_trailing_blank_lines(tmp_path, contracts):
    path = dwp_file(tmp_path, [GOOD, "", "", ""], newline="\r\n")
    result = ingest(path, contracts)
    assert result.stats.rows_read == 1 and result.stats.rows_ingested == 1


def test_a_quoted_value_with_a_line_break_is_one_row(tmp_path, contracts):
    rows = ['D1,C1,,"Ann\nMarie",Lee,,,UC,2024-01-05,', "D2,C2,,Bo,Li,,,UC,2024-01-05,"]
    result = ingest(dwp_file(tmp_path, rows), contracts)
    assert result.records["source_row"].tolist() == [2, 3]


# --- whole-file failures ------------------------------------------------------------------------

def test_an_empty_file_stops_the_run(tmp_path, contracts):
    path = tmp_path / "dwp_benefits.csv"
    path.write_bytes(b"")
    with pytest.raises(ExtractError, match="dwp_benefits.csv: is empty"):
        ingest(path, contracts)


def test_a_header_without_rows_stops_the_run(tmp_path, contracts):
    with pytest.raises(ExtractError, match="has a header but no data rows"):
        ingest(dwp_file(tmp_path, []), contracts)


def test_a_file_cut_off_mid_row_is_reported_as_truncated(tmp_path, contracts):
    path = dwp_file(tmp_path, [GOOD, "D2,C2,AB1234"], final_newline=False)
    with pytest.raises(ExtractError) as caught:
        ingest(path, contracts)
    assert str(caught.value).startswith("dwp_benefits.csv, row 3: the last row has 3 of 10 fields")
    assert "truncated" in str(caught.value) and "AB1234" not in str(caught.value)


def test_a_file_cut_off_inside_quotes_is_reported(tmp_path, contracts):
    path = dwp_file(tmp_path, [GOOD, 'D2,C2,,"Ann'], final_newline=False)
    with pytest.raises(ExtractError, match=r"row 3: a quoted value is never closed"):
        ingest(path, contracts)


def test_a_last_row_without_a_line_ending_is_fine_when_complete(tmp_path, contracts):
    result = ingest(dwp_file(tmp_path, [GOOD], final_newline=False), contracts)
    assert result.stats.rows_ingested == 1


def test_an_excel_file_named_csv_is_named_as_such(tmp_path, contracts):
    workbook = Workbook()
    workbook.active.append(DWP_HEADER.split(","))
    workbook.save(tmp_path / "dwp_benefits.csv")
    with pytest.raises(ExtractError, match="is an Excel workbook or zip archive but is named as CSV"):
        ingest(tmp_path / "dwp_benefits.csv", contracts)


# --- Excel --------------------------------------------------------------------------------------

def write_workbook(path, rows, header=DWP_HEADER.split(","), skip=0):
    workbook = Workbook()
    sheet = workbook.active
    for _ in range(skip):
        sheet.append([])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_excel_cells_are_read_as_their_text_with_sheet_row_numbers(tmp_path, contracts):
    path = write_workbook(tmp_path / "dwp_benefits.xlsx", [
        ["D1", "C1", "ab 12 34 56 c", "Zoë", "Smith", datetime(1984, 3, 7), "LS1 4AP", "UC", datetime(2024, 1, 5), None],
        [None] * 10,
        ["D2", 12345, None, "Ann", "Lee", "07/03/1984", None, "ESA", "05/01/2024 09:30", None],
    ], skip=1)
    result = ingest(path, contracts)
    assert result.stats.encoding is None
    assert result.records["source_row"].tolist() == [3, 5]
    assert result.records["claim_id"].tolist() == ["C1", "12345"]
    assert (result.records["dob"] == pd.Timestamp("1984-03-07")).all()
    assert result.records.loc[0, "forename"] == "Zoë"


def test_a_workbook_row_with_values_only_in_unused_columns_is_quarantined_not_dropped(tmp_path, contracts):
    path = write_workbook(tmp_path / "dwp_benefits.xlsx", [
        ["D1", "C1", None, "Ann", "Lee", None, None, "UC", datetime(2024, 1, 5), None, None],
        [None] * 10 + ["a note typed beside the data"],
        ["D2", "C2", None, "Bo", "Ray", None, None, "UC", datetime(2024, 1, 5), None, None],
    ], header=DWP_HEADER.split(",") + ["Notes"])
    result = ingest(path, contracts)
    assert result.records["source_row"].tolist() == [2, 4]
    assert result.quarantine["source_row"].tolist() == [3]
    assert result.quarantine["reason"].tolist() == ["blank row"]
    assert result.stats.rows_read == 3 and result.stats.reconciles


def test_a_truncated_workbook_stops_the_run(tmp_path, contracts):
    path = write_workbook(tmp_path / "dwp_benefits.xlsx", [[f"D{i}", "C", None, "A", "B", None, None, "UC", "2024-01-05", None] for i in range(200)])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ExtractError, match="dwp_benefits.xlsx: cannot be opened as an Excel workbook"):
        ingest(path, contracts)


def test_a_workbook_missing_a_column(tmp_path, contracts):
    path = write_workbook(tmp_path / "dwp_benefits.xlsx", [["D1"]], header=["record_id"])
    with pytest.raises(ExtractError, match="missing required column.*claim_id.*benefit_type"):
        ingest(path, contracts)


# --- locating files ----------------------------------------------------------------------------

def test_each_source_needs_exactly_one_file(tmp_path, contracts):
    wanted = {k: contracts[k] for k in ("dwp_benefits", "police")}
    dwp_file(tmp_path, [GOOD])
    dwp_file(tmp_path, [GOOD], name="DWP_Benefits_october.csv")
    with pytest.raises(ExtractError) as caught:
        locate_extracts(tmp_path, wanted)
    message = str(caught.value)
    assert "more than one extract for 'dwp_benefits' (DWP_Benefits_october.csv, dwp_benefits.csv)" in message
    assert "no extract for 'police'" in message


def test_a_missing_folder_is_named(tmp_path, contracts):
    with pytest.raises(ExtractError, match="the extracts folder does not exist"):
        locate_extracts(tmp_path / "nowhere", contracts)


# --- outputs -------------------------------------------------------------------------------------

def test_outputs_are_typed_parquet_with_lineage_and_csv_quarantine(tmp_path, contracts):
    path = dwp_file(tmp_path, [GOOD, "D2,C2", "D3,C3,,Ann,Lee,2001-02-03,,JSA,2024-01-05,2024-06-30"])
    result = ingest(path, contracts)
    outputs = write_ingest_outputs(result, contracts["dwp_benefits"], tmp_path / "run")
    table = read_parquet(outputs.records)
    assert table.columns.tolist() == arrow_schema(contracts["dwp_benefits"]).names
    assert table["source"].unique().tolist() == ["dwp_benefits"]
    assert table["source_file"].unique().tolist() == ["dwp_benefits.csv"]
    assert table["source_sha256"].str.len().unique().tolist() == [64]
    assert table["source_row"].tolist() == [2, 4]
    assert str(table["dob"].dtype).startswith("datetime64")
    quarantine = pd.read_csv(outputs.quarantine)
    assert quarantine["source_row"].tolist() == [3]


def test_nothing_is_lost_on_a_generated_extract(tmp_path, contracts, synth_small):
    for source, path in locate_extracts(synth_small / "extracts", contracts).items():
        result = ingest_extract(path, contracts[source])
        assert_reconciles(result)
        assert result.stats.rows_ingested > 0
        assert codecs.BOM_UTF8.decode() not in result.records.columns[1]


# --- a title above the headers ---------------------------------------------------------------------

TITLE = ["DWP out-of-work benefits extract", "Exported 01/10/2026 by the data team"]


def with_header_row(contracts, row):
    return contracts["dwp_benefits"].model_copy(update={"header_row": row})


def test_a_csv_with_a_title_above_its_headers_says_where_the_headers_are(tmp_path, contracts):
    rows = [f'"{TITLE[0]}",,,,,,,,,', TITLE[1], DWP_HEADER, GOOD, "D2,C2,,Ann,Lee,,,UC,2024-01-05,"]
    path = tmp_path / "dwp_benefits.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ExtractError, match=r"dwp_benefits.csv, row 1: missing required column\(s\): record_id.*"
                                           r"the headers look to be on row 3: set header_row: 3"):
        ingest(path, contracts)
    result = ingest_extract(path, with_header_row(contracts, 3))
    assert_reconciles(result)
    assert result.records["record_id"].tolist() == ["D1", "D2"]
    assert result.records["source_row"].tolist() == [4, 5], "rows numbered as the file shows them"


def test_a_csv_shorter_than_its_title_says_so_and_an_unclosed_quote_below_a_title_gives_the_files_row(tmp_path,
                                                                                                     contracts):
    path = tmp_path / "dwp_benefits.csv"
    path.write_text(TITLE[0] + "\n", encoding="utf-8")
    with pytest.raises(ExtractError, match=r"dwp_benefits.csv: has fewer than 3 lines; its contract puts the "
                                           r"headers on row 3"):
        ingest_extract(path, with_header_row(contracts, 3))
    path.write_text("\n".join([TITLE[0], TITLE[1], DWP_HEADER, GOOD, 'D2,C2,"Ann,Lee']) + "\n", encoding="utf-8")
    with pytest.raises(ExtractError, match=r"row 5: a quoted value is never closed"):
        ingest_extract(path, with_header_row(contracts, 3))


def test_a_csv_row_numbers_below_a_title_count_the_title_in_quarantine_too(tmp_path, contracts):
    rows = [TITLE[0], DWP_HEADER, GOOD, "D2,C2", "D3,C3,,Ann,Lee,,,UC,2024-01-05,"]
    path = tmp_path / "dwp_benefits.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    result = ingest_extract(path, with_header_row(contracts, 2))
    assert_reconciles(result)
    assert result.records["source_row"].tolist() == [3, 5]
    assert result.quarantine["source_row"].tolist() == [4]


def test_a_workbook_with_a_title_above_its_headers(tmp_path, contracts):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([TITLE[0]])
    sheet.append([])
    sheet.append(DWP_HEADER.split(","))
    sheet.append(["D1", "C1", None, "Ann", "Lee", None, None, "UC", datetime(2024, 1, 5), None])
    path = tmp_path / "dwp_benefits.xlsx"
    workbook.save(path)
    with pytest.raises(ExtractError, match="the headers look to be on row 3: set header_row: 3 in the dwp_benefits"):
        ingest(path, contracts)
    result = ingest_extract(path, with_header_row(contracts, 3))
    assert result.records["source_row"].tolist() == [4] and result.stats.reconciles
