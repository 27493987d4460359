"""Each need's outcome, for every family taken on: not yet met, met since a date, or sustained to a date.

The outcome plan's tests run over the same linked records the eligibility
assessment uses, a test at a time (never a family at a time): each test is one
vectorised pass over its source, joined to the family members through the
records' person IDs. Every outcome keeps the records behind it, with the
probability of the link that brought each one into the family, so that a claim
can be audited record by record.

An outcome rests on what the linkage did not find as much as on what it did:
no offence since the closure means no offence *linked to the family*. So a
record that would break a met outcome, and reaches the family only through a
pair still waiting for an analyst, makes the need *pending review*, as a
pending record holds an eligibility decision back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from criteria.assess import for_members, pending_links
from criteria.cases import CaseFacts
from criteria.conditions import condition_mask, person_totals
from criteria.outcome_plan import Cleared, EveryRecord, NoRecord, OutcomePlan, Recorded
from criteria.persons import RecordPersons
from criteria.progress import months_between
from data.tables import text_isin

NOT_MET, MET, SUSTAINED, PENDING_REVIEW = "not yet met", "met", "sustained", "pending review"
NEED_COLUMNS = ["family_id", "headline", "status", "met_since", "clock_from", "sustained_to", "months_sustained",
                "months_to_go", "reason"]
EVIDENCE_COLUMNS = ["family_id", "headline", "test", "rule", "source", "record_id", "person_id", "link_probability",
                    "record_date", "role"]
DAY = pd.Timedelta(days=1)

# What a record is to an outcome, as the audit pack says it.
BEFORE_OUTCOME = "the last such record: the outcome runs from the day after"
STILL_GOING = "still going on the reference date: the outcome is not met"
MEETS, FAILS = "meets the outcome", "does not meet the outcome"
PLAN_ENDED, PLAN_OPEN = "plan ended", "plan still open"
RECORDED = "recorded as met by the keyworker"
WOULD_BREAK = "would break the outcome if the pair waiting for an analyst is confirmed"


@dataclass(frozen=True)
class OutcomeStatus:
    needs: pd.DataFrame
    """One row per family taken on and need at entry (NEED_COLUMNS)."""
    evidence: pd.DataFrame
    """The records behind each outcome (EVIDENCE_COLUMNS)."""


@dataclass(frozen=True)
class _TestResult:
    met: pd.Series
    """Per family (the index): whether the test holds."""
    since: pd.Series
    reason: pd.Series


def _records(table: pd.DataFrame, persons: RecordPersons, source: str, applies_to: str) -> pd.DataFrame:
    """Every linked record of a source, as hits for `for_members` (its own family for a council record)."""
    codes, probabilities = persons.lookup(source, table["record_id"])
    linked = codes >= 0
    rows = table.loc[linked]
    return pd.DataFrame({
        "source": source, "record_id": rows["record_id"].astype(str).to_numpy(),
        "person_id": persons.names[codes[linked]], "code": codes[linked], "match_probability": probabilities[linked],
        "applies_to": applies_to,
        "record_family": (rows["family_id"].astype("string") if "family_id" in rows
                          else pd.Series(pd.NA, index=rows.index, dtype="string")).to_numpy(),
        "row": np.flatnonzero(linked),
    })


def _evidence(joined: pd.DataFrame, headline: str, number: int, rule: str, day: pd.Series, role) -> pd.DataFrame:
    return pd.DataFrame({
        "family_id": joined["family_id"].to_numpy(), "headline": headline, "test": number, "rule": rule,
        "source": joined["source"].to_numpy(), "record_id": joined["record_id"].to_numpy(),
        "person_id": joined["person_id"].to_numpy(), "link_probability": joined["match_probability"].to_numpy(),
        "record_date": pd.to_datetime(day).to_numpy(), "role": role,
    })


def _no_record(test: NoRecord, table: pd.DataFrame, hits: pd.DataFrame, members: pd.DataFrame,
               families: pd.Index, taken_on: pd.Series, today: pd.Timestamp) -> tuple[_TestResult, pd.DataFrame]:
    qualifying = np.ones(len(table), dtype=bool)
    for condition in test.conditions:
        qualifying &= condition_mask(table, condition)
    if test.date is not None:
        day = pd.to_datetime(table[test.date]).dt.normalize()
        qualifying &= (day <= today).fillna(False).to_numpy()
        ongoing = pd.Series(False, index=table.index)
    else:
        began = pd.to_datetime(table[test.spell.start]).dt.normalize()  # type: ignore[union-attr]
        day = pd.to_datetime(table[test.spell.end]).dt.normalize()  # type: ignore[union-attr]
        qualifying &= (began <= today).fillna(False).to_numpy()
        ongoing = day.isna() | (day > today)
    chosen = hits[qualifying[hits["row"].to_numpy()]]
    chosen = chosen.assign(day=day.to_numpy()[chosen["row"].to_numpy()],
                           ongoing=ongoing.to_numpy()[chosen["row"].to_numpy()])
    joined = for_members(chosen, members, on="code")
    going = joined.groupby("family_id")["ongoing"].any().reindex(families, fill_value=False)
    last = joined.groupby("family_id")["day"].max().reindex(families)
    since = pd.concat([taken_on.reindex(families), last + DAY], axis=1).max(axis=1)
    what = f"{'a spell' if test.spell else 'a record'} of {test.source} meeting the test"
    reason = pd.Series(np.where(going, f"{what} is still going", ""), index=families)
    role = np.where(joined["ongoing"], STILL_GOING, BEFORE_OUTCOME)
    latest = joined["ongoing"] | (joined["day"] == joined["family_id"].map(last))
    return (_TestResult(~going, since, reason),
            joined[latest.to_numpy()].assign(role=role[latest.to_numpy()]))


def _every_record(test: EveryRecord, table: pd.DataFrame, hits: pd.DataFrame, members: pd.DataFrame,
                  families: pd.Index, taken_on: pd.Series, period_start: pd.Timestamp) -> tuple[_TestResult, pd.DataFrame]:
    fields = tuple(name for condition in test.conditions for name in condition.fields())
    if test.aggregate == "per_person":
        persons = pd.Series(hits["code"].to_numpy(), index=hits["row"].to_numpy())
        totals = person_totals(table.iloc[hits["row"].to_numpy()].set_index(hits["row"].to_numpy()), persons, fields)
        ok = np.ones(len(totals), dtype=bool)
        for condition in test.conditions:
            ok &= condition_mask(totals, condition)
        meets = hits["code"].map(pd.Series(ok, index=totals.index)).fillna(False).to_numpy(dtype=bool)
    else:
        ok = np.ones(len(table), dtype=bool)
        for condition in test.conditions:
            ok &= condition_mask(table, condition)
        meets = ok[hits["row"].to_numpy()]
    joined = for_members(hits.assign(meets=meets), members, on="code")
    any_record = joined.groupby("family_id").size().reindex(families, fill_value=0) > 0
    all_meet = joined.groupby("family_id")["meets"].all().reindex(families, fill_value=False)
    met = any_record & all_meet
    since = taken_on.reindex(families).where(taken_on.reindex(families) > period_start, period_start)
    reason = pd.Series(np.where(~any_record, f"no {test.source} record for the family's members",
                                np.where(~all_meet, f"a record of {test.source} does not meet the test", "")),
                       index=families)
    return _TestResult(met, since, reason), joined.assign(day=pd.NaT,
                                                                          role=np.where(joined["meets"], MEETS, FAILS))


def _cleared(test: Cleared, table: pd.DataFrame, hits: pd.DataFrame, members: pd.DataFrame, families: pd.Index,
             taken_on: pd.Series) -> tuple[_TestResult, pd.DataFrame]:
    rows = hits["row"].to_numpy()
    still_open = np.zeros(len(hits), dtype=bool)
    for flag in test.open:
        still_open |= (table[flag].to_numpy()[rows] == True)  # noqa: E712 (nullable flags)
    ended = pd.to_datetime(table[test.cleared_on]).dt.normalize().to_numpy()[rows]
    joined = for_members(hits.assign(still_open=still_open, day=ended), members, on="code")
    joined = joined[(joined["still_open"] | joined["day"].notna()).to_numpy()]
    going = joined.groupby("family_id")["still_open"].any().reindex(families, fill_value=False)
    last = joined.groupby("family_id")["day"].max().reindex(families)
    since = pd.concat([taken_on.reindex(families), last], axis=1).max(axis=1)
    reason = pd.Series(np.where(going, "a child in need or protection plan is still open", ""), index=families)
    return (_TestResult(~going, since, reason),
            joined.assign(role=np.where(joined["still_open"], PLAN_OPEN, PLAN_ENDED)))


def _recorded(headline: str, cases: CaseFacts, families: pd.Index, taken_on: pd.Series) -> tuple[_TestResult, pd.DataFrame]:
    recorded = cases.recorded[cases.recorded["headline"] == headline].set_index("family_id")["recorded_on"]
    on = recorded.reindex(families)
    since = pd.concat([taken_on.reindex(families), on], axis=1).max(axis=1)
    met = on.notna()
    reason = pd.Series(np.where(met, "", "the keyworker has not recorded the outcome"), index=families)
    present = on[met]
    evidence = pd.DataFrame({"family_id": present.index, "source": "la_cases", "record_id": None, "person_id": None,
                             "match_probability": np.nan, "day": present.to_numpy(), "role": RECORDED})
    return _TestResult(met, since, reason), evidence


def _pending_breaks(test, table: pd.DataFrame, hits: pd.DataFrame, members: pd.DataFrame, links: pd.DataFrame,
                    result: _TestResult, families: pd.Index, today: pd.Timestamp) -> pd.DataFrame:
    """Records that would break a met outcome if a pair waiting for an analyst joined their person to a member."""
    if links.empty or isinstance(test, (Cleared, Recorded)):
        return pd.DataFrame()
    far = hits[np.isin(hits["code"].to_numpy(), links["other_code"].to_numpy())]
    if far.empty:
        return pd.DataFrame()
    breaking = np.zeros(len(far), dtype=bool)
    rows = far["row"].to_numpy()
    if isinstance(test, NoRecord):
        qualifying = np.ones(len(table), dtype=bool)
        for condition in test.conditions:
            qualifying &= condition_mask(table, condition)
        field = test.date if test.date else test.spell.end  # type: ignore[union-attr]
        day = pd.to_datetime(table[field]).dt.normalize().to_numpy()[rows]
        far = far.assign(day=day)
        breaking = qualifying[rows] & (pd.isna(day) | (day <= today.to_datetime64()))
    else:
        ok = np.ones(len(table), dtype=bool)
        for condition in test.conditions:
            ok &= condition_mask(table, condition)
        far = far.assign(day=pd.NaT)
        breaking = ~ok[rows]
    candidate = far[breaking].drop(columns=["person_id", "match_probability"]).rename(columns={"code": "other_code"}) \
        .merge(links[["other_code", "anchor_code", "anchor_person", "pair_probability"]], on="other_code")
    candidate = candidate.drop(columns="other_code").rename(
        columns={"anchor_code": "code", "anchor_person": "person_id", "pair_probability": "match_probability"})
    joined = for_members(candidate, members, on="code")
    since = joined["family_id"].map(result.since)
    if isinstance(test, NoRecord):  # only a record on or after the day the outcome runs from breaks it
        joined = joined[(joined["day"].isna() | (joined["day"] >= since)).to_numpy()]
    return joined.assign(role=WOULD_BREAK)


def _members_for(members: pd.DataFrame, applies_to: str) -> pd.DataFrame:
    """The members a test looks at, counting a member whose age is unknown as whatever the test applies to.

    Eligibility leaves such a member out (nothing is claimed on a guess); an outcome must not be judged met by
    leaving out records that may well be theirs, so here they count against it.
    """
    if applies_to == "any":
        return members
    return members.assign(role=members["role"].where(members["role"] != "unknown", applies_to))


def outcome_status(plan: OutcomePlan, tables: dict[str, pd.DataFrame], linked: pd.DataFrame, pending: pd.DataFrame,
                   members: pd.DataFrame, cases: CaseFacts, reference_date: date, period_start: date) -> OutcomeStatus:
    """The outcome of every need at entry of every family taken on, with the records behind it."""
    today, start = pd.Timestamp(reference_date), pd.Timestamp(period_start)
    persons = RecordPersons(linked)
    code_of = pd.Index(persons.names)  # persons as integer codes: the joins below run on them, not on text
    links = pending_links(persons, pending)
    links = links.assign(anchor_code=code_of.get_indexer(links["anchor_person"].astype(str)),
                         other_code=code_of.get_indexer(links["other_person"].astype(str)))
    members = members.assign(code=code_of.get_indexer(members["person_id"].astype(str)))
    facts = cases.families.set_index("family_id")
    taken = facts[facts["taken_on"].notna()]
    entry = taken["entry_needs"].explode().dropna()
    entry = pd.DataFrame({"family_id": entry.index, "headline": entry.to_numpy()})
    taken_on = taken["taken_on"]
    needs, evidence = [], []
    hits_of: dict[tuple[str, str], pd.DataFrame] = {}
    for headline in plan.headlines:
        families = pd.Index(entry.loc[entry["headline"] == headline.code, "family_id"].unique(), name="family_id")
        if families.empty:
            continue
        # Only the families with this need at entry, and only records of their members, reach the joins: every
        # test below joins to these members, so what it finds is of these families alone.
        members_of_need = members[text_isin(members["family_id"], families)]
        met = pd.Series(True, index=families)
        since = taken_on.reindex(families)
        reason = pd.Series("", index=families)
        pending_families: set[str] = set()
        for number, test in enumerate(headline.tests, start=1):
            members_here = _members_for(members_of_need, getattr(test, "applies_to", "any"))
            table = tables.get(test.source)
            if isinstance(test, Recorded):
                result, found = _recorded(headline.code, cases, families, taken_on)
            else:
                if table is None:
                    table = pd.DataFrame(columns=["record_id"])
                key = (test.source, test.applies_to)
                if key not in hits_of:
                    hits_of[key] = _records(table, persons, test.source, test.applies_to)
                hits = hits_of[key]
                codes = hits["code"].to_numpy()
                hits = hits[np.isin(codes, members_of_need["code"].to_numpy())
                            | np.isin(codes, links["other_code"].to_numpy())]  # a pending pair's far side too
                if isinstance(test, NoRecord):
                    result, found = _no_record(test, table, hits, members_here, families, taken_on, today)
                elif isinstance(test, EveryRecord):
                    result, found = _every_record(test, table, hits, members_here, families, taken_on, start)
                else:
                    result, found = _cleared(test, table, hits, members_here, families, taken_on)
                breaking = _pending_breaks(test, table, hits, members_here, links, result, families, today)
                if len(breaking):
                    pending_families |= set(breaking["family_id"])
                    found = pd.concat([found, breaking], ignore_index=True)
            reason = reason.where(reason != "", result.reason.where(~result.met, ""))
            met &= result.met
            since = pd.concat([since, result.since], axis=1).max(axis=1)
            if len(found):
                evidence.append(_evidence(found, headline.code, number, test.rule, found["day"], found["role"]))
        frame = pd.DataFrame({"family_id": families, "headline": headline.code, "met": met.to_numpy(),
                              "met_since": since.where(met).to_numpy(), "reason": reason.to_numpy()})
        frame["pending"] = frame["family_id"].isin(pending_families)
        needs.append(frame)
    table = pd.concat(needs, ignore_index=True) if needs else pd.DataFrame({
        "family_id": pd.Series(dtype=object), "headline": pd.Series(dtype=object), "met": pd.Series(dtype=bool),
        "met_since": pd.Series(dtype="datetime64[ns]"), "reason": pd.Series(dtype=object),
        "pending": pd.Series(dtype=bool)})
    table = _sustain(table, facts, plan, today, reference_date)
    evidence_table = (pd.concat(evidence, ignore_index=True) if evidence
                      else pd.DataFrame({column: [] for column in EVIDENCE_COLUMNS}))
    order = pd.Index([h.code for h in plan.headlines])
    table = table.assign(_o=order.get_indexer(table["headline"])).sort_values(["family_id", "_o"], kind="stable")
    evidence_table = evidence_table.assign(_o=order.get_indexer(evidence_table["headline"])).sort_values(
        ["family_id", "_o", "test", "record_date", "source", "record_id"], kind="stable", na_position="first")
    return OutcomeStatus(table[NEED_COLUMNS].reset_index(drop=True),
                         evidence_table[EVIDENCE_COLUMNS].reset_index(drop=True))


def _sustain(needs: pd.DataFrame, facts: pd.DataFrame, plan: OutcomePlan, today: pd.Timestamp,
             reference_date: date) -> pd.DataFrame:
    """How long each met outcome has lasted on the plan's clock, and whether that is long enough."""
    rule = plan.sustain
    closure = needs["family_id"].map(facts["closure_date"])
    reopened = needs["family_id"].map(facts["reopened_date"])
    still_closed = closure.notna() & (reopened.isna() | (reopened <= closure))
    met_since = pd.to_datetime(needs["met_since"])
    if rule.counted_from == "closure":
        clock = pd.concat([met_since, closure.where(still_closed)], axis=1).max(axis=1, skipna=False)
        clock = clock.where(still_closed & needs["met"])
    else:
        clock = met_since.where(needs["met"])
    months = months_between(clock, reference_date)
    sustained = needs["met"] & clock.notna() & (months >= rule.months).fillna(False)
    met = needs["met"].to_numpy(dtype=bool)
    status = np.select([met & needs["pending"].to_numpy(dtype=bool), sustained.to_numpy(dtype=bool), met],
                       [PENDING_REVIEW, SUSTAINED, MET], NOT_MET).astype(object)
    reason = needs["reason"].where(status != PENDING_REVIEW,
                                   "a record reaching the family through a pair waiting for an analyst would break it")
    reason = reason.where((status != MET) | clock.notna(), "met; the sustain clock starts when the case closes")
    return needs.assign(
        status=status, met_since=met_since, clock_from=clock,
        sustained_to=pd.Series(today, index=needs.index).where(sustained),
        months_sustained=months.where(needs["met"]).astype("Int64"),
        months_to_go=(rule.months - months).clip(lower=0).where(needs["met"] & clock.notna()).astype("Int64"),
        reason=reason,
    )
