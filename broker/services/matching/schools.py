"""The school-level terms of a match's score, computed one way for every caller.

The nightly run, the incremental runs (replacements after a cancellation, proposals for a
new offer), the coordinator's alternatives and hand matches all build their engine schools
with :func:`engine_schools`, so that a school is scored and explained with the same
figures whichever sub-problem a page loads. What is counted, in plain words:

- **Encounters this school year** (:func:`encounters_this_year`): the school's requests
  with an accepted or delivered match, among requests whose window ends on or after
  1 September of the current school year; each request counts once. Proposals and
  approvals that neither side has accepted yet are not encounters. The reasons say
  "school has 2 encounters accepted or delivered this school year".
- **In-person offers with places within reach** (:func:`offers_nearby`, the cold spot
  term): open, vetted, in-person offers of any type whose window has not ended and that
  have places left after approved, accepted and delivered matches, within the weights'
  ``cold_spot_km`` of the school (25 km by default), counted up to ``cold_spot_offers``
  (50), where the term ends. The reasons say
  "cold spot: 4 in-person offers with places within 25 km".
- **Sectors seen**: the sectors of the school's approved, accepted and delivered matches
  this school year (the sector variety term).
- **Blackout dates** that have not ended.

Only the diminishing returns' starting point differs between runs, by design: the nightly
run passes approved and later matches to the engine as locked rows (which it counts
itself), and an incremental run also counts the school's other live matches, which it
must not move.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import and_, or_, select

import matching as engine
from broker import clock
from broker.extensions import db
from broker.models import (
    Employer,
    EncounterRequest,
    Match,
    Offer,
    School,
    SchoolBlackout,
)
from broker.services import holds
from broker.services.matching.rows import KM_PER_DEGREE, by_ids
from broker.services.matching.settings import weights
from broker.services.vetting import blocked_offer_clause, matchable_clause
from broker.statuses import CONFIRMED, LOCKED
from matching.problem import points_within

__all__ = [
    "History",
    "encounters_this_year",
    "engine_schools",
    "history",
    "offers_nearby",
]

# Up to this many schools get a box each; more share one box around them all.
_BOXES = 20


@dataclass
class History:
    """What a school has had this school year: encounters (request ids) and sectors seen."""

    counted: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    sectors: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


def history(school_ids: Iterable[int], today: date) -> History:
    """Read the schools' approved and later matches this school year (only theirs)."""
    year_start = clock.school_year_start(today)

    def query(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(EncounterRequest.school_id, Match.request_id, Match.status, Offer.sector)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .join(Offer, Match.offer_id == Offer.id)
            .where(
                Match.status.in_(LOCKED),
                EncounterRequest.latest >= year_start,
                *where,
            )
        )

    out = History()
    for school_id, request_id, status, sector in by_ids(
        query, EncounterRequest.school_id, school_ids
    ):
        if sector:
            out.sectors[school_id].add(sector)
        if status in CONFIRMED:
            out.counted[school_id].add(request_id)
    return out


def encounters_this_year(school_ids: Iterable[int], today: date) -> dict[int, int]:
    """Each school's encounters accepted or delivered this school year (see the module)."""
    ids = sorted(set(school_ids))
    counted = history(ids, today).counted
    return {s: len(counted[s]) for s in ids}


def _near(points: Sequence[tuple[float, float]], km: float) -> Any:
    """SQL: offers in a box around each point (or one box around them all) that holds
    every place within ``km`` of it; a necessary condition only, the count is exact."""
    if len(points) > _BOXES:
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        points_boxes = [(min(lats), max(lats), min(lons), max(lons))]
    else:
        points_boxes = [(lat, lat, lon, lon) for lat, lon in points]
    boxes = []
    dlat = km / KM_PER_DEGREE
    for lat_lo, lat_hi, lon_lo, lon_hi in points_boxes:
        widest = min(89.0, max(abs(lat_lo), abs(lat_hi)) + dlat + 0.5)
        dlon = km / (KM_PER_DEGREE * math.cos(math.radians(widest)) / 1.01)
        boxes.append(
            and_(
                Offer.lat.between(lat_lo - dlat, lat_hi + dlat),
                Offer.lon.between(lon_lo - dlon, lon_hi + dlon),
            )
        )
    return or_(*boxes)


def _in_person_offers(today: date, *where: Any) -> Any:
    return (
        select(Offer.id, Offer.lat, Offer.lon, Offer.capacity)
        .join(Employer, Offer.employer_id == Employer.id)
        .where(
            Offer.status == "open",
            Offer.latest >= today,
            Offer.delivery != "virtual",
            ~blocked_offer_clause(today),
            matchable_clause(),
            *where,
        )
    )


def _with_places(rows: Sequence[Any]) -> list[Any]:
    taken = holds.by_offer((r.id for r in rows), statuses=LOCKED)
    return [r for r in rows if r.capacity > taken.get(r.id, 0)]


def _current_in_person(
    today: date, points: Sequence[tuple[float, float]], km: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of the offers the cold spot term counts, near ``points`` (see the module)."""
    rows = db.session.execute(_in_person_offers(today, _near(points, km))).all()
    lat = np.fromiter((r.lat for r in rows), np.float64, len(rows))
    lon = np.fromiter((r.lon for r in rows), np.float64, len(rows))
    # Places left are counted only for offers within reach of some school (by id).
    reach = points_within(
        lat, lon, np.array([p[0] for p in points]), np.array([p[1] for p in points]), km
    )
    kept = {r.id for r in _with_places([r for r, n in zip(rows, reach, strict=True) if n > 0])}
    keep = [i for i, r in enumerate(rows) if r.id in kept]
    return lat[keep], lon[keep]


def _plenty_near(today: date, point: tuple[float, float], km: float, enough: int) -> bool:
    """Whether ``enough`` such offers lie in the square inside the circle of ``km`` around
    ``point`` (every place of that square is within ``km``), reading at most twice that."""
    lat, lon = point
    half = 0.99 * km / math.sqrt(2)
    # A degree is at most 111.2 km north-south, and east-west at the square's lowest
    # latitude: a square drawn with them is smaller than the true one, never larger.
    dlat = half / 111.2
    dlon = half / (111.2 * math.cos(math.radians(max(0.0, abs(lat) - dlat))))
    rows = db.session.execute(
        _in_person_offers(
            today,
            Offer.lat.between(lat - dlat, lat + dlat),
            Offer.lon.between(lon - dlon, lon + dlon),
        ).limit(2 * enough)
    ).all()
    return len(rows) >= enough and len(_with_places(rows)) >= enough


def offers_nearby(
    points: Mapping[int, tuple[float, float]],
    today: date,
    *,
    offers: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[int, int]:
    """In-person offers with places within ``cold_spot_km`` of each school (see the module).

    ``points`` maps school ids to (lat, lon). ``offers`` passes the coordinates of those
    offers when the caller has loaded them all already (the nightly run); otherwise only
    the offers near the schools are read. Counts stop at the weights' ``cold_spot_offers``:
    from there on a school is no cold spot at all, however many more there are, so a page
    about a school in a city reads a few dozen offers, not thousands.
    """
    if not points:
        return {}
    w = weights()
    km, enough = w.cold_spot_km, w.cold_spot_offers
    out: dict[int, int] = {}
    ids = list(points)
    if offers is None and len(ids) <= _BOXES:
        out = {i: enough for i in ids if _plenty_near(today, points[i], km, enough)}
        ids = [i for i in ids if i not in out]
    if not ids:
        return out
    coords = [points[i] for i in ids]
    o_lat, o_lon = offers if offers is not None else _current_in_person(today, coords, km)
    counts = points_within(
        np.asarray([c[0] for c in coords], dtype=np.float64),
        np.asarray([c[1] for c in coords], dtype=np.float64),
        o_lat,
        o_lon,
        km,
    )
    out.update((i, min(int(n), enough)) for i, n in zip(ids, counts.tolist(), strict=True))
    return out


def engine_schools(
    ids: Iterable[int],
    today: date,
    *,
    offers: tuple[np.ndarray, np.ndarray] | None = None,
    skip_requests: Iterable[int] = (),
    extra_encounters: Mapping[int, int] | None = None,
) -> list[engine.School]:
    """The engine's schools for ``ids``, with every school-level figure of the module.

    ``skip_requests`` are requests passed to the engine as locked rows: it counts those
    itself, so they do not start the diminishing returns. ``extra_encounters`` adds other
    live matches an incremental run must not move. Neither changes the figures the reasons
    give. ``offers`` is as for :func:`offers_nearby`.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    had = history(wanted, today)
    avoid: dict[int, list[tuple[date, date]]] = defaultdict(list)

    def blackouts(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(SchoolBlackout.school_id, SchoolBlackout.starts_on, SchoolBlackout.ends_on)
            .where(SchoolBlackout.ends_on >= today, *where)
            .order_by(SchoolBlackout.school_id, SchoolBlackout.starts_on)
        )

    for school_id, a, b in by_ids(blackouts, SchoolBlackout.school_id, wanted):
        avoid[school_id].append((a, b))

    def school_rows(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(School.id, School.lat, School.lon, School.gender, School.kind, School.fsm_pct)
            .where(*where)
            .order_by(School.id)
        )

    rows = by_ids(school_rows, School.id, wanted)
    near = offers_nearby({r.id: (r.lat, r.lon) for r in rows}, today, offers=offers)
    skip = set(skip_requests)
    extra = extra_encounters or {}
    return [
        engine.School(
            school_id=row.id,
            lat=row.lat,
            lon=row.lon,
            gender=row.gender,
            kind=row.kind,
            fsm_pct=float(row.fsm_pct or 0.0),
            encounters_so_far=len(had.counted[row.id] - skip) + extra.get(row.id, 0),
            sectors_seen=frozenset(had.sectors[row.id]),
            avoid_dates=tuple(avoid[row.id]),
            encounters_reported=len(had.counted[row.id]),
            offers_nearby=near[row.id],
        )
        for row in rows
    ]
