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
