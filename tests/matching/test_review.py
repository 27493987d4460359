"""Review decisions: stored from a filled queue, applied while the records are unchanged, stale otherwise."""

from __future__ import annotations

import pandas as pd
import pytest

from matching.review import KEY_COLUMNS, ReviewError, apply_review_file, decisions_for_run, pair_ids, read_decisions


def queue_file(tmp_path, decisions, name="review_queue.csv"):
    rows = []
    for i, decision in enumerate(decisions):
        rows.append({
            "pair_id": f"p{i}", "left_source": "police", "left_record_id": f"L{i}", "left_identity_key": f"kl{i}",
            "right_source": "la_cases", "right_record_id": f"R{i}", "right_identity_key": f"kr{i}",
            "probability": 0.8, "decision": decision, "note": "",
        })
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_decisions_are_stored_and_the_latest_wins(tmp_path):
    store = tmp_path / "decisions.csv"
    stats = apply_review_file(queue_file(tmp_path, ["link", "No link", "", "Y"]), store)
    assert (stats.decided, stats.links, stats.no_links, stats.undecided) == (3, 2, 1, 1)
    apply_review_file(queue_file(tmp_path, ["no link"], name="second.csv"), store)
    stored = read_decisions(store).set_index("pair_id")
    assert stored.loc["p0", "decision"] == "no link" and stored.loc["p0", "from_file"] == "second.csv"
    assert len(stored) == 3


def test_an_unknown_decision_names_its_row(tmp_path):
    with pytest.raises(ReviewError, match=r"row\(s\) 3: decision must be 'link' or 'no link'"):
        apply_review_file(queue_file(tmp_path, ["link", "maybe"]), tmp_path / "d.csv")


def test_a_file_that_is_not_a_review_queue_is_refused(tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ReviewError, match="missing column"):
        apply_review_file(path, tmp_path / "d.csv")


def test_decisions_apply_only_while_both_records_are_unchanged(tmp_path):
    store = tmp_path / "decisions.csv"
    apply_review_file(queue_file(tmp_path, ["link", "no link", "link"]), store)
    records = pd.DataFrame({
        "source": ["police", "la_cases", "police", "la_cases", "police", "la_cases"],
        "record_id": ["L0", "R0", "L1", "R1", "L2", "R2"],
        "identity_key": ["kl0", "kr0", "kl1", "kr1", "kl2", "CHANGED"],
    })
    found = decisions_for_run(read_decisions(store), records)
    assert (found.applied, found.stale) == (2, 1)
    assert list(zip(*found.links)) == [(0, 1)]
    assert list(zip(*found.no_links)) == [(2, 3)]


def test_a_pair_id_does_not_depend_on_which_side_a_record_is_on():
    a = pair_ids(pd.Series(["police"]), pd.Series(["1"]), pd.Series(["dwp"]), pd.Series(["2"]))
    b = pair_ids(pd.Series(["dwp"]), pd.Series(["2"]), pd.Series(["police"]), pd.Series(["1"]))
    assert a.tolist() == b.tolist()
    assert set(KEY_COLUMNS) <= {"left_source", "left_record_id", "left_identity_key", "right_source",
                                "right_record_id", "right_identity_key"}


def test_the_workbook_has_a_decision_drop_down_a_frozen_header_and_shaded_levels(tmp_path):
    from openpyxl import load_workbook

    from matching.review_workbook import write_workbook

    from matching.review_workbook import AGREE, DISAGREE, NO_EVIDENCE, workbook_from, write_review_queue

    queue = pd.DataFrame({"pair_id": ["p0", "p1"], "forename_level": ["exact", "different"],
                          "forename_weight": [8.5, -5.6], "dob_level": ["no evidence", "exact"],
                          "dob_weight": [0.0, 13.3], "decision": ["", ""], "note": ["", ""]})
    csv, saved = write_review_queue(queue, tmp_path / "review_queue.csv", tmp_path / "review_queue.parquet")
    assert pd.read_csv(csv).shape == queue.shape
    workbook = workbook_from(saved, tmp_path / "review_queue.xlsx")
    sheet = load_workbook(workbook)["review queue"]
    assert sheet.freeze_panes == "A2"
    validation = sheet.data_validations.dataValidation[0]
    assert validation.formula1 == '"link,no link"' and "F2" in str(validation.sqref)
    fill = lambda cell: sheet[cell].fill.start_color.rgb[-6:]  # noqa: E731
    assert (fill("B2"), fill("B3"), fill("D2"), fill("D3")) == (AGREE, DISAGREE, NO_EVIDENCE, AGREE)
    again = write_workbook(queue, tmp_path / "again.xlsx")
    assert again.read_bytes() == workbook.read_bytes(), "the saved queue gives the queue's own cells, byte for byte"


def test_the_workbook_from_a_saved_queue_has_the_queues_own_cells(tmp_path):
    """Text, numbers, missing values and booleans come back from the saved queue as the queue held them."""
    from matching.review_workbook import workbook_from, write_review_queue, write_workbook

    queue = pd.DataFrame({
        "pair_id": ["p0", "p1", "p2"], "left_record_id": ["00123", "7", None],
        "match_probability": [0.91, 0.5, float("nan")], "left_dob": pd.to_datetime(["2001-02-03", None, "1990-12-31"]),
        "same_household": pd.array([True, None, False], dtype="boolean"), "events": pd.array([1, None, 3], dtype="Int64"),
        "forename_level": ["exact", "different", None], "forename_weight": [8.5, -5.6, float("nan")],
        "decision": ["", "", ""],
    })
    _, saved = write_review_queue(queue, tmp_path / "q.csv", tmp_path / "q.parquet")
    assert workbook_from(saved, tmp_path / "a.xlsx").read_bytes() == write_workbook(queue, tmp_path / "b.xlsx").read_bytes()


def test_decisions_from_the_workbook_are_stored_like_those_from_the_csv(tmp_path):
    from matching.review_workbook import write_workbook

    queue = pd.read_csv(queue_file(tmp_path, ["link", "no link", ""]), dtype=str, keep_default_na=False)
    workbook = write_workbook(queue, tmp_path / "review_queue.xlsx")
    stats = apply_review_file(workbook, tmp_path / "decisions.csv")
    assert (stats.decided, stats.links, stats.no_links, stats.undecided) == (2, 1, 1, 1)
    assert set(read_decisions(tmp_path / "decisions.csv")["pair_id"]) == {"p0", "p1"}


def test_a_bad_decision_in_the_workbook_names_its_row_and_stores_nothing(tmp_path):
    from matching.review_workbook import write_workbook

    queue = pd.read_csv(queue_file(tmp_path, ["link", "perhaps", "link"]), dtype=str, keep_default_na=False)
    workbook = write_workbook(queue, tmp_path / "review_queue.xlsx")
    store = tmp_path / "decisions.csv"
    with pytest.raises(ReviewError, match=r"row\(s\) 3: decision must be 'link' or 'no link'"):
        apply_review_file(workbook, store)
    assert not store.exists()
