"""Coverage: which schools have had, booked or been proposed an encounter this school year,
where the offers are, and the figures behind the insights charts.

Definitions (the pages say them too):

- **This school year's matches**: matches on requests whose window ends on or after
  1 September of the current school year.
- A school's **coverage**: ``delivered`` (an encounter delivered this year), else
  ``booked`` (a match approved or accepted), else ``proposed`` (a proposal waiting for a
  coordinator), else ``none``.
- **Cold spot**: an open request that no current offer could serve under the engine's hard
  rules, as the last nightly match found (``requests.has_candidate``).
- **Demand**: pupils still wanted by open, current requests (less what live matches hold);
  **supply**: places left in open, current offers (less what live matches hold).

Every function takes the areas to look at (``None``: the whole country); callers scope them
with :func:`scope` so a coordinator never sees another area's schools.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from broker import clock
from broker.extensions import db
from broker.insights.models import InsightSnapshot
from broker.models import (
    ENCOUNTER_TYPES,
    Area,
    Employer,
    Encounter,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
    User,
)
from broker.services import holds
from broker.services.coordination import area_ids_for
from broker.services.errors import NotAllowed
from broker.statuses import BOOKED, COVERAGE, LIVE, Coverage, MatchStatus

__all__ = [
    "COVERAGE",
    "Coverage",
    "Headline",
    "MapSchool",
    "coverage_by_month",
    "headline",
    "map_offers",
    "map_schools",
    "run_history",
    "school_coverage",
    "scope",
    "supply_demand",
]

_RANK: dict[str, int] = {
    MatchStatus.PROPOSED: 1,
    MatchStatus.APPROVED: 2,
    MatchStatus.ACCEPTED: 2,
    MatchStatus.DELIVERED: 3,
}


def scope(user: User, area_id: int | None = None) -> list[int] | None:
    """The areas ``user`` looks at: one of theirs, all of theirs, or None (an admin, all)."""
    areas = area_ids_for(user)
    if area_id is None:
        return areas
    if areas is not None and area_id not in areas:
        raise NotAllowed("That area is not yours.")
    if db.session.get(Area, area_id) is None:
        raise NotAllowed("No such area.")
    return [area_id]


def _school_filter(area_ids: list[int] | None) -> list[Any]:
    return [] if area_ids is None else [School.area_id.in_(area_ids or [-1])]


def _match_request_in(area_ids: list[int] | None) -> list[Any]:
    if area_ids is None:
        return []
    return [
        Match.request_id.in_(
            select(EncounterRequest.id)
            .join(School, EncounterRequest.school_id == School.id)
            .where(School.area_id.in_(area_ids or [-1]))
        )
    ]


def _request_in(area_ids: list[int] | None) -> list[Any]:
    if area_ids is None:
        return []
    return [
        EncounterRequest.school_id.in_(
            select(School.id).where(School.area_id.in_(area_ids or [-1]))
        )
    ]


def school_coverage(
    area_ids: list[int] | None, today: date, *, school_id: int | None = None
) -> dict[int, str]:
    """Each school's coverage this school year (schools without any match: ``none``);
    with ``school_id``, that school's alone."""
    year_start = clock.school_year_start(today)
    where = _school_filter(area_ids)
    if school_id is not None:
        where.append(School.id == school_id)
    schools = db.session.scalars(select(School.id).where(*where))
    out: dict[int, str] = {int(i): Coverage.NONE for i in schools}
    rows = db.session.execute(
        select(EncounterRequest.school_id, Match.status)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(
            Match.status.in_(LIVE),
            EncounterRequest.latest >= year_start,
            *_request_in(area_ids),
            *([] if school_id is None else [EncounterRequest.school_id == school_id]),
        )
        .distinct()
    )
    best: dict[int, int] = defaultdict(int)
    for school_id, status in rows:
        best[int(school_id)] = max(best[int(school_id)], _RANK[status])
    for school_id, rank in best.items():
        if school_id in out:
            out[school_id] = COVERAGE[rank]
    return out


def _cold_schools(area_ids: list[int] | None, today: date) -> dict[int, int]:
    rows = db.session.execute(
        select(EncounterRequest.school_id, func.count())
        .where(
            EncounterRequest.status == "open",
            EncounterRequest.has_candidate.is_(False),
            EncounterRequest.latest >= today,
            *_request_in(area_ids),
        )
        .group_by(EncounterRequest.school_id)
    )
    return {int(s): int(n) for s, n in rows}


@dataclass(frozen=True)
class MapSchool:
    """A school as the map draws it."""

    id: int
    name: str
    lat: float
    lon: float
    coverage: str
    cold: int  # open requests no offer can reach
    area_id: int | None


def map_schools(area_ids: list[int] | None, today: date) -> list[MapSchool]:
    """Every school in the areas with its coverage and cold spots, for the map."""
    coverage = school_coverage(area_ids, today)
    cold = _cold_schools(area_ids, today)
    rows = db.session.execute(
        select(School.id, School.name, School.lat, School.lon, School.area_id)
        .where(*_school_filter(area_ids))
        .order_by(School.id)
    )
    return [
        MapSchool(i, name, lat, lon, coverage.get(i, "none"), cold.get(i, 0), area)
        for i, name, lat, lon, area in rows
    ]


def map_offers(
    today: date,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    grid: float | None = None,
) -> list[tuple[float, float, int, int]]:
    """In-person offers with places left, as ``(lat, lon, offers, places)`` points.

    ``bounds`` = (lat_lo, lat_hi, lon_lo, lon_hi) keeps offers inside a box (the map's), from
    whichever area their employer is in. Offers at one place (or, with ``grid`` in degrees,
    in one grid cell) make one point.
    """
    query = select(Offer.id, Offer.lat, Offer.lon, Offer.capacity).where(
        Offer.status == "open", Offer.latest >= today, Offer.delivery != "virtual"
    )
    if bounds is not None:
        lat_lo, lat_hi, lon_lo, lon_hi = bounds
        query = query.where(Offer.lat.between(lat_lo, lat_hi), Offer.lon.between(lon_lo, lon_hi))
        held = holds.by_offer_where(Match.offer_id.in_(query.with_only_columns(Offer.id)))
    else:
        held = holds.by_offer_where()
    points: dict[tuple[float, float], list[int]] = defaultdict(lambda: [0, 0])
    for oid, lat, lon, capacity in db.session.execute(query):
        left = capacity - held.get(oid, 0)
        if left <= 0:
            continue
        key = (round(lat / grid) * grid, round(lon / grid) * grid) if grid else (lat, lon)
        point = points[(round(key[0], 4), round(key[1], 4))]
        point[0] += 1
        point[1] += int(left)
    return [(lat, lon, n, places) for (lat, lon), (n, places) in sorted(points.items())]


@dataclass(frozen=True)
class Headline:
    """The three numbers an area is judged by first."""

    schools: int
    schools_without: int  # no encounter delivered or booked this school year
    pupils_reached: int  # in encounters delivered this school year
    pupils_booked: int  # in approved or accepted matches this school year, not yet delivered
    cold_spots: int  # open requests no offer can reach
    cold_schools: int  # schools with at least one

    @property
    def share_with(self) -> int | None:
        """Percentage of schools with an encounter delivered or booked this year."""
        if not self.schools:
            return None
        return round(100 * (self.schools - self.schools_without) / self.schools)


def headline(area_ids: list[int] | None, today: date) -> Headline:
    """Schools without an encounter this year, pupils reached, and cold spots, for the areas."""
    coverage = school_coverage(area_ids, today)
    year_start = clock.school_year_start(today)
    reached = db.session.scalar(
        select(func.coalesce(func.sum(Encounter.pupils_reached), 0))
        .join(Match, Encounter.match_id == Match.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(Encounter.delivered_on >= year_start, *_request_in(area_ids))
    )
    booked = db.session.scalar(
        select(func.coalesce(func.sum(Match.pupils), 0))
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(
            Match.status.in_(BOOKED),
            EncounterRequest.latest >= year_start,
            *_request_in(area_ids),
        )
    )
    cold = _cold_schools(area_ids, today)
    return Headline(
        schools=len(coverage),
        schools_without=sum(
            1 for c in coverage.values() if c in (Coverage.NONE, Coverage.PROPOSED)
        ),
        pupils_reached=int(reached or 0),
        pupils_booked=int(booked or 0),
        cold_spots=sum(cold.values()),
        cold_schools=len(cold),
    )


@dataclass
class MonthPoint:
    """One month of the school year: schools reached so far and pupils reached that month."""

    month: date
    schools_reached: int
    pupils: int
    future: bool = False


def coverage_by_month(area_ids: list[int] | None, today: date) -> tuple[list[MonthPoint], int]:
    """Coverage over the school year, September to July; and how many schools there are."""
    start = clock.school_year_start(today)
    schools = db.session.scalar(
        select(func.count()).select_from(School).where(*_school_filter(area_ids))
    )
    first: dict[int, date] = {}
    pupils: dict[tuple[int, int], int] = defaultdict(int)
    for school_id, day, n in db.session.execute(
        select(EncounterRequest.school_id, Encounter.delivered_on, Encounter.pupils_reached)
        .join(Match, Encounter.match_id == Match.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(Encounter.delivered_on >= start, *_request_in(area_ids))
    ):
        if school_id not in first or day < first[school_id]:
            first[school_id] = day
        pupils[(day.year, day.month)] += n
    points = []
    month = start
    for _ in range(11):  # September to July
        nxt = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        reached = sum(1 for d in first.values() if d < nxt)
        points.append(
            MonthPoint(month, reached, pupils.get((month.year, month.month), 0), month > today)
        )
        month = nxt
    return points, int(schools or 0)


@dataclass
class SupplyDemand:
    """Pupils still wanted against places left, by encounter type and by area."""

    by_type: dict[str, tuple[int, int]] = field(default_factory=dict)  # type: (demand, supply)
    virtual_by_type: dict[str, int] = field(default_factory=dict)
    by_area: list[tuple[str, int, int]] = field(default_factory=list)  # (area, demand, supply)


def supply_demand(area_ids: list[int] | None, today: date) -> SupplyDemand:
    """Demand against supply in the areas (supply: in-person offers of employers based
    there); for the whole country, online offers (which reach everyone) are counted apart.

    Live matches never hold more than a request's pupils or an offer's capacity, so what is
    left is the total less what is held, summed in the database per type and area.
    """
    open_requests = [
        EncounterRequest.status == "open",
        EncounterRequest.latest >= today,
        *_school_filter(area_ids),
    ]
    key_r = (EncounterRequest.type, School.area_id)
    asked = select(*key_r, func.sum(EncounterRequest.pupils)).join(
        School, EncounterRequest.school_id == School.id
    )
    held_r = (
        select(*key_r, func.sum(Match.pupils))
        .select_from(Match)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(School, EncounterRequest.school_id == School.id)
        .where(Match.status.in_(LIVE))
    )
    online = Offer.delivery == "virtual"
    open_offers = [Offer.status == "open", Offer.latest >= today]
    if area_ids is not None:
        # An area's own in-person offers (online offers are counted for the country only);
        # the IN lists let the database start from the area's rows, not every match.
        open_offers.append(Employer.area_id.in_(area_ids or [-1]))
        open_offers.append(~online)
        held_r = held_r.where(
            Match.request_id.in_(
                select(EncounterRequest.id)
                .join(School, EncounterRequest.school_id == School.id)
                .where(*open_requests)
            )
        )
    key_o = (Offer.type, Employer.area_id, online)
    offered = select(*key_o, func.sum(Offer.capacity)).join(
        Employer, Offer.employer_id == Employer.id
    )
    held_o = (
        select(*key_o, func.sum(Match.pupils))
        .select_from(Match)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Employer, Offer.employer_id == Employer.id)
        .where(Match.status.in_(LIVE))
    )
    if area_ids is not None:
        held_o = held_o.where(
            Match.offer_id.in_(
                select(Offer.id)
                .join(Employer, Offer.employer_id == Employer.id)
                .where(*open_offers)
            )
        )
    # Schools and employers outside every area have area None.
    demand: dict[tuple[str, int | None], int] = defaultdict(int)
    for sign, query in ((1, asked), (-1, held_r)):
        for kind, area, n in db.session.execute(query.where(*open_requests).group_by(*key_r)):
            demand[(kind, area)] += sign * int(n or 0)
    supply: dict[tuple[str, int | None, bool], int] = defaultdict(int)
    for sign, supplied in ((1, offered), (-1, held_o)):
        for kind, area, virtual, n in db.session.execute(
            supplied.where(*open_offers).group_by(*key_o)
        ):
            supply[(kind, area, bool(virtual))] += sign * int(n or 0)
    wanted = None if area_ids is None else set(area_ids)
    demand_type: dict[str, int] = defaultdict(int)
    demand_area: dict[int | None, int] = defaultdict(int)
    for (kind, area), n in demand.items():
        demand_type[kind] += max(0, n)
        demand_area[area] += max(0, n)
    supply_type: dict[str, int] = defaultdict(int)
    supply_area: dict[int | None, int] = defaultdict(int)
    virtual_type: dict[str, int] = defaultdict(int)
    for (kind, area, virtual), n in supply.items():
        if virtual:
            virtual_type[kind] += max(0, n)
        elif wanted is None or area in wanted:
            supply_type[kind] += max(0, n)
            supply_area[area] += max(0, n)
    names = dict(
        db.session.execute(
            select(Area.id, Area.name).where(*([] if area_ids is None else [Area.id.in_(area_ids)]))
        ).all()
    )
    return SupplyDemand(
        by_type={t: (demand_type.get(t, 0), supply_type.get(t, 0)) for t in ENCOUNTER_TYPES},
        virtual_by_type={t: virtual_type.get(t, 0) for t in ENCOUNTER_TYPES},
        by_area=sorted(
            ((names[a], demand_area.get(a, 0), supply_area.get(a, 0)) for a in names),
            key=lambda row: (row[2] - row[1], row[0]),
        ),
    )


@dataclass
class RunPoint:
    """One finished match run's figures, for the history chart."""

    run_id: int
    day: date
    pupils_matched: int
    cold_spots: int
    schools_served: int | None = None
    schools_with_demand: int | None = None

    @property
    def share_served(self) -> int | None:
        if not self.schools_with_demand:
            return None
        return round(100 * (self.schools_served or 0) / self.schools_with_demand)


def run_history(area_ids: list[int] | None, *, limit: int = 30) -> list[RunPoint]:
    """The last ``limit`` nightly (and demo) runs, oldest first.

    Nationally the run's own figures; for areas, the insights snapshot of each run (pupils
    matched, schools served among those with open demand, and cold spots in the areas).
    """
    runs = list(
        db.session.scalars(
            select(MatchRun)
            .where(MatchRun.status == "finished", MatchRun.kind.in_(("nightly", "demo")))
            .order_by(MatchRun.id.desc())
            .limit(limit)
        )
    )
    figures_of: dict[int | None, dict[str, Any]] = dict(
        db.session.execute(
            select(InsightSnapshot.run_id, InsightSnapshot.figures)
            .where(InsightSnapshot.run_id.in_([r.id for r in runs] or [-1]))
            .order_by(InsightSnapshot.id)
        ).all()
    )
    out = []
    for run in reversed(runs):
        figures = run.figures or {}
        point = RunPoint(
            run.id,
            clock.local_date(run.started_at),
            int(figures.get("pupils_matched", 0)),
            int(figures.get("cold_spots", 0)),
        )
        snap = figures_of.get(run.id)
        if snap is not None:
            keys = ["all"] if area_ids is None else [str(a) for a in area_ids]
            totals = [
                sum(snap.get("areas", {}).get(k, [0, 0, 0, 0])[i] for k in keys) for i in range(3)
            ]
            point.schools_with_demand, point.schools_served = totals[0], totals[1]
            if area_ids is not None:
                point.pupils_matched = totals[2]
                cold = snap.get("cold_spots", {})
                point.cold_spots = sum(int(cold.get(str(a), 0)) for a in area_ids)
        elif area_ids is not None:
            continue  # no per-area figures for this run
        out.append(point)
    return out
