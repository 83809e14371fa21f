"""The fairness report: who the broker serves, group by group, against the rest.

Groups (a school may be in several): the **top quarter by free school meals** (schools
whose % FSM is at or above the 75th percentile of all schools with a known figure), **rural**
schools (``School.rural``), **special** schools and **alternative provision**. Each is
compared with the schools not in it, on three measures:

- **schools served**: share of the schools with requests that got at least one of them served;
- **pupils matched**: share of the pupils asked for that were matched;
- **goals met**: share of the requests' goals (STEM, challenging stereotypes, SEN needs; one
  per request and kind) met by the offer that serves them.

Two views: **this school year** (matches approved, accepted or delivered on this year's
requests, from the database), and **the latest nightly run against first come, first
served** (the matches in force after the run, and the engine's baseline on the same open
requests, offers and locked matches; stored by ``broker.services.insights``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import String, cast, func, select

from broker import clock
from broker.extensions import db
from broker.models import EncounterRequest, Match, Offer, School
from broker.statuses import LOCKED

__all__ = ["GROUPS", "FairnessReport", "GroupRow", "Shares", "fairness_report", "fsm_top_quarter"]

GROUPS = {
    "fsm": ("Top quarter by free school meals", "Other schools (not top quarter)"),
    "rural": ("Rural schools", "Other schools (not rural)"),
    "special": ("Special schools", "Other schools (not special)"),
    "ap": ("Alternative provision", "Other schools (not AP)"),
}


def fsm_top_quarter() -> float | None:
    """The % FSM at which the top quarter of schools (with a known figure) begins."""
    values = [v for v in db.session.scalars(select(School.fsm_pct)) if v is not None]
    if not values:
        return None
    return round(float(np.percentile(values, 75)), 1)


@dataclass
class Shares:
    """Totals over some schools, and the three shares (percentages, None when nothing asked)."""

    schools: int = 0
    schools_served: int = 0
    pupils_requested: int = 0
    pupils_matched: int = 0
    goals: int = 0
    goals_met: int = 0

    def add(self, requests: int, pupils: int, goals: int, served: int, matched: int, met: int):
        if requests:
            self.schools += 1
            self.schools_served += served > 0
        self.pupils_requested += pupils
        self.pupils_matched += matched
        self.goals += goals
        self.goals_met += met

    @staticmethod
    def _pct(part: int, whole: int) -> float | None:
        return round(100.0 * part / whole, 1) if whole else None

    @property
    def served_pct(self) -> float | None:
        return self._pct(self.schools_served, self.schools)

    @property
    def pupils_pct(self) -> float | None:
        return self._pct(self.pupils_matched, self.pupils_requested)

    @property
    def goals_pct(self) -> float | None:
        return self._pct(self.goals_met, self.goals)


@dataclass
class GroupRow:
    """One group against the rest, this year and in the latest run (optimal and FCFS)."""

    key: str
    label: str
    rest_label: str
    year: Shares = field(default_factory=Shares)
    year_rest: Shares = field(default_factory=Shares)
    optimal: Shares = field(default_factory=Shares)
    optimal_rest: Shares = field(default_factory=Shares)
    fcfs: Shares = field(default_factory=Shares)
    fcfs_rest: Shares = field(default_factory=Shares)


@dataclass
class FairnessReport:
    """The report for some areas (or the country)."""

    groups: list[GroupRow]
    fsm_threshold: float | None
    all_year: Shares
    all_optimal: Shares
    all_fcfs: Shares
    snapshot_at: datetime | None = None
    run_id: int | None = None


def _groups_of(fsm: float | None, rural: bool, kind: str, threshold: float | None) -> set[str]:
    out = set()
    if fsm is not None and threshold is not None and fsm >= threshold:
        out.add("fsm")
    if rural:
        out.add("rural")
    if kind in ("special", "ap"):
        out.add(kind)
    return out


def _this_year(area_ids: list[int] | None, today: date) -> dict[int, list[int]]:
    """Per school: [requests, pupils, goals, served, matched, goals met] for this year."""
    year_start = clock.school_year_start(today)
    where = [EncounterRequest.status != "withdrawn", EncounterRequest.latest >= year_start]
    if area_ids is not None:
        where.append(
            EncounterRequest.school_id.in_(
                select(School.id).where(School.area_id.in_(area_ids or [-1]))
            )
        )
    matched: dict[int, list[Any]] = defaultdict(lambda: [0, False, False])
    for rid, pupils, stem, stereo in db.session.execute(
        select(Match.request_id, Match.pupils, Offer.stem, Offer.challenges_stereotype)
        .join(Offer, Match.offer_id == Offer.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(Match.status.in_(LOCKED), *where)
    ):
        m = matched[int(rid)]
        m[0] += pupils
        m[1] |= bool(stem)
        m[2] |= bool(stereo)
    out: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
    for rid, school_id, pupils, stem_goal, stereo_goal, sen in db.session.execute(
        select(
            EncounterRequest.id,
            EncounterRequest.school_id,
            EncounterRequest.pupils,
            EncounterRequest.stem_goal,
            EncounterRequest.stereotype_goal,
            # Whether any SEN need is listed, without decoding every request's JSON list.
            func.length(cast(EncounterRequest.sen_needs, String)) > 2,
        ).where(*where)
    ):
        got, stem_met, stereo_met = matched.get(int(rid), (0, False, False))
        got = min(got, pupils)
        row = out[int(school_id)]
        row[0] += 1
        row[1] += pupils
        row[2] += int(bool(stem_goal)) + int(bool(stereo_goal)) + int(bool(sen))
        row[3] += got > 0
        row[4] += got
        if got:
            row[5] += (
                int(bool(stem_goal) and stem_met)
                + int(bool(stereo_goal) and stereo_met)
                + int(bool(sen))
            )
    return out


def fairness_report(area_ids: list[int] | None, today: date, snapshot: Any) -> FairnessReport:
    """The fairness report for the areas (None: the country)."""
    threshold = fsm_top_quarter()
    query = select(School.id, School.fsm_pct, School.rural, School.kind)
    if area_ids is not None:
        query = query.where(School.area_id.in_(area_ids or [-1]))
    member = {
        int(i): _groups_of(fsm, bool(rural), kind, threshold)
        for i, fsm, rural, kind in db.session.execute(query)
    }
    rows = {key: GroupRow(key, *labels) for key, labels in GROUPS.items()}
    all_year, all_optimal, all_fcfs = Shares(), Shares(), Shares()
    for school_id, (req, pupils, goals, served, got, met) in _this_year(area_ids, today).items():
        if school_id not in member:
            continue
        all_year.add(req, pupils, goals, served, got, met)
        for key, row in rows.items():
            target = row.year if key in member[school_id] else row.year_rest
            target.add(req, pupils, goals, served, got, met)
    if snapshot is not None:
        for sid, req, pupils, goals, o_srv, o_pup, o_met, b_srv, b_pup, b_met in snapshot.schools:
            if sid not in member:
                continue
            all_optimal.add(req, pupils, goals, o_srv, o_pup, o_met)
            all_fcfs.add(req, pupils, goals, b_srv, b_pup, b_met)
            for key, row in rows.items():
                inside = key in member[sid]
                (row.optimal if inside else row.optimal_rest).add(
                    req, pupils, goals, o_srv, o_pup, o_met
                )
                (row.fcfs if inside else row.fcfs_rest).add(req, pupils, goals, b_srv, b_pup, b_met)
    return FairnessReport(
        groups=list(rows.values()),
        fsm_threshold=threshold,
        all_year=all_year,
        all_optimal=all_optimal,
        all_fcfs=all_fcfs,
        snapshot_at=snapshot.created_at if snapshot else None,
        run_id=snapshot.run_id if snapshot else None,
    )
