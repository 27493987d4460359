"""How hard the synthetic extracts are: `standard` (the demo's) or `realistic` (what partners really send).

Partner extracts are far dirtier than the council's own records, police and
housing above all. In the realistic mode:

- about one forename in six in police and housing rows differs from the
  council's: nicknames, aliases (another name altogether), typos, initials,
  and now and then no forename at all;
- dates of birth are missing from 5-10 % of those rows and mistyped in a few
  more, day and month swapped among them;
- NINOs are present on 10 % of police rows and 40 % of housing rows;
- about a quarter of rows carry a stale or another postcode: a fifth of
  households have moved, partners record the move late (often for the whole
  household at once), and some rows give a relative's or a hostel's postcode;
- step-children are known by the step-parent's surname in police, housing
  and sometimes school records, while the council holds their legal surname;
- forename and surname are swapped more often, and a double-barrelled surname
  is recorded as one of its parts.

The standard mode is unchanged by any of this: the realistic draws use their
own random streams and only run when their rates are above zero.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from data.synth.noise import NoiseProfile

Difficulty = Literal["standard", "realistic"]
DIFFICULTIES: tuple[str, ...] = ("standard", "realistic")

MOVED_RATE = {"standard": 0.08, "realistic": 0.20}
DOUBLE_BARRELLED_ADULTS = 0.05
STEP_CHILDREN = 0.08

REALISTIC_PROFILES = {
    "la_cases": NoiseProfile(
        name_typo=0.015, nickname=0.03, dob_error=0.01, dob_missing=0.01,
        nino_present=0.55, nhs_present=0.6, upn_present=0.88, nino_typo=0.003, nhs_typo=0.003,
        identifier_format=0.2, postcode_format=0.05, postcode_missing=0.01,
        known_as=0.3, surname_part=0.1, previous_address=0.1,
    ),
    "dwp_benefits": NoiseProfile(
        name_typo=0.03, nickname=0.08, forename_initial=0.01, name_case=0.3, dob_error=0.015, dob_missing=0.005,
        nino_present=0.995, nino_typo=0.004, nino_placeholder=0.001, nhs_present=0.0, upn_present=0.0,
        previous_address=0.5, postcode_missing=0.02, surname_part=0.2, other_postcode=0.05,
        household_late_move=0.3,
    ),
    "housing": NoiseProfile(
        name_typo=0.05, nickname=0.08, alias=0.02, swapped_names=0.02, forename_initial=0.01, forename_missing=0.005,
        dob_error=0.03, day_month_swap=0.02, dob_missing=0.07,
        nino_present=0.4, nino_typo=0.03, nino_placeholder=0.03, nhs_present=0.0, upn_present=0.0,
        identifier_format=0.1, previous_address=0.5, postcode_missing=0.03, postcode_format=0.1,
        known_as=0.6, surname_part=0.4, other_postcode=0.12, household_late_move=0.5,
    ),
    "police": NoiseProfile(
        name_typo=0.07, nickname=0.08, alias=0.03, swapped_names=0.05, forename_initial=0.015, forename_missing=0.01,
        name_case=0.5, dob_error=0.05, day_month_swap=0.02, dob_missing=0.09, dob_impossible=0.002,
        nino_present=0.10, nino_typo=0.05, nino_placeholder=0.02, nhs_present=0.0, upn_present=0.0,
        identifier_format=0.3, previous_address=0.6, postcode_missing=0.1, postcode_format=0.2,
        known_as=0.7, surname_part=0.5, other_postcode=0.15, household_late_move=0.5,
    ),
    "education": NoiseProfile(
        name_typo=0.01, nickname=0.06, dob_error=0.01, day_month_swap=0.005, nino_present=0.0, nhs_present=0.0,
        upn_present=0.99, upn_typo=0.005, previous_address=0.3, postcode_missing=0.01,
        known_as=0.3, surname_part=0.2, household_late_move=0.3,
    ),
}


def realistic_people(people: pd.DataFrame, surname_pool: np.ndarray, surname_weights: np.ndarray,
                     rng: np.random.Generator) -> pd.DataFrame:
    """Double-barrelled adults, and step-children whose legal surname is not the household's.

    `known_as_surname` holds the surname a step-child goes by (the household's); their `surname`, the one
    the council and DWP hold, is their legal one, drawn afresh.
    """
    people = people.copy()
    adult = (people["role"] == "adult").to_numpy()
    surname = people["surname"].to_numpy(dtype=object).copy()
    probabilities = surname_weights / surname_weights.sum()
    barrelled = adult & (rng.random(len(people)) < DOUBLE_BARRELLED_ADULTS) & ~pd.Series(surname).str.contains("-").to_numpy()
    second = surname_pool[rng.choice(len(surname_pool), int(barrelled.sum()), p=probabilities)]
    surname[barrelled] = surname[barrelled] + "-" + second
    step = (~adult) & (rng.random(len(people)) < STEP_CHILDREN)
    known_as = np.full(len(people), None, dtype=object)
    known_as[step] = surname[step]
    surname[step] = surname_pool[rng.choice(len(surname_pool), int(step.sum()), p=probabilities)]
    people["surname"] = surname
    people["known_as_surname"] = known_as
    return people
