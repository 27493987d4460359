"""A synthetic population: households of one or two adults and up to five children.

Everything is drawn with numpy from one seeded generator, column by column, so
that 200,000 households take seconds and the same seed gives the same people.
The population carries the cases that fool simple linkers on purpose: twins,
a parent and child with the same name, common names that collide, and
strangers who share a name and a date of birth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from data import reference
from data.reference import origin_group
from data.synth.difficulty import MOVED_RATE, Difficulty, realistic_people
from data.identifiers import (
    NINO_BLOCKED_PREFIXES,
    UPN_CHECK_LETTERS,
    nhs_check_digits,
    upn_check_letters,
    upn_local_authority_numbers,
)

GROUP_WEIGHTS = {
    "british_irish": 0.74, "south_asian": 0.12, "east_european": 0.07, "african": 0.04, "chinese": 0.015,
    "turkish": 0.015,
}
MIXING_RATE = 0.12  # share of names drawn from outside the household's group

ADULTS_P = np.array([0.36, 0.64])  # one or two adults
CHILDREN_P = np.array([0.30, 0.22, 0.25, 0.13, 0.06, 0.04])  # none to five children
TWIN_RATE = 0.03
JUNIOR_RATE = 0.02
NAMESAKE_RATE = 0.0005
SEX_UNKNOWN_RATE = 0.003
SEX_X_RATE = 0.001
NHS_NUMBER_RATE = 0.97
NINO_AGE = 16
SCHOOL_AGES = (4, 18)
# Prefix letters per HMRC NIM39110; the pairs never allocated are drawn again.
NINO_FIRST = np.array(list("ABCEGHJKLMNOPRSTWXYZ"))
NINO_SECOND = np.array(list("ABCEGHJKLMNPRSTWXYZ"))
POSTCODE_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # Royal Mail leaves out C I K M O V
HOUSEHOLDS_PER_POSTCODE = 14
HOUSEHOLDS_PER_DISTRICT = 10_000


@dataclass(frozen=True)
class Population:
    households: pd.DataFrame
    people: pd.DataFrame
    reference_date: date


def _weighted_choice(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    probabilities = weights / weights.sum()
    return rng.choice(len(weights), size=size, p=probabilities)


def _names_for_groups(
    rng: np.random.Generator, groups: np.ndarray, names: pd.DataFrame, weight_column: str
) -> np.ndarray:
    """Draw a name per row from that row's origin group, or from anywhere at the mixing rate."""
    name_groups = origin_group(names["origin"]).to_numpy()
    weights = names[weight_column].to_numpy(dtype=float)
    values = names["name"].to_numpy()
    out = np.empty(len(groups), dtype=object)
    mixed = rng.random(len(groups)) < MIXING_RATE
    out[mixed] = values[_weighted_choice(rng, weights, int(mixed.sum()))]
    for group in GROUP_WEIGHTS:
        rows = np.flatnonzero((groups == group) & ~mixed)
        pool = np.flatnonzero(name_groups == group)
        if len(rows) == 0:
            continue
        if len(pool) == 0:
            pool = np.arange(len(values))
        out[rows] = values[pool[_weighted_choice(rng, weights[pool], len(rows))]]
    return out


# The share of each group's people whose surname is outside the reference list. Surnames of
# British and Irish origin spread thinly (the list's few hundred cover roughly half of people,
# with Smith at about 1.2%); Chinese and South Asian surnames are far more concentrated.
SURNAME_TAIL_SHARE = {"british_irish": 0.45, "east_european": 0.5, "african": 0.4, "turkish": 0.3,
                      "south_asian": 0.2, "chinese": 0.1}


def _surname_pool() -> pd.DataFrame:
    """The reference surnames and the made-up tail, weighted so that each group's tail holds its share.

    Within the tail, weights fall gently with rank (rank^-0.6, in a fixed shuffled order), so that
    some rare names are rarer than others, as in a real population.
    """
    head = reference.surnames().assign(weight=lambda t: t["weight"].astype(float))
    tail = reference.surname_tail()
    head_group = origin_group(head["origin"])
    tail_group = origin_group(tail["origin"])
    order = np.random.default_rng(0).permutation(len(tail))
    shape = np.empty(len(tail))
    shape[order] = (np.arange(len(tail)) + 1.0) ** -0.6
    weights = np.zeros(len(tail))
    for group, share in SURNAME_TAIL_SHARE.items():
        in_tail = (tail_group == group).to_numpy()
        head_weight = head.loc[(head_group == group).to_numpy(), "weight"].sum()
        if in_tail.any() and head_weight > 0:
            weights[in_tail] = shape[in_tail] / shape[in_tail].sum() * head_weight * share / (1 - share)
    return pd.concat([head, tail.assign(weight=weights)], ignore_index=True)


def _unique_draws(rng: np.random.Generator, make, count: int) -> np.ndarray:
    """Draw until `count` distinct values exist; `make(n)` draws n candidates, valid or None."""
    chosen: list[str] = []
    seen: set[str] = set()
    while len(chosen) < count:
        for value in make(int((count - len(chosen)) * 1.2) + 16):
            if value is not None and value not in seen:
                seen.add(value)
                chosen.append(value)
                if len(chosen) == count:
                    break
    return np.array(chosen, dtype=object)


def make_ninos(rng: np.random.Generator, count: int) -> np.ndarray:
    def draw(n: int) -> list[str | None]:
        first = NINO_FIRST[rng.integers(0, len(NINO_FIRST), n)]
        second = NINO_SECOND[rng.integers(0, len(NINO_SECOND), n)]
        digits = rng.integers(0, 1_000_000, n)
        suffix = np.array(list("ABCD"))[rng.integers(0, 4, n)]
        prefixes = np.char.add(first, second)
        values = [f"{p}{d:06d}{s}" for p, d, s in zip(prefixes, digits, suffix)]
        return [v if v[:2] not in NINO_BLOCKED_PREFIXES else None for v in values]

    return _unique_draws(rng, draw, count)


def make_nhs_numbers(rng: np.random.Generator, count: int) -> np.ndarray:
    def draw(n: int) -> list[str | None]:
        # Numbers issued in England and Wales start 4 to 7; 999 (test) never appears.
        bodies = rng.integers(400_000_000, 800_000_000, n)
        digits = (bodies[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        checks = nhs_check_digits(digits)
        return [f"{b:09d}{c}" if c != 10 else None for b, c in zip(bodies, checks)]

    return _unique_draws(rng, draw, count)


def make_upns(rng: np.random.Generator, count: int, birth_years: np.ndarray) -> np.ndarray:
    la_numbers = np.array(sorted(upn_local_authority_numbers()))
    home_la = la_numbers[rng.integers(0, len(la_numbers), 3)]

    def draw(n: int) -> list[str]:
        la = home_la[rng.integers(0, len(home_la), n)]
        school = rng.integers(1000, 7000, n)
        year = rng.integers(0, 100, n)
        serial = rng.integers(0, 1000, n)
        return [f"{a}{s:04d}{y:02d}{r:03d}" for a, s, y, r in zip(la, school, year, serial)]

    bodies = pd.Series(_unique_draws(rng, draw, count), dtype=str)
    if count:
        issue_year = pd.Series((birth_years + 5) % 100).map("{:02d}".format)
        bodies = bodies.str.slice(0, 7) + issue_year.to_numpy() + bodies.str.slice(9)
        bodies = pd.Series(pd.unique(bodies))
        while len(bodies) < count:  # the issue-year rewrite may have created a rare collision
            extra = pd.Series(_unique_draws(rng, draw, count - len(bodies)))
            bodies = pd.Series(pd.unique(pd.concat([bodies, extra])))
    letters = upn_check_letters(bodies)
    assert set(letters) <= set(UPN_CHECK_LETTERS)
    return (letters + bodies.to_numpy(dtype=str)).astype(object)


def _postcode_units(rng: np.random.Generator, districts: pd.DataFrame, count: int) -> pd.DataFrame:
    """Unit postcodes within the districts, each with its own street and town.

    Districts hold only so many units (ten sectors of 400 unit-letter pairs); past about half of
    that, a bigger population shares units more densely rather than waiting for unused ones.
    """
    count = min(count, len(districts) * 10 * len(POSTCODE_UNIT_LETTERS) ** 2 // 2)
    def draw(n: int) -> list[str]:
        district = districts["district"].to_numpy()[_weighted_choice(rng, districts["weight"].to_numpy(float), n)]
        sector = rng.integers(0, 10, n)
        unit = np.char.add(
            POSTCODE_UNIT_LETTERS[rng.integers(0, len(POSTCODE_UNIT_LETTERS), n)],
            POSTCODE_UNIT_LETTERS[rng.integers(0, len(POSTCODE_UNIT_LETTERS), n)],
        )
        return [f"{d} {s}{u}" for d, s, u in zip(district, sector, unit)]

    postcodes = _unique_draws(rng, draw, count)
    district_of = pd.Series(postcodes).str.split(" ").str[0]
    town = district_of.map(districts.set_index("district")["town"])
    home = district_of.map(districts.set_index("district")["home"]).astype(bool)
    streets = reference.streets().to_numpy()
    return pd.DataFrame({
        "postcode": postcodes, "street": streets[rng.integers(0, len(streets), count)],
        "town": town.to_numpy(), "home": home.to_numpy(),
    })


def _home_districts(districts: pd.DataFrame, households: int) -> pd.DataFrame:
    """The council's own postcode districts, widened for a population too big for them.

    A district holds about ten thousand households; a population larger than the listed home
    districts can hold spreads into further districts (LS30, LS31, ..., then the neighbouring
    areas' unused numbers), as a bigger council's area would, rather than packing more people
    into each postcode.
    """
    home = districts[districts["home"]]
    needed = -(-households // HOUSEHOLDS_PER_DISTRICT) - len(home)
    if needed <= 0:
        return home
    parts = districts["district"].str.extract(r"^([A-Z]+)\d+$")[0]
    towns = districts.groupby(parts, sort=False)["town"].first()
    areas = list(dict.fromkeys([*parts[districts["home"]], *parts]))  # the council's own area first
    taken = set(districts["district"])
    weight = int(home["weight"].median())
    extra = [{"district": f"{area}{number}", "town": towns[area], "weight": weight, "home": True}
             for area in areas for number in range(1, 100) if f"{area}{number}" not in taken][:needed]
    if len(extra) < needed:
        raise ValueError(f"{households:,} households need more postcode districts than the areas hold")
    return pd.concat([home, pd.DataFrame(extra)], ignore_index=True)


def _addresses(rng: np.random.Generator, units: pd.DataFrame, unit_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    numbers = rng.integers(1, 220, len(unit_index))
    street = units["street"].to_numpy()[unit_index]
    town = units["town"].to_numpy()[unit_index]
    address = np.char.add(np.char.add(np.char.add(numbers.astype(str), " "), street.astype(str)), ", ")
    address = np.char.add(address, town.astype(str)).astype(object)
    return address, units["postcode"].to_numpy()[unit_index]


def _dates_from_ages(rng: np.random.Generator, reference_date: date, ages_years: np.ndarray) -> np.ndarray:
    reference = np.datetime64(reference_date, "D")
    days = (ages_years * 365.25).astype(np.int64) + rng.integers(0, 365, len(ages_years))
    return reference - days.astype("timedelta64[D]")


def build_population(households: int, seed: int, reference_date: date, difficulty: Difficulty = "standard") -> Population:
    """Households and their people with true, clean values.

    The realistic mode moves more households and adds double-barrelled adults and step-children
    (`data.synth.difficulty`), drawn from a random stream of their own.
    """
    rng = np.random.default_rng(seed)
    districts = reference.districts()
    home_districts = _home_districts(districts, households)
    n_units = max(households // HOUSEHOLDS_PER_POSTCODE, 1)
    units = _postcode_units(rng, home_districts, n_units)
    away_units = _postcode_units(rng, districts[~districts["home"]], max(n_units // 10, 1))

    # Households.
    hh_ids = np.array([f"H{i:07d}" for i in range(1, households + 1)], dtype=object)
    n_adults = rng.choice([1, 2], size=households, p=ADULTS_P)
    n_children = rng.choice(np.arange(6), size=households, p=CHILDREN_P)
    groups = np.array(list(GROUP_WEIGHTS))[
        rng.choice(len(GROUP_WEIGHTS), size=households, p=np.array(list(GROUP_WEIGHTS.values())))
    ]
    unit = rng.integers(0, len(units), households)
    address, postcode = _addresses(rng, units, unit)
    moved = rng.random(households) < MOVED_RATE[difficulty]
    previous_unit = rng.integers(0, len(units), households)
    previous_address, previous_postcode = _addresses(rng, units, previous_unit)
    away = rng.random(households) < 0.15  # of movers, some came from outside the council's area
    away_address, away_postcode = _addresses(rng, away_units, rng.integers(0, len(away_units), households))
    previous_address = np.where(away, away_address, previous_address)
    previous_postcode = np.where(away, away_postcode, previous_postcode)
    # A latent level of need: most households have little, a few have a lot.
    need = rng.beta(0.5, 3.2, households)
    household_frame = pd.DataFrame({
        "household_id": hh_ids, "origin_group": groups, "n_adults": n_adults, "n_children": n_children,
        "address": address, "postcode": postcode, "moved": moved,
        "previous_address": np.where(moved, previous_address, None),
        "previous_postcode": np.where(moved, previous_postcode, None),
        "need": need,
    })

    # People: adults first within each household, then children.
    size = n_adults + n_children
    person_household = np.repeat(np.arange(households), size)
    position = np.arange(len(person_household)) - np.repeat(np.cumsum(size) - size, size)
    is_adult = position < np.repeat(n_adults, size)
    n_people = len(person_household)
    group_of = groups[person_household]

    sex = np.where(rng.random(n_people) < 0.5, "F", "M").astype(object)
    two_adults = np.repeat(n_adults == 2, size)
    second_adult = is_adult & (position == 1)
    # Most two-adult households are a woman and a man; some are same-sex couples.
    opposite = rng.random(n_people) < 0.95
    sex[second_adult & opposite] = np.where(sex[np.flatnonzero(second_adult & opposite) - 1] == "F", "M", "F")

    # Ages: adults 19-70 (parents younger when there are children); children 0-17.
    adult_age = np.clip(rng.normal(38, 9, n_people), 19, 75)
    child_age = rng.integers(0, 18, n_people).astype(float)
    age = np.where(is_adult, adult_age, child_age)
    # A child is at least 16 years younger than the household's first adult.
    first_adult_age = age[np.repeat(np.cumsum(size) - size, size)]
    age = np.where(~is_adult, np.minimum(age, np.maximum(first_adult_age - 16, 0)), age)
    dob = _dates_from_ages(rng, reference_date, np.floor(age))

    fore = reference.forenames()
    forename = np.empty(n_people, dtype=object)
    for person_sex in ("F", "M"):
        for adult_flag, column in ((True, "weight_adult"), (False, "weight_child")):
            rows = np.flatnonzero((sex == person_sex) & (is_adult == adult_flag))
            pool = fore[fore["sex"] == person_sex].reset_index(drop=True)
            forename[rows] = _names_for_groups(rng, group_of[rows], pool, column)
    # Nobody gives two of their household the same name (the junior below is the one exception).
    for _ in range(20):
        repeated = pd.DataFrame({"h": person_household, "f": forename}).duplicated(keep="first").to_numpy()
        if not repeated.any():
            break
        for person_sex in ("F", "M"):
            for adult_flag, column in ((True, "weight_adult"), (False, "weight_child")):
                rows = np.flatnonzero(repeated & (sex == person_sex) & (is_adult == adult_flag))
                pool = fore[fore["sex"] == person_sex].reset_index(drop=True)
                forename[rows] = _names_for_groups(rng, group_of[rows], pool, column)

    sur = _surname_pool()
    family_surname = _names_for_groups(rng, groups, sur, "weight")
    partner_surname = _names_for_groups(rng, groups, sur, "weight")
    surname = family_surname[person_household].copy()
    keeps_own = second_adult & (rng.random(n_people) < 0.35)
    surname[keeps_own] = partner_surname[person_household[keeps_own]]
    double = ~is_adult & two_adults & (rng.random(n_people) < 0.03)
    surname[double] = (
        family_surname[person_household[double]] + "-" + partner_surname[person_household[double]]
    )

    # Twins: the second child takes the first child's date of birth.
    hh_start = np.cumsum(size) - size
    twin_households = np.flatnonzero((n_children >= 2) & (rng.random(households) < TWIN_RATE))
    first_child = hh_start[twin_households] + n_adults[twin_households]
    dob[first_child + 1] = dob[first_child]
    # Juniors: a son named after his father.
    junior_candidates = np.flatnonzero(~is_adult & (sex == "M") & (rng.random(n_people) < JUNIOR_RATE))
    father = hh_start[person_household[junior_candidates]]
    is_father = sex[father] == "M"
    forename[junior_candidates[is_father]] = forename[father[is_father]]
    surname[junior_candidates[is_father]] = surname[father[is_father]]
    # Namesakes: strangers in other households who share a birthday are given the same name.
    by_birth = np.argsort(dob, kind="stable")
    shares_birthday = (dob[by_birth][1:] == dob[by_birth][:-1]) & (
        person_household[by_birth][1:] != person_household[by_birth][:-1]
    )
    pairs = np.flatnonzero(shares_birthday & (rng.random(n_people - 1) < NAMESAKE_RATE * 20))
    pairs = pairs[: max(int(n_people * NAMESAKE_RATE), 1)]
    originals, namesakes = by_birth[pairs], by_birth[pairs + 1]
    forename[namesakes] = forename[originals]
    surname[namesakes] = surname[originals]
    sex[namesakes] = sex[originals]

    unknown = rng.random(n_people)
    sex[unknown < SEX_UNKNOWN_RATE] = "U"
    sex[(unknown >= SEX_UNKNOWN_RATE) & (unknown < SEX_UNKNOWN_RATE + SEX_X_RATE)] = "X"

    reference_day = np.datetime64(reference_date, "D")
    age_years = ((reference_day - dob).astype(np.int64) // 365.25).astype(int)
    nino = np.full(n_people, None, dtype=object)
    eligible = np.flatnonzero(age_years >= NINO_AGE)
    nino[eligible] = make_ninos(rng, len(eligible))
    nhs = np.full(n_people, None, dtype=object)
    registered = np.flatnonzero(rng.random(n_people) < NHS_NUMBER_RATE)
    nhs[registered] = make_nhs_numbers(rng, len(registered))
    upn = np.full(n_people, None, dtype=object)
    pupils = np.flatnonzero(~is_adult & (age_years >= SCHOOL_AGES[0]) & (age_years <= SCHOOL_AGES[1]))
    birth_years = dob[pupils].astype("datetime64[Y]").astype(int) + 1970
    upn[pupils] = make_upns(rng, len(pupils), birth_years)

    people = pd.DataFrame({
        "person_id": np.array([f"P{i:08d}" for i in range(1, n_people + 1)], dtype=object),
        "household_id": hh_ids[person_household],
        "role": np.where(is_adult, "adult", "child"),
        "forename": forename, "surname": surname, "sex": sex,
        "dob": dob.astype("datetime64[ns]"), "age": age_years,
        "nino": nino, "nhs_number": nhs, "upn": upn,
    })
    if difficulty == "realistic":
        people = realistic_people(people, sur["name"].to_numpy(dtype=object), sur["weight"].to_numpy(float),
                                  np.random.default_rng([seed, 1013]))
    else:
        people["known_as_surname"] = None
    return Population(household_frame, people, reference_date)
