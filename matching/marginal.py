"""Where one more offer would help most: the engine's own value of one extra offer, place by place.

Call :func:`where_one_more_helps` after a run with the run's :class:`~matching.Problem`, the
rows in force (locked matches and proposals) and candidate places (:class:`Site`). For every
place, encounter type and year group it prices one hypothetical offer: ``capacity`` places,
in person, reaching ``km`` from the place, for that one year group, with dates that suit
(and any SEN support the requests need). The offer is given only demand still unmet and
nothing else moves, exactly as :func:`~matching.place_new_offer` would place it; its value is
the points the engine's objective would gain, the same scores and the same diminishing
returns per school (a school with no encounter this year gains most). The result is ranked
by that value, with near-duplicates (the same requests seen from a neighbouring place)
left out, so a coordinator reads a list of distinct actions.

Why this and not the flow's dual prices: a dual price is the value of one more *pupil*
place at an existing node, valid only for a small change; an offer is a new node with tens
of places. Pricing each candidate offer exactly is cheap here because a single offer's best
use is found greedily: each school's value of its k-th pupil falls as k grows (its requests
sorted by value, its encounter bonuses decaying), so taking the best pupil values across
schools until the places run out is optimal, and equal to the min-cost flow's answer.

Examples
--------
>>> import datetime as dt
>>> from matching import Problem, Request, School
>>> d = dt.date(2026, 3, 2)
>>> plain = dict(gender="mixed", kind="mainstream")
>>> visit = dict(type="workplace_visit", year_group=10, pupils=12, earliest=d, latest=d,
...              stem_goal=False, stereotype_goal=False)
>>> p = Problem([School(school_id="A", lat=52.98, lon=-0.03, fsm_pct=30.0,
...                     encounters_so_far=0, **plain),
...              School(school_id="B", lat=52.90, lon=-0.10, fsm_pct=10.0,
...                     encounters_so_far=2, **plain)],
...             [Request(request_id="RA", school_id="A", **visit),
...              Request(request_id="RB", school_id="B", **visit)], [])
>>> best = where_one_more_helps(p, [], [Site("Boston", 52.976, -0.027)], capacity=12)[0]
>>> (best.site_id, best.type, best.year_group, best.pupils, best.request_ids, best.new_schools)
('Boston', 'workplace_visit', 10, 12, ('RA',), ('A',))
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .engine import _held_state, _tier_sizes
from .flow import tier_bonus_per_pupil
from .model import ENCOUNTER_TYPES, SEN_CODES, MatchingError, Offer
from .problem import Problem, _chord, _Offers, _unit_xyz, haversine_km

__all__ = ["DEFAULT_CAPACITY", "DEFAULT_KM", "Gain", "Site", "where_one_more_helps"]

#: How far the hypothetical offer reaches, in km (a school trip or a visit to a school).
DEFAULT_KM = 20.0
#: Places of the hypothetical offer when the problem has no offer of that type to copy.
DEFAULT_CAPACITY = 30


@dataclass(frozen=True, slots=True)
class Site:
    """A place where an offer could be: a town, a postcode district, an area's centre."""

    site_id: Hashable
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Gain:
    """What one more offer at a site, of a type, for a year group, would do.

    Attributes
    ----------
    site_id, type, year_group : where and what the offer is
    points : objective points it adds (the engine's scores and per-school bonuses)
    pupils : pupils it would serve, out of ``capacity`` places
    capacity : its places
    request_ids : the requests it would serve, best first
    school_ids : their schools
    new_schools : the schools among them with no encounter this year, booked or proposed
    sen_needs : SEN needs the offer would have to support to serve them all
    """

    site_id: Hashable
    type: str
    year_group: int
    points: float
    pupils: int
    capacity: int
    request_ids: tuple[Hashable, ...]
    school_ids: tuple[Hashable, ...]
    new_schools: tuple[Hashable, ...]
    sen_needs: frozenset[str] = frozenset()


class _Row:
    """A held row, for rows given as plain tuples."""

    __slots__ = ("request_id", "offer_id", "pupils")

    def __init__(self, request_id: Hashable, offer_id: Hashable, pupils: int) -> None:
        self.request_id, self.offer_id, self.pupils = request_id, offer_id, pupils


def _capacities(problem: Problem, capacity: int | Mapping[str, int] | None) -> dict[int, int]:
    """Places of the hypothetical offer per type code: given, or the median in-person offer."""
    out = {}
    for code, name in enumerate(ENCOUNTER_TYPES):
        if isinstance(capacity, int):
            value = capacity
        elif capacity is not None and name in capacity:
            value = int(capacity[name])
        else:
            mask = (problem.off.type == code) & ~problem.off.virtual
            value = int(np.median(problem.off.capacity[mask])) if mask.any() else DEFAULT_CAPACITY
        if value < 1:
            raise MatchingError(f"capacity for {name} must be at least 1, not {value}")
        out[code] = value
    return out


def where_one_more_helps(
    problem: Problem,
    current: Iterable[object],
    sites: Sequence[Site],
    *,
    km: float = DEFAULT_KM,
    capacity: int | Mapping[str, int] | None = None,
    types: Iterable[str] | None = None,
    overlap: float = 0.5,
    limit: int | None = None,
) -> list[Gain]:
    """Rank places, encounter types and year groups by the good one more offer would do.

    Parameters
    ----------
    problem : Problem
        The run's requests, schools and offers (pruning does not matter: new pairs are
        found here).
    current : iterable of rows with ``request_id``, ``offer_id`` and ``pupils``
        The matches in force (locked rows and proposals); demand they hold is not offered
        again, and they count as the schools' encounters this year.
    sites : sequence of Site
        Candidate places.
    km : float
        Reach of the hypothetical offer.
    capacity : int, mapping of type to int, or None
        Its places; ``None`` copies the median in-person offer of each type in the problem.
    types : iterable of str, optional
        Encounter types to consider (default: all).
    overlap : float
        A gain is left out when at least this share of its requests is served by a better
        gain already listed for the same type and year group (1.0 keeps everything).
    limit : int, optional
        Return at most this many gains.

    Returns
    -------
    list of Gain
        Best first (most points, then most pupils); only gains worth something.

    Examples
    --------
    See the module's docstring. Two schools in reach, one with no encounter this year and
    one with two already: twelve places go to the first, whose first encounter is worth most.
    """
    if km <= 0:
        raise MatchingError(f"km must be > 0, not {km}")
    rows = [r if hasattr(r, "request_id") else _Row(*r) for r in current]  # type: ignore[misc]
    rows = [r for r in rows if r.request_id in problem.request_index]  # type: ignore[attr-defined]
    demand, _capacity, rank0 = _held_state(problem, rows)  # type: ignore[arg-type]
    wanted = None if types is None else {ENCOUNTER_TYPES.index(t) for t in types}
    open_req = np.flatnonzero(demand > 0)
    if wanted is not None:
        open_req = open_req[np.isin(problem.r_type[open_req], sorted(wanted))]
    if not open_req.size or not sites:
        return []
    places = _capacities(problem, capacity)
    w = problem.weights

    # Requests in reach of each site: search from each school that has open demand.
    site_lat = np.array([s.lat for s in sites], dtype=np.float64)
    site_lon = np.array([s.lon for s in sites], dtype=np.float64)
    tree = cKDTree(_unit_xyz(site_lat, site_lon))
    schools = np.unique(problem.r_school[open_req])
    near = tree.query_ball_point(
        _unit_xyz(problem.s_lat[schools], problem.s_lon[schools]), r=_chord(km)
    )
    site_of_school = {
        int(s): np.asarray(n, dtype=np.int64) for s, n in zip(schools, near, strict=True)
    }
    req_parts, site_parts = [], []
    for r in open_req.tolist():
        found = site_of_school[int(problem.r_school[r])]
        if found.size:
            req_parts.append(np.full(found.size, r, dtype=np.int64))
            site_parts.append(found)
    if not req_parts:
        return []
    req = np.concatenate(req_parts)
    site = np.concatenate(site_parts)
    s_of = problem.r_school[req]
    dist = haversine_km(problem.s_lat[s_of], problem.s_lon[s_of], site_lat[site], site_lon[site])
    keep = dist <= km
    req, site, dist = req[keep], site[keep], dist[keep]

    # One hypothetical offer per (site, type) present, scored with the engine's own terms.
    nt = len(ENCOUNTER_TYPES)
    key = site * nt + problem.r_type[req]
    uniq, off_idx = np.unique(key, return_inverse=True)
    day = dt.date(2000, 1, 1)
    hypothetical = _Offers(
        [
            Offer(
                offer_id=int(k),
                employer_id=None,
                lat=float(site_lat[k // nt]),
                lon=float(site_lon[k // nt]),
                type=ENCOUNTER_TYPES[k % nt],
                capacity=places[k % nt],
                max_km=km,
                virtual=False,
                earliest=day,
                latest=day,
                year_min=7,
                year_max=13,
                stem=False,
                challenges_stereotype=False,
                sen_support=frozenset(SEN_CODES),
            )
            for k in uniq.tolist()
        ],
        dict(problem.sector_code),
    )
    value = problem.pair_score(req, off_idx, dist, hypothetical) / problem.r_pupils[req] + w.pupil

    tier_size = _tier_sizes(problem)
    bonus = tier_bonus_per_pupil(rank0, tier_size, w)  # (schools, tiers) per pupil
    group = key * 14 + problem.r_year[req]
    order = np.lexsort((-value, s_of, group))
    gains = _price_groups(
        problem, group[order], req[order], value[order], demand, rank0, tier_size, bonus, places
    )
    gains.sort(key=lambda g: (-g[1], -g[2], g[0]))
    return _distinct(problem, sites, gains, places, overlap, limit, rank0)


def _price_groups(
    problem: Problem,
    group: np.ndarray,
    req: np.ndarray,
    value: np.ndarray,
    demand: np.ndarray,
    rank0: np.ndarray,
    tier_size: np.ndarray,
    bonus: np.ndarray,
    places: dict[int, int],
) -> list[tuple[int, float, int, list[tuple[int, int]]]]:
    """Price every group's hypothetical offer: ``(group, points, pupils, [(request, pupils)])``.

    Within a group, rows are sorted by school and then by value, best first. A school's
    pupils fill its requests in that order and its encounter tiers in order, so its value
    per pupil falls piece by piece; the best pieces across schools take the places.
    """
    nt = len(ENCOUNTER_TYPES)
    tiers = bonus.shape[1]
    out = []
    cuts = np.flatnonzero(np.diff(group)) + 1
    starts = np.concatenate([[0], cuts]).tolist()
    ends = np.concatenate([cuts, [group.size]]).tolist()
    g_list, r_list, v_list = group.tolist(), req.tolist(), value.tolist()
    d_list = demand.tolist()
    school = problem.r_school.tolist()
    for lo, hi in zip(starts, ends, strict=True):
        pieces: list[tuple[float, int, int]] = []  # (value per pupil, pupils, request)
        i = lo
        while i < hi:
            s = school[r_list[i]]
            j = i
            while j < hi and school[r_list[j]] == s:
                j += 1
            size, bon = int(tier_size[s]), bonus[s]
            tier, used = 0, 0  # pupils of the current tier already taken
            for k in range(i, j):
                r, left = r_list[k], int(d_list[r_list[k]])
                while left > 0:
                    if tier < tiers:
                        take = min(left, size - used)
                        pieces.append((v_list[k] + float(bon[tier]), take, r))
                        used += take
                        if used == size:
                            tier, used = tier + 1, 0
                    else:
                        take = left
                        pieces.append((v_list[k], take, r))
                    left -= take
            i = j
        pieces.sort(key=lambda p: -p[0])
        room = places[(g_list[lo] // 14) % nt]
        points, pupils = 0.0, 0
        served: dict[int, int] = {}
        for v, n, r in pieces:
            if room == 0 or v <= 0:
                break
            take = min(n, room)
            points += v * take
            pupils += take
            room -= take
            served[r] = served.get(r, 0) + take
        if pupils:
            out.append((g_list[lo], points, pupils, list(served.items())))
    return out


def _distinct(
    problem: Problem,
    sites: Sequence[Site],
    priced: list[tuple[int, float, int, list[tuple[int, int]]]],
    places: dict[int, int],
    overlap: float,
    limit: int | None,
    rank0: np.ndarray,
) -> list[Gain]:
    """Gains best first, leaving out those mostly serving requests already listed."""
    nt = len(ENCOUNTER_TYPES)
    listed: dict[int, set[int]] = defaultdict(set)  # (type, year) -> requests already listed
    out: list[Gain] = []
    for group, points, pupils, served in priced:
        key, year = divmod(group, 14)
        site, type_code = divmod(key, nt)
        seen = listed[type_code * 14 + year]
        reqs = [r for r, _ in served]
        if seen and sum(r in seen for r in reqs) >= overlap * len(reqs):
            continue
        seen.update(reqs)
        school_ids: list[Hashable] = []
        new: list[Hashable] = []
        needs: set[str] = set()
        for r in reqs:
            s = int(problem.r_school[r])
            sid = problem.schools[s].school_id
            if sid not in school_ids:
                school_ids.append(sid)
                if rank0[s] == 0:
                    new.append(sid)
            needs |= problem.requests[r].sen_needs
        out.append(
            Gain(
                sites[site].site_id,
                ENCOUNTER_TYPES[type_code],
                int(year),
                round(points, 3),
                int(pupils),
                places[type_code],
                tuple(problem.requests[r].request_id for r in reqs),
                tuple(school_ids),
                tuple(new),
                frozenset(needs),
            )
        )
        if limit is not None and len(out) >= limit:
            break
    return out
