"""Assess every family against a framework at once: needs with their evidence, and eligibility.

The work loops over descriptors (a dozen or so), never over families: each
descriptor is one vectorised mask over its source table, joined to the family
members through the records' person IDs. Every need found carries its
evidence: headline, descriptor, source record, person and the probability of
the link that brought the record into the family.

A record that would evidence a need but reaches the family only through a pair
still in the review queue is *pending*: it is listed, flagged, and not counted
until an analyst decides the pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from criteria.conditions import SCOPES, condition_mask, descriptor_mask, period_mask, period_scope, person_totals
from criteria.families import family_members, person_dates_of_birth
from criteria.framework import Descriptor, Framework
from criteria.persons import RecordPersons
from data.tables import STRING

HIT_TYPES = {
    "headline": STRING, "descriptor": STRING, "applies_to": STRING, "source": STRING, "record_id": STRING,
    "evidence_date": "datetime64[ns]", "scope_end": "datetime64[ns]", "scope": STRING, "record_family": STRING, "person_id": object, "match_probability": float,
}
COUNTED = "counted"
PENDING = "pending review"
EVIDENCE_COLUMNS = [
    "family_id", "headline", "descriptor", "source", "record_id", "person_id", "link_probability", "evidence_date",
    "scope_end", "scope", "status",
]
"""`evidence_date` to `scope_end` are the days of the period the record puts in scope (`criteria.conditions.period_scope`);
`scope` says how: an event, a spell's overlap, a return for the period, or the council's current view."""


def _stack(frames: list[pd.DataFrame], types: dict[str, object]) -> pd.DataFrame:
    """Frames one under another with one fixed type per column, so columns that are all empty concatenate cleanly."""
    if not frames:
        return pd.DataFrame({column: pd.Series(dtype=dtype) for column, dtype in types.items()})
    return pd.concat([frame.astype(types) for frame in frames], ignore_index=True)


@dataclass(frozen=True)
class Assessment:
    families: pd.DataFrame
    evidence: pd.DataFrame
    members: pd.DataFrame


def _meets(table: pd.DataFrame, descriptor: Descriptor, start: date, end: date, codes: np.ndarray) -> np.ndarray:
    """Which linked records evidence the descriptor: each on its own, or with the rest of its person's records.

    `codes` gives each of the table's rows its person code (-1 where not linked).
    """
    linked = codes >= 0
    if descriptor.aggregate == "record":
        return descriptor_mask(table, descriptor.conditions, descriptor.period, start, end) & linked
    in_period = period_mask(table, descriptor.period, start, end) & linked
    fields = tuple(name for condition in descriptor.conditions for name in condition.fields())
    totals = person_totals(table.loc[in_period], pd.Series(codes[in_period], index=table.index[in_period]), fields)
    met = np.ones(len(totals), dtype=bool)
    for condition in descriptor.conditions:
        met &= condition_mask(totals, condition)
    return in_period & np.isin(codes, totals.index.to_numpy()[met])


def _hits(framework: Framework, tables: dict[str, pd.DataFrame], start: date, end: date,
          persons: RecordPersons) -> pd.DataFrame:
    """Every linked record that meets a descriptor, with its person and link probability."""
    frames = []
    of_rows: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for headline, descriptor in framework.descriptors():
        table = tables.get(descriptor.source)
        if table is None or table.empty:
            continue
        if descriptor.source not in of_rows:
            of_rows[descriptor.source] = persons.lookup(descriptor.source, table["record_id"])
        codes, probabilities = of_rows[descriptor.source]
        mask = _meets(table, descriptor, start, end, codes)
        if not mask.any():
            continue
        chosen = table.loc[mask]
        first_day, last_day = period_scope(chosen, descriptor.period, start, end)
        frames.append(pd.DataFrame({
            "headline": headline.code, "descriptor": descriptor.id, "applies_to": descriptor.applies_to,
            "source": descriptor.source, "record_id": chosen["record_id"].astype(STRING).to_numpy(),
            "evidence_date": first_day.to_numpy(), "scope_end": last_day.to_numpy(),
            "scope": SCOPES[descriptor.period.rule],
            "record_family": (chosen["family_id"] if "family_id" in chosen
                              else pd.Series(pd.NA, index=chosen.index)).astype(STRING).to_numpy(),
            "person_id": persons.names[codes[mask]],
            "match_probability": probabilities[mask],
        }))
    return _stack(frames, HIT_TYPES)


def for_members(hits: pd.DataFrame, members: pd.DataFrame, on: str = "person_id") -> pd.DataFrame:
    """Hits that land on a family member the descriptor applies to.

    A council record counts for its own family only (the assessment and the
    flags are about that family); a partner record counts for every family the
    person belongs to. `on="code"` joins on integer person codes that both
    sides carry (the person_id kept is the hit's): far cheaper than text for
    a county's records.
    """
    joined = hits.merge(members if on == "person_id" else members.drop(columns="person_id"), on=on)
    own_family = joined["record_family"].isna() | (joined["record_family"] == joined["family_id"].astype(str))
    applies = (joined["applies_to"] == "any") | (joined["applies_to"] == joined["role"])
    return joined[own_family & applies]


def assess(
    framework: Framework, tables: dict[str, pd.DataFrame], linked: pd.DataFrame, pending: pd.DataFrame,
    period: tuple[date, date],
) -> Assessment:
    """Needs, evidence and eligibility for every family in the council's case records.

    `linked` maps every record to its person (source, record_id, person_id,
    match_probability); `pending` holds the pairs waiting for an analyst, as the
    linkage wrote them (left/right source and record_id, probability).
    """
    start, end = period
    persons = RecordPersons(linked)
    in_education = pd.Index(persons.persons_of("education"))
    members = family_members(
        tables["la_cases"], persons, person_dates_of_birth(tables, persons), in_education, end, framework.dependent_child,
    )
    hits = _hits(framework, tables, start, end, persons)
    counted = for_members(hits, members).assign(status=COUNTED).rename(columns={"match_probability": "link_probability"})
    waiting = _pending(hits, members, persons, pending, counted)
    evidence = pd.concat([part[EVIDENCE_COLUMNS] for part in (counted, waiting) if not part.empty]
                         or [counted[EVIDENCE_COLUMNS]], ignore_index=True)
    evidence = evidence.sort_values(["family_id", "headline", "descriptor", "status", "source", "record_id"],
                                    kind="stable").reset_index(drop=True)
    families = _families(framework, members, evidence)
    return Assessment(families, evidence, members)


def pending_links(persons: RecordPersons, pairs_waiting: pd.DataFrame) -> pd.DataFrame:
    """Each pair waiting for an analyst as two persons it would join, both ways round (anchor_person,
    other_person, pair_probability), the likeliest pair per two persons."""
    columns = ["anchor_person", "other_person", "pair_probability"]
    if pairs_waiting.empty:
        return pd.DataFrame(columns=columns)
    sides = {}
    for side in ("left", "right"):
        found = np.full(len(pairs_waiting), None, dtype=object)
        sources = pairs_waiting[f"{side}_source"].astype(str)
        for source in sources.unique():
            rows = (sources == source).to_numpy()
            found[rows] = persons.persons(source, pairs_waiting.loc[rows, f"{side}_record_id"])
        sides[side] = found
    probability = pairs_waiting["probability"].astype(float).to_numpy()
    pairs = pd.concat([
        pd.DataFrame({"anchor_person": sides["left"], "other_person": sides["right"], "pair_probability": probability}),
        pd.DataFrame({"anchor_person": sides["right"], "other_person": sides["left"], "pair_probability": probability}),
    ], ignore_index=True).dropna()
    pairs = pairs[pairs["anchor_person"] != pairs["other_person"]]
    return pairs.sort_values("pair_probability", ascending=False, kind="stable").drop_duplicates(
        ["anchor_person", "other_person"])[columns]


def _pending(hits: pd.DataFrame, members: pd.DataFrame, persons: RecordPersons, pairs_waiting: pd.DataFrame,
             counted: pd.DataFrame) -> pd.DataFrame:
    """Hits that would reach a family member if a pair waiting in the review queue were confirmed.

    Confirming a pair joins its two persons, so every record of the person on
    the far side counts, not only the record named in the pair.
    """
    pairs = pending_links(persons, pairs_waiting)
    if pairs.empty:
        return pd.DataFrame(columns=EVIDENCE_COLUMNS)
    reachable = hits[hits["person_id"].isin(pairs["other_person"])]
    candidate = reachable.drop(columns="match_probability").rename(columns={"person_id": "other_person"}).merge(
        pairs, on="other_person").drop(columns="other_person").rename(columns={"anchor_person": "person_id"})
    joined = for_members(candidate, members)
    counted_keys = counted[["family_id", "source", "record_id"]].drop_duplicates()
    already = joined.merge(counted_keys, on=["family_id", "source", "record_id"],
                           how="left", indicator=True)["_merge"].eq("both").to_numpy()
    pending = joined[~already].assign(status=PENDING).rename(columns={"pair_probability": "link_probability"})
    return pending.sort_values("link_probability", ascending=False, kind="stable").drop_duplicates(
        ["family_id", "descriptor", "source", "record_id"])


def reassess_without(framework: Framework, members: pd.DataFrame, evidence: pd.DataFrame,
                     persons: set[str]) -> pd.DataFrame:
    """Families' needs and eligibility as if some persons were not in the data.

    A person who opted out of the evaluation must not shape what it receives:
    neither as a member (the dependent child, the adult count) nor through the
    evidence of their records. The council's own assessment is unchanged.
    """
    return _families(framework, members[~members["person_id"].isin(persons)],
                     evidence[~evidence["person_id"].isin(persons)])


def _codes_joined(flags: pd.DataFrame) -> pd.Series:
    """'EDU;FIN;HOU' from a boolean column per code, built a code at a time rather than a family at a time."""
    text = pd.Series("", index=flags.index, dtype=object)
    for code in flags.columns:
        text = text + np.where(flags[code].to_numpy(), code + ";", "")
    return text.str.rstrip(";")


def _families(framework: Framework, members: pd.DataFrame, evidence: pd.DataFrame) -> pd.DataFrame:
    codes = list(framework.headline_codes)
    roles = members.assign(
        adult=members["role"] == "adult", child=members["role"] == "child", unknown=members["role"] == "unknown",
    )
    summary = roles.groupby("family_id").agg(
        members=("person_id", "nunique"), adults=("adult", "sum"), children=("child", "sum"),
        dependent_children=("dependent", "sum"), members_age_unknown=("unknown", "sum"),
    ).astype(int)
    counted = evidence[evidence["status"] == COUNTED]
    waiting = evidence[evidence["status"] == PENDING]

    def by_headline(rows: pd.DataFrame) -> pd.DataFrame:
        """A True per family and headline with at least one of these rows."""
        family = summary.index.get_indexer(rows["family_id"])
        code = pd.Index(codes).get_indexer(rows["headline"])
        known = (family >= 0) & (code >= 0)
        flags = np.zeros((len(summary), len(codes)), dtype=bool)
        flags[family[known], code[known]] = True
        return pd.DataFrame(flags, index=summary.index, columns=codes)

    met = by_headline(counted)
    pending = by_headline(waiting) & ~met
    descriptors_met = counted.groupby("family_id")["descriptor"].nunique().reindex(summary.index, fill_value=0)
    headlines_met = met.sum(axis=1)
    rule = framework.eligibility
    if rule.rule == "distinct_headlines":
        count, if_confirmed = headlines_met, headlines_met + pending.sum(axis=1)
    else:
        # A pending record of a descriptor the family already meets adds nothing if confirmed.
        if_confirmed = evidence.groupby("family_id")["descriptor"].nunique().reindex(summary.index, fill_value=0)
        count = descriptors_met
    has_dependent = summary["dependent_children"] > 0
    child_ok = has_dependent if rule.requires_dependent_child else pd.Series(True, index=summary.index)
    eligible = child_ok & (count >= rule.minimum)
    flags = _codes_joined(pd.DataFrame({"no dependent child": ~has_dependent,
                                        "age unknown": summary["members_age_unknown"] > 0}))

    families = summary.assign(
        needs=_codes_joined(met), needs_count=count.astype(int), headlines_met=headlines_met.astype(int),
        descriptors_met=descriptors_met.astype(int), eligible=eligible,
        pending_review=_codes_joined(pending), held_for_review=child_ok & ~eligible & (if_confirmed >= rule.minimum),
        flags=flags,
    )
    for code in codes:
        families[f"need_{code}"] = met[code].astype(np.int8)
    return families.reset_index()
