"""Small builders and an independent checker for the engine tests."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from matching import Offer, Request, School

D0 = dt.date(2026, 3, 2)
D1 = dt.date(2026, 3, 27)


def school(sid: Any, lat: float = 52.0, lon: float = -1.0, **kw: Any) -> School:
    base: dict[str, Any] = dict(
        gender="mixed", kind="mainstream", fsm_pct=10.0, encounters_so_far=0
    )
    base.update(kw)
    return School(school_id=sid, lat=lat, lon=lon, **base)


def request(rid: Any, sid: Any, pupils: int = 10, **kw: Any) -> Request:
    base: dict[str, Any] = dict(
        type="talk", year_group=9, earliest=D0, latest=D1, stem_goal=False, stereotype_goal=False
    )
    base.update(kw)
    return Request(request_id=rid, school_id=sid, pupils=pupils, **base)


def offer(oid: Any, lat: float = 52.0, lon: float = -1.0, capacity: int = 10, **kw: Any) -> Offer:
    base: dict[str, Any] = dict(
        employer_id="E",
        type="talk",
        max_km=30.0,
        virtual=False,
        earliest=D0,
        latest=D1,
        year_min=7,
        year_max=13,
        stem=False,
        challenges_stereotype=False,
    )
    base.update(kw)
    return Offer(offer_id=oid, lat=lat, lon=lon, capacity=capacity, **base)


def km_between(a_lat: float, a_lon: float, b_lat: float, b_lon: float) -> float:
    p1, p2 = math.radians(a_lat), math.radians(b_lat)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b_lon - a_lon) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(min(1.0, h)))


def feasible(s: School, r: Request, o: Offer) -> bool:
    """The hard rules, written out plainly and independently of the engine."""
    if r.type != o.type or not o.year_min <= r.year_group <= o.year_max:
        return False
    lo, hi = max(r.earliest, o.earliest), min(r.latest, o.latest)
    if lo > hi:
        return False
    day = lo
    free = False
    while day <= hi:
        if not any(a <= day <= b for a, b in s.avoid_dates):
            free = True
            break
        day += dt.timedelta(days=1)
    if not free:
        return False
    if not o.virtual and km_between(s.lat, s.lon, o.lat, o.lon) > o.max_km + 1e-6:
        return False
    if not r.sen_needs <= o.sen_support:
        return False
    if r.provider_only and not o.provider:
        return False
    return o.audience == "mixed" or o.audience == s.gender
