"""The insights adapter: runs the engine's fairness baseline and "one more offer" pricing
after each nightly match and stores the result per run (:class:`InsightSnapshot`).

:func:`refresh_insights` is called by the nightly ``match`` job right after the match (and by
the demo): it reads the same problem the match solved (``load_inputs``), builds one
candidate index with every feasible pair, runs first come, first served on it
(:func:`matching.greedy_baseline`: requests in order of creation, each taking its nearest
offers with places left, under the same hard rules and the same locked matches), counts
what the matches in force (the optimal run's proposals plus locked matches) and the
baseline give each school (:func:`matching.outcomes.school_outcomes`), and prices one more
offer at every English town (:func:`matching.marginal.where_one_more_helps`). Pages read
the latest snapshot: nothing is solved on a page view.
"""

from __future__ import annotations

import csv
import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app
from scipy.spatial import cKDTree
from sqlalchemy import func, select

import matching as engine
from broker import clock
from broker.extensions import db
from broker.insights.models import InsightSnapshot
from broker.models import EncounterRequest, Match, MatchRun, School
from broker.services.matching import load_inputs
from broker.services.matching.rows import as_id
from broker.statuses import MatchStatus
from matching.marginal import Site, where_one_more_helps
from matching.outcomes import school_outcomes

__all__ = [
    "REACH_KM",
    "Snapshot",
    "Town",
    "best_per_type",
    "gains_for",
    "latest_snapshot",
    "refresh_insights",
    "towns",
]

log = logging.getLogger(__name__)

PLACES_FILE = Path(__file__).resolve().parent.parent / "data" / "places_england.csv"
#: How far the suggested offer reaches from its town, in km.
REACH_KM = 20.0
#: Towns closer than this to a bigger town are not priced separately (London has hundreds).
SITE_SPACING_KM = 6.0
#: Distinct suggestions kept per run (the country's best; areas read their share of them).
MAX_GAINS = 4000


@dataclass(frozen=True)
class Town:
    """An English town or city (GeoNames, 5,000 people or more)."""

    name: str
    lat: float
    lon: float
    population: int


@lru_cache(maxsize=1)
def towns() -> tuple[Town, ...]:
    """The shipped towns, biggest first."""
    with PLACES_FILE.open(encoding="utf-8", newline="") as f:
        return tuple(
            Town(r["name"], float(r["lat"]), float(r["lon"]), int(r["population"]))
            for r in csv.DictReader(f)
        )


def _unit(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    la, lo = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])


@lru_cache(maxsize=4)
def _sites(spacing_km: float) -> tuple[Site, ...]:
    """Towns to price, biggest first, none within ``spacing_km`` of a bigger one kept."""
    all_towns = towns()
    xyz = _unit(np.array([t.lat for t in all_towns]), np.array([t.lon for t in all_towns]))
    tree = cKDTree(xyz)
    chord = 2 * math.sin(spacing_km / (2 * 6371.0088))
    taken = np.zeros(len(all_towns), dtype=bool)
    kept = []
    for i, town in enumerate(all_towns):
        if taken[i]:
            continue
        kept.append(Site(town.name, town.lat, town.lon))
        taken[tree.query_ball_point(xyz[i], chord)] = True
    return tuple(kept)


def _weights() -> engine.Weights:
    return engine.Weights.from_mapping(current_app.config.get("MATCHING_WEIGHTS") or {})


def _current_rows(problem: engine.Problem, locked: list[engine.Locked]) -> list[engine.Locked]:
    """The matches in force on the problem: locked rows plus the proposals waiting review."""
    pupils: dict[tuple[int, int], int] = defaultdict(int)
    for lk in locked:
        pupils[(as_id(lk.request_id), as_id(lk.offer_id))] += lk.pupils
    for r, o, p in db.session.execute(
        select(Match.request_id, Match.offer_id, Match.pupils).where(
            Match.status == MatchStatus.PROPOSED
        )
    ):
        if r in problem.request_index and o in problem.offer_index:
            pupils[(int(r), int(o))] += int(p)
    return [
        engine.Locked(request_id=r, offer_id=o, pupils=p) for (r, o), p in sorted(pupils.items())
    ]


def refresh_insights(now: datetime, *, run: MatchRun | None = None) -> InsightSnapshot:
    """Compute and store this run's fairness comparison and "one more offer" list.

    Adds and flushes one :class:`InsightSnapshot`; the caller commits. ``run`` defaults to
    the latest finished match run.
    """
    t0 = time.perf_counter()
    today = clock.local_date(now)
    if run is None:
        run = db.session.scalar(
            select(MatchRun).where(MatchRun.status == "finished").order_by(MatchRun.id.desc())
        )
    snapshot = InsightSnapshot(run_id=run.id if run else None, computed_for=today, created_at=now)
    inputs = load_inputs(today)
    t1 = time.perf_counter()
    seconds: dict[str, float] = {"load": round(t1 - t0, 3)}
    rows: list[list[int]] = []
    gains: list[dict[str, Any]] = []
    if inputs.requests:
        problem = engine.Problem(
            inputs.schools,
            inputs.requests,
            inputs.offers,
            weights=_weights(),
            forbidden=inputs.forbidden,
            k=None,
        )
        t2 = time.perf_counter()
        baseline = engine.greedy_baseline(
            inputs.schools, inputs.requests, inputs.offers, locked=inputs.locked, problem=problem
        )
        current = _current_rows(problem, inputs.locked)
        optimal = school_outcomes(problem, current)
        fcfs = school_outcomes(problem, baseline.assignments)
        t3 = time.perf_counter()
        for sid, o in optimal.items():
            b = fcfs[sid]
            rows.append(
                [
                    as_id(sid),
                    o.requests,
                    o.pupils_requested,
                    o.goals,
                    o.requests_served,
                    o.pupils_matched,
                    o.goals_met,
                    b.requests_served,
                    b.pupils_matched,
                    b.goals_met,
                ]
            )
        area_of = dict(db.session.execute(select(School.id, School.area_id)).all())
        places = {s.site_id: s for s in _sites(SITE_SPACING_KM)}
        for g in where_one_more_helps(problem, current, list(places.values()), km=REACH_KM):
            site = places[g.site_id]
            gains.append(
                {
                    "place": g.site_id,
                    "lat": site.lat,
                    "lon": site.lon,
                    "type": g.type,
                    "year": g.year_group,
                    "points": g.points,
                    "pupils": g.pupils,
                    "places": g.capacity,
                    "schools": [as_id(s) for s in g.school_ids],
                    "new_schools": [as_id(s) for s in g.new_schools],
                    "sen": sorted(g.sen_needs),
                    "areas": sorted({a for s in g.school_ids if (a := area_of.get(as_id(s)))}),
                }
            )
        # Lists lead with what a coordinator acts on: schools with nothing this year, then the
        # matcher's value (which otherwise favours the biggest offers, careers fairs).
        gains.sort(key=lambda g: (-len(g["new_schools"]), -g["points"]))
        del gains[MAX_GAINS:]
        t4 = time.perf_counter()
        seconds |= {
            "candidates": round(t2 - t1, 3),
            "baseline": round(t3 - t2, 3),
            "one_more_offer": round(t4 - t3, 3),
        }
    snapshot.schools = rows
    snapshot.gains = gains
    area_of_school = dict(db.session.execute(select(School.id, School.area_id)).all())
    by_area: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        for key in ("all", str(area_of_school.get(row[0]))):
            totals = by_area[key]
            totals[0] += 1  # schools with open demand
            totals[1] += row[4] > 0  # ... served by the matches in force
            totals[2] += row[5]  # pupils matched
            totals[3] += row[7] > 0  # ... served by first come, first served
    snapshot.seconds = round(time.perf_counter() - t0, 3)
    snapshot.figures = {
        "seconds": seconds,
        "km": REACH_KM,
        "requests": len(inputs.requests),
        "offers": len(inputs.offers),
        "cold_spots": _cold_spots_by_area(),
        # Per area id ("all": the country): [schools with open demand, served, pupils matched,
        # served first come first served], for the run-history chart without the rows.
        "areas": dict(by_area),
    }
    db.session.add(snapshot)
    db.session.flush()
    log.info(
        "insights for run %s: %d schools, %d suggestions, %.1f s",
        snapshot.run_id,
        len(rows),
        len(gains),
        snapshot.seconds,
    )
    return snapshot


def _cold_spots_by_area() -> dict[str, int]:
    """Open requests no offer could reach, per area id (as the last match found)."""
    rows = db.session.execute(
        select(School.area_id, func.count())
        .select_from(EncounterRequest)
        .join(School, EncounterRequest.school_id == School.id)
        .where(EncounterRequest.status == "open", EncounterRequest.has_candidate.is_(False))
        .group_by(School.area_id)
    )
    return {str(a): int(n) for a, n in rows if a is not None}


@dataclass(frozen=True)
class Snapshot:
    """A stored snapshot, read once per process (they never change once written)."""

    id: int
    run_id: int | None
    created_at: datetime
    seconds: float
    figures: dict[str, Any]
    schools: list[Any]
    gains: list[Any]


def latest_snapshot() -> Snapshot | None:
    """The most recent snapshot, or None before the first nightly run.

    The rows are large (every school and suggestion), so each app keeps the latest one it
    has read and only asks the database which one is latest.
    """
    head = db.session.execute(
        select(InsightSnapshot.id, InsightSnapshot.created_at)
        .order_by(InsightSnapshot.id.desc())
        .limit(1)
    ).first()
    if head is None:
        return None
    cache: dict[Any, Snapshot] = current_app.extensions.setdefault("insight_snapshot", {})
    key = (head.id, head.created_at)
    if key not in cache:
        row = db.session.get(InsightSnapshot, head.id)
        assert row is not None
        cache.clear()
        cache[key] = Snapshot(
            row.id, row.run_id, row.created_at, row.seconds, row.figures, row.schools, row.gains
        )
    return cache[key]


def gains_for(
    snapshot: Snapshot | None,
    area_ids: list[int] | None,
    *,
    types: set[str] | None = None,
    near: tuple[float, float, float] | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The snapshot's best suggestions serving schools in the areas (all for None).

    ``types`` keeps only those encounter types; ``near`` = (lat, lon, km) keeps towns within
    km of a point (an employer's base).
    """
    if snapshot is None:
        return []
    wanted = None if area_ids is None else set(area_ids)
    out = []
    for g in snapshot.gains:
        if wanted is not None and not wanted.intersection(g["areas"]):
            continue
        if types is not None and g["type"] not in types:
            continue
        if near is not None and _km(near[0], near[1], g["lat"], g["lon"]) > near[2]:
            continue
        out.append(g)
        if len(out) >= limit:
            break
    return out


def best_per_type(snapshot: Snapshot | None, area_ids: list[int] | None) -> list[dict[str, Any]]:
    """The best suggestion of each encounter type serving the areas, best first."""
    seen: dict[str, dict[str, Any]] = {}
    for g in gains_for(snapshot, area_ids, limit=len(snapshot.gains) if snapshot else 0):
        seen.setdefault(g["type"], g)
    return list(seen.values())


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))
