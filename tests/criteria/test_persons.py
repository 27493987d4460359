"""Person lookups by record, and the one date of birth each person is assessed on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from criteria.families import person_dates_of_birth
from criteria.persons import RecordPersons

LINKED = pd.DataFrame({
    "source": ["la_cases", "la_cases", "police", "police", "police", "education"],
    "record_id": ["L1", "L2", "P1", "P2", "P3", "E1"],
    "person_id": ["P000000003", "P000000001", "P000000001", "P000000002", "P000000003", "P000000003"],
    "match_probability": [0.99, np.nan, 0.97, np.nan, 0.95, 1.0],
})


def test_names_are_sorted_so_codes_order_like_person_ids():
    persons = RecordPersons(LINKED)
    assert list(persons.names) == ["P000000001", "P000000002", "P000000003"]
    codes = persons.codes("police", pd.Series(["P3", "P1", "P2"]))
    assert list(persons.names[codes]) == ["P000000003", "P000000001", "P000000002"]


def test_lookup_in_any_order_with_unknown_records_and_sources():
    persons = RecordPersons(LINKED)
    codes, probabilities = persons.lookup("police", pd.Series(["P3", "X9", "P1"]))
    assert list(persons.names_of(codes)) == ["P000000003", None, "P000000001"]
    assert probabilities[0] == 0.95 and np.isnan(probabilities[1]) and probabilities[2] == 0.97
    assert list(persons.persons("housing", pd.Series(["H1"]))) == [None]
    assert list(persons.codes("police", pd.Series([], dtype=str))) == []


def test_the_same_records_in_the_same_order_need_no_search():
    persons = RecordPersons(LINKED)
    codes, probabilities = persons.lookup("police", pd.Series(["P1", "P2", "P3"]))
    assert list(persons.names_of(codes)) == ["P000000001", "P000000002", "P000000003"]
    assert probabilities[0] == 0.97 and np.isnan(probabilities[1])


def test_persons_of_a_source():
    assert sorted(RecordPersons(LINKED).persons_of("police")) == ["P000000001", "P000000002", "P000000003"]
    assert list(RecordPersons(LINKED).persons_of("housing")) == []


def test_date_of_birth_prefers_the_council_record_then_the_commonest_then_the_earliest():
    persons = RecordPersons(LINKED)
    D = pd.Timestamp
    tables = {
        # person 3: the council's date wins over two police/education records that agree on another
        "la_cases": pd.DataFrame({"record_id": ["L1", "L2"], "dob": [D("2010-01-01"), pd.NaT]}),
        # person 1 has no council date: police and nothing else; person 2 only police
        "police": pd.DataFrame({"record_id": ["P1", "P2", "P3"],
                                "dob": [D("1980-02-02"), D("1990-03-03"), D("2010-01-10")]}),
        "education": pd.DataFrame({"record_id": ["E1"], "dob": [D("2010-01-10")]}),
    }
    by_person = person_dates_of_birth(tables, persons)
    chosen = dict(zip(persons.names, pd.to_datetime(by_person)))
    assert chosen == {"P000000001": D("1980-02-02"), "P000000002": D("1990-03-03"), "P000000003": D("2010-01-01")}


def test_date_of_birth_ties_go_to_the_earliest_and_unknown_stays_missing():
    linked = pd.DataFrame({"source": ["police", "police", "education"], "record_id": ["P1", "P2", "E1"],
                           "person_id": ["PA", "PA", "PB"], "match_probability": [0.9, 0.9, np.nan]})
    persons = RecordPersons(linked)
    tables = {"police": pd.DataFrame({"record_id": ["P1", "P2"],
                                      "dob": [pd.Timestamp("2001-05-05"), pd.Timestamp("2000-04-04")]}),
              "education": pd.DataFrame({"record_id": ["E1"], "dob": [pd.NaT]})}
    chosen = dict(zip(persons.names, pd.to_datetime(person_dates_of_birth(tables, persons))))
    assert chosen["PA"] == pd.Timestamp("2000-04-04")
    assert pd.isna(chosen["PB"])
