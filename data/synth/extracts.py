"""The five extracts drawn from a synthetic population, each with its source's habits.

Who appears where follows each household's latent need, so that partner
records gather around the families the council works with, as they do in life.
Each source records people through its own noise profile and writes its file
the way such extracts arrive: BOMs, Windows-1252, Excel, upper-case or spaced
headers, several date formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data.synth.difficulty import REALISTIC_PROFILES, Difficulty
from data.synth.noise import NoiseProfile, apply_noise
from data.synth.population import Population

PROFILES = {
    "la_cases": NoiseProfile(
        name_typo=0.015, nickname=0.03, dob_error=0.01, dob_missing=0.01,
        nino_present=0.55, nhs_present=0.6, upn_present=0.88, nino_typo=0.003, nhs_typo=0.003,
        identifier_format=0.2, postcode_format=0.05, postcode_missing=0.01,
    ),
    "dwp_benefits": NoiseProfile(
        name_typo=0.03, nickname=0.08, forename_initial=0.01, name_case=0.3, dob_error=0.015, dob_missing=0.005,
        nino_present=0.995, nino_typo=0.004, nino_placeholder=0.001, nhs_present=0.0, upn_present=0.0,
        previous_address=0.4, postcode_missing=0.02,
    ),
    "housing": NoiseProfile(
        name_typo=0.03, nickname=0.05, swapped_names=0.01, dob_error=0.02, dob_missing=0.4,
        nino_present=0.3, nino_typo=0.03, nino_placeholder=0.03, nhs_present=0.0, upn_present=0.0,
        identifier_format=0.1, previous_address=0.3, postcode_missing=0.03, postcode_format=0.1,
    ),
    "police": NoiseProfile(
        name_typo=0.08, nickname=0.1, swapped_names=0.04, forename_initial=0.01, name_case=0.5,
        dob_error=0.06, dob_missing=0.3, dob_impossible=0.002,
        nino_present=0.05, nino_typo=0.05, nino_placeholder=0.02, nhs_present=0.0, upn_present=0.0,
        identifier_format=0.3, previous_address=0.5, postcode_missing=0.1, postcode_format=0.2,
    ),
    "education": NoiseProfile(
        name_typo=0.01, nickname=0.04, dob_error=0.005, nino_present=0.0, nhs_present=0.0,
        upn_present=0.99, upn_typo=0.005, previous_address=0.2, postcode_missing=0.01,
    ),
}
EXACT_DUPLICATE_RATE = {"police": 0.0005, "dwp_benefits": 0.0003}
PERSON_COLUMNS = ["forename", "surname", "dob", "sex", "nino", "nhs_number", "upn", "address", "postcode"]
ASSESSED_CODES = np.array(["EYD", "HLT", "SUB", "REL", "HLT", "REL"])


@dataclass(frozen=True)
class Extract:
    source: str
    frame: pd.DataFrame
    """Canonical columns plus the truth columns `true_person_id` and `true_household_id`."""


def _people_view(population: Population, person_index: np.ndarray) -> pd.DataFrame:
    """Rows of true person values, with the household's addresses attached."""
    people = population.people.iloc[person_index].reset_index(drop=True)
    households = population.households.set_index("household_id")
    view = people.join(households[["address", "postcode", "previous_address", "previous_postcode"]], on="household_id")
    view = view.rename(columns={"person_id": "true_person_id", "household_id": "true_household_id"})
    return view


def _days_before(rng: np.random.Generator, reference: date, low: int, high: int, n: int) -> np.ndarray:
    return np.datetime64(reference, "D") - rng.integers(low, high, n).astype("timedelta64[D]")


def _household_rows(population: Population) -> tuple[np.ndarray, np.ndarray]:
    """For each person, the household's position and the person's row, for household-level draws."""
    people = population.people
    position = pd.Index(population.households["household_id"]).get_indexer(people["household_id"])
    return position, np.arange(len(people))


def la_cases(population: Population, rng: np.random.Generator) -> Extract:
    households = population.households
    need = households["need"].to_numpy()
    selected = rng.random(len(households)) < np.minimum(0.01 + 0.8 * need, 0.9)
    household_position, person_rows = _household_rows(population)
    in_family = selected[household_position] & (rng.random(len(person_rows)) < 0.97)
    rows = person_rows[in_family]
    view = _people_view(population, rows)
    family_number = pd.Series(np.cumsum(selected))[household_position[rows]].to_numpy()
    view["family_id"] = [f"F{n:06d}" for n in family_number]
    view["case_id"] = [f"C{n:06d}" for n in family_number + 100000]
    child = (view["role"] == "child").to_numpy()
    family_need = need[household_position[rows]]
    cin = child & (rng.random(len(view)) < 0.6 * family_need + 0.05)
    view["cin_flag"] = np.where(cin, "Y", "N")
    view["cp_flag"] = np.where(cin & (rng.random(len(view)) < 0.3), "Y", "N")
    # One early-help start and one assessment per family, repeated on each member's row.
    family_start = _days_before(rng, population.reference_date, 30, 3 * 365, len(households))
    view["early_help_start"] = family_start[household_position[rows]]
    family_needs = []
    for level in need:
        count = rng.binomial(3, min(level * 1.5, 0.9))
        family_needs.append(";".join(sorted(set(rng.choice(ASSESSED_CODES, count, replace=False)))) if count else None)
    view["assessed_needs"] = np.array(family_needs, dtype=object)[household_position[rows]]
    return Extract("la_cases", view)


def dwp_benefits(population: Population, rng: np.random.Generator) -> Extract:
    people = population.people
    household_position, person_rows = _household_rows(population)
    need = population.households["need"].to_numpy()[household_position]
    adult = (people["role"] == "adult").to_numpy() & people["nino"].notna().to_numpy()
    claimant = adult & (rng.random(len(people)) < np.minimum(0.02 + 0.9 * need, 0.85))
    claims_each = rng.choice([1, 2, 3], size=len(people), p=[0.7, 0.25, 0.05])
    rows = np.repeat(person_rows[claimant], claims_each[claimant])
    view = _people_view(population, rows)
    n = len(view)
    view["claim_id"] = [f"CL{v:08d}" for v in rng.permutation(n) + 10_000_000]
    view["benefit_type"] = rng.choice(["UC", "ESA", "JSA", "IS"], size=n, p=[0.65, 0.15, 0.1, 0.1])
    start = _days_before(rng, population.reference_date, 1, 4 * 365, n)
    ongoing = rng.random(n) < 0.6
    length = rng.integers(14, 900, n).astype("timedelta64[D]")
    end = np.minimum(start + length, np.datetime64(population.reference_date, "D"))
    view["start_date"] = start
    view["end_date"] = np.where(ongoing, np.datetime64("NaT"), end)
    return Extract("dwp_benefits", view)


def housing(population: Population, rng: np.random.Generator) -> Extract:
    households = population.households
    need = households["need"].to_numpy()
    events_each = np.where(rng.random(len(households)) < np.minimum(0.01 + 0.5 * need, 0.6),
                           rng.integers(1, 4, len(households)), 0)
    people = population.people
    first_person = np.r_[0, np.cumsum(households["n_adults"] + households["n_children"])[:-1]]
    size = (households["n_adults"] + households["n_children"]).to_numpy()
    event_household = np.repeat(np.arange(len(households)), events_each)
    n_events = len(event_household)
    event_ids = np.array([f"EV{v:07d}" for v in rng.permutation(n_events) + 1_000_000], dtype=object)
    event_types = rng.choice(
        ["homeless_presentation", "temporary_accommodation", "eviction_notice", "rent_arrears"],
        size=n_events, p=[0.3, 0.2, 0.15, 0.35],
    )
    event_dates = _days_before(rng, population.reference_date, 1, 540, n_events)
    # The applicant is an adult; each other member is listed on about half the events.
    rows, roles, event_of = [], [], []
    applicant = first_person[event_household] + rng.integers(0, households["n_adults"].to_numpy()[event_household])
    rows.append(applicant)
    roles.append(np.full(n_events, "applicant", dtype=object))
    event_of.append(np.arange(n_events))
    member_event = np.repeat(np.arange(n_events), size[event_household])
    member_row = np.concatenate([first_person[h] + np.arange(size[h]) for h in event_household]) if n_events else np.array([], int)
    keep = (member_row != applicant[member_event]) & (rng.random(len(member_row)) < 0.5)
    rows.append(member_row[keep])
    roles.append(np.full(int(keep.sum()), "member", dtype=object))
    event_of.append(member_event[keep])
    rows_all = np.concatenate(rows)
    event_index = np.concatenate(event_of)
    view = _people_view(population, rows_all)
    view["role"] = np.concatenate(roles)
    view["event_id"] = event_ids[event_index]
    view["event_type"] = event_types[event_index]
    view["event_date"] = event_dates[event_index]
    # Children's NI numbers are not asked for on a housing application.
    view.loc[people["role"].to_numpy()[rows_all] == "child", "nino"] = None
    return Extract("housing", view)


def police(population: Population, rng: np.random.Generator, difficulty: Difficulty = "standard") -> Extract:
    households = population.households
    people = population.people
    need = households["need"].to_numpy()
    n_incidents = rng.poisson(2.2 * need ** 1.3)
    size = (households["n_adults"] + households["n_children"]).to_numpy()
    first_person = np.r_[0, np.cumsum(size)[:-1]]
    incident_household = np.repeat(np.arange(len(households)), n_incidents)
    n = len(incident_household)
    types = rng.choice(
        ["asb", "domestic_abuse", "offence", "missing_person", "call_out"], size=n, p=[0.3, 0.2, 0.25, 0.08, 0.17]
    )
    ages = people["age"].to_numpy()
    adults = households["n_adults"].to_numpy()[incident_household]
    children = households["n_children"].to_numpy()[incident_household]
    first = first_person[incident_household]
    # Missing-person reports need a child; domestic abuse needs two adults; otherwise a call-out.
    types = np.where((types == "missing_person") & (children == 0), "call_out", types)
    types = np.where((types == "domestic_abuse") & (adults < 2), "call_out", types)
    main = first + rng.integers(0, size[incident_household])
    too_young = ages[main] < 10
    main = np.where(np.isin(types, ["asb", "offence"]) & too_young, first, main)
    main = np.where(types == "missing_person", first + adults + rng.integers(0, np.maximum(children, 1)), main)
    main = np.where(types == "domestic_abuse", first, main)
    incident_ids = np.array([f"IN{v:07d}" for v in rng.permutation(n) + 1_000_000], dtype=object)
    dates = _days_before(rng, population.reference_date, 1, 540, n)
    main_type = np.where(types == "domestic_abuse", "domestic_abuse_victim", types)
    abuse = np.flatnonzero(types == "domestic_abuse")
    rows = np.concatenate([main, first[abuse] + 1])
    index = np.concatenate([np.arange(n), abuse])
    incident_type = np.concatenate([main_type, np.full(len(abuse), "domestic_abuse_perpetrator", dtype=object)])
    if difficulty == "realistic":
        present = _household_present(rows, index, first, size[incident_household], rng)
        rows, index = np.r_[rows, present[0]], np.r_[index, present[1]]
        incident_type = np.r_[incident_type, np.full(len(present[0]), "call_out", dtype=object)]
    view = _people_view(population, rows)
    view["incident_id"] = incident_ids[index]
    view["incident_type"] = incident_type
    times = rng.integers(0, 24 * 60, len(rows)).astype("timedelta64[m]")
    view["incident_date"] = dates[index].astype("datetime64[m]") + times
    return Extract("police", view)


HOUSEHOLD_PRESENT = 0.3
"""Realistic mode: the share of an incident household's other members the police record as present (the
parent who reports a child missing, children present at a domestic incident)."""


def _household_present(rows: np.ndarray, index: np.ndarray, first: np.ndarray, sizes: np.ndarray,
                       rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Other members of each incident's household, listed as present: their rows and incident numbers."""
    member_incident = np.repeat(np.arange(len(first)), sizes)
    member_row = np.concatenate([first[i] + np.arange(sizes[i]) for i in range(len(first))]) if len(first) \
        else np.array([], dtype=np.int64)
    listed = pd.MultiIndex.from_arrays([index, rows])
    already = pd.MultiIndex.from_arrays([member_incident, member_row]).isin(listed)
    chosen = ~already & (rng.random(len(member_row)) < HOUSEHOLD_PRESENT)
    return member_row[chosen], member_incident[chosen]


def education(population: Population, rng: np.random.Generator) -> Extract:
    people = population.people
    household_position, person_rows = _household_rows(population)
    need = population.households["need"].to_numpy()[household_position]
    pupil = people["upn"].notna().to_numpy() & (people["age"].to_numpy() >= 5) & (people["age"].to_numpy() <= 16)
    listed = pupil & (rng.random(len(people)) < np.minimum(0.12 + 1.2 * need, 1.0))
    moved_school = rng.random(len(people)) < 0.05
    copies = np.where(moved_school, 2, 1)
    rows = np.repeat(person_rows[listed], copies[listed])
    view = _people_view(population, rows)
    n = len(view)
    pupil_need = need[rows]
    split = np.where(np.repeat(moved_school[listed], copies[listed]), 0.5, 1.0)
    possible = (rng.integers(300, 381, n) * split).astype(int)
    missed_share = rng.beta(1.2, 1.2 / np.clip(0.04 + 0.3 * pupil_need, 0.01, 0.9) - 1.2 + 0.01)
    missed = np.minimum((possible * missed_share).astype(int), possible)
    unauthorised = (missed * rng.beta(2, 3, n)).astype(int)
    view["school_urn"] = [f"{v:06d}" for v in rng.integers(100000, 150000, n)]
    view["sessions_possible"] = possible
    view["sessions_missed_authorised"] = missed - unauthorised
    view["sessions_missed_unauthorised"] = unauthorised
    view["suspensions"] = rng.poisson(3.0 * pupil_need ** 1.4)
    view["permanent_exclusion"] = np.where(rng.random(n) < 0.25 * pupil_need ** 2, "Y", "N")
    return Extract("education", view)


BUILDERS = {
    "la_cases": la_cases, "dwp_benefits": dwp_benefits, "housing": housing, "police": police, "education": education,
}
PREFIXES = {"la_cases": "LA", "dwp_benefits": "DW", "housing": "HO", "police": "PO", "education": "ED"}


def build_extract(source: str, population: Population, rng: np.random.Generator,
                  difficulty: Difficulty = "standard") -> Extract:
    """One source's rows: who appears, what the source records about them, in shuffled order."""
    raw = BUILDERS[source](population, rng, difficulty) if source == "police" else BUILDERS[source](population, rng)
    profile = (REALISTIC_PROFILES if difficulty == "realistic" else PROFILES)[source]
    elsewhere = population.households["postcode"].to_numpy(dtype=object)
    noisy = apply_noise(raw.frame, profile, rng, postcodes=elsewhere)
    noisy = noisy.iloc[rng.permutation(len(noisy))].reset_index(drop=True)
    noisy.insert(0, "record_id", [f"{PREFIXES[source]}{i:08d}" for i in range(1, len(noisy) + 1)])
    rate = EXACT_DUPLICATE_RATE.get(source, 0.0)
    repeats = np.flatnonzero(rng.random(len(noisy)) < rate)
    if len(repeats):
        noisy = pd.concat([noisy, noisy.iloc[repeats]]).sort_index(kind="stable").reset_index(drop=True)
    return Extract(source, noisy)
