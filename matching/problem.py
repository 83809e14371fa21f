"""Candidate pairs and their scores, built once from plain inputs and reused.

A :class:`Problem` turns schools, requests and offers into numpy arrays, finds every pair
that obeys the hard rules (a KD-tree on the unit sphere for in-person offers, dense blocks
for virtual ones), scores the pairs term by term, and keeps the best ``k`` offers per request
and requests per offer plus the pairs of one maximum flow. Pairs are found a chunk of offers
at a time and pruned as they come, so memory holds the kept pairs, not every feasible one.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .flow import max_flow_cut
from .model import (
    AUDIENCES,
    ENCOUNTER_TYPES,
    SCHOOL_GENDERS,
    SCHOOL_KINDS,
    SEN_CODES,
    Candidate,
    InputError,
    MatchingError,
    Offer,
    Request,
    School,
    Weights,
)

__all__ = [
    "DEFAULT_K",
    "EARTH_RADIUS_KM",
    "PAIR_TERMS",
    "Candidates",
    "Problem",
    "haversine_km",
    "points_within",
]

logger = logging.getLogger(__name__)

#: Mean Earth radius used for every great-circle distance.
EARTH_RADIUS_KM = 6371.0088
#: Offers kept per request and requests kept per offer (plus one maximum flow's pairs);
#: BENCHMARKS.md measures what it costs against keeping every pair.
DEFAULT_K = 15
#: Terms scored per (request, offer) pair, in points per fully served request.
PAIR_TERMS: tuple[str, ...] = (
    "proximity",
    "stem",
    "stereotype",
    "sen",
    "fsm",
    "special",
    "sector_variety",
    "cold_spot",
    "stability",
)

_TYPE_CODE = {t: i for i, t in enumerate(ENCOUNTER_TYPES)}
_GENDER_CODE = {g: i for i, g in enumerate(SCHOOL_GENDERS)}
_KIND_CODE = {k: i for i, k in enumerate(SCHOOL_KINDS)}
_AUDIENCE_CODE = {a: i for i, a in enumerate(AUDIENCES)}
_SEN_BIT = {c: 1 << i for i, c in enumerate(SEN_CODES)}
# Date ordinals stay below 2**22 up to year 9999, so (school, day) packs into one int64 key.
_DAY_SPAN = 1 << 22
# Pairs are processed in blocks of about this many cells to bound temporary memory.
_BLOCK = 4_000_000
# In-person offers per KD-tree search (a chunk of one radius bin), and at most about this
# many (school, offer) pairs within reach per chunk.
_IN_PERSON_CHUNK = 2_500
_SCHOOL_PAIRS = 250_000
# Pairs held while candidates stream in before the held ones are pruned again (at least;
# twice what the last prune kept, so each prune at least halves what is held).
_POOL_PAIRS = 4_000_000

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


def haversine_km(
    lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
) -> FloatArray:
    """Great-circle distance in km between points given in degrees (vectorised).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(haversine_km(np.array([51.5]), np.array([-0.13]),
    ...                          np.array([52.49]), np.array([-1.89]))[0]))
    163
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat = p2 - p1
    dlon = np.radians(lon2) - np.radians(lon1)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def points_within(
    lat: FloatArray, lon: FloatArray, other_lat: FloatArray, other_lon: FloatArray, km: float
) -> IntArray:
    """How many of the other points lie within ``km`` (great circle) of each point.

    The engine counts a school's nearby in-person offers this way (its ``cold_spot`` term);
    a caller that explains a school outside a full run counts them with the same function.

    Examples
    --------
    >>> import numpy as np
    >>> points_within(np.array([52.0, 55.0]), np.array([-1.0, -3.0]),
    ...               np.array([52.1, 52.2, 51.0]), np.array([-1.0, -1.0, -1.0]), 25.0).tolist()
    [2, 0]
    """
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    if not lat.size or not np.size(other_lat):
        return np.zeros(lat.size, dtype=np.int64)
    tree = cKDTree(_unit_xyz(np.asarray(other_lat), np.asarray(other_lon)))
    near = tree.query_ball_point(_unit_xyz(lat, lon), r=_chord(km), return_length=True, workers=2)
    return np.asarray(near, dtype=np.int64)


def _unit_xyz(lat_deg: FloatArray, lon_deg: FloatArray) -> FloatArray:
    """Points on the unit sphere for latitudes and longitudes in degrees."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    return np.column_stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])


def _chord(km: float) -> float:
    """Straight-line distance through the unit sphere for a great-circle distance in km."""
    return float(2.0 * np.sin(min(km / (2.0 * EARTH_RADIUS_KM), np.pi / 2)))


def _chord_km(chord: FloatArray) -> FloatArray:
    """Great-circle km for chord lengths on the unit sphere."""
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)))


def _code(table: dict[str, int], value: str, what: str, item: Hashable) -> int:
    try:
        return table[value]
    except KeyError:
        raise InputError(f"{what} {item!r}: unknown value {value!r}", field=what) from None


def _sen_mask(codes: Iterable[str], what: str, item: Hashable) -> int:
    mask = 0
    for c in codes:
        mask |= _code(_SEN_BIT, c, what, item)
    return mask


class _Offers:
    """Offers as arrays; a separate class so a single new offer can be scored the same way."""

    def __init__(self, offers: Sequence[Offer], sector_code: dict[str, int]) -> None:
        self.items = tuple(offers)
        n = len(self.items)
        it = self.items
        self.ids = [o.offer_id for o in it]
        self.lat = np.fromiter((o.lat for o in it), np.float64, n)
        self.lon = np.fromiter((o.lon for o in it), np.float64, n)
        self.type = np.fromiter(
            (_code(_TYPE_CODE, o.type, "type", o.offer_id) for o in it), np.int64, n
        )
        self.capacity = np.fromiter((o.capacity for o in it), np.int64, n)
        self.max_km = np.fromiter((o.max_km for o in it), np.float64, n)
        self.virtual = np.fromiter((bool(o.virtual) for o in it), np.bool_, n)
        self.earliest = np.fromiter((o.earliest.toordinal() for o in it), np.int64, n)
        self.latest = np.fromiter((o.latest.toordinal() for o in it), np.int64, n)
        self.year_min = np.fromiter((o.year_min for o in it), np.int64, n)
        self.year_max = np.fromiter((o.year_max for o in it), np.int64, n)
        self.stem = np.fromiter((bool(o.stem) for o in it), np.bool_, n)
        self.stereotype = np.fromiter((bool(o.challenges_stereotype) for o in it), np.bool_, n)
        self.sen = np.fromiter(
            (_sen_mask(o.sen_support, "sen_support", o.offer_id) for o in it), np.int64, n
        )
        # Sectors unseen so far get fresh codes; -1 marks "no sector", which earns no variety.
        codes = []
        for o in it:
            if not o.sector:
                codes.append(-1)
                continue
            codes.append(sector_code.setdefault(o.sector, len(sector_code)))
        self.sector = np.asarray(codes, dtype=np.int64)
        self.audience = np.fromiter(
            (_code(_AUDIENCE_CODE, o.audience, "audience", o.offer_id) for o in it), np.int64, n
        )
        self.provider = np.fromiter((bool(o.provider) for o in it), np.bool_, n)
        bad = (self.latest < self.earliest) | (self.capacity < 1) | (self.year_max < self.year_min)
        if bad.any():
            o = it[int(np.flatnonzero(bad)[0])]
            raise InputError(f"offer {o.offer_id!r}: reversed window, range or capacity < 1")


@dataclass(frozen=True)
class Candidates:
    """Kept feasible pairs sorted by request, best score first, with a per-request index.

    ``start[r]:start[r + 1]`` slices the pairs of request ``r``. ``score`` is the sum of the
    pair terms (per fully served request), ``km`` the great-circle distance.
    """

    req: IntArray
    off: IntArray
    km: FloatArray
    score: FloatArray
    start: IntArray
    total_before_pruning: int

    def __len__(self) -> int:
        return int(self.req.size)


class Problem:
    """Inputs as arrays plus their scored candidate pairs; reusable for incremental calls.

    Parameters
    ----------
    schools, requests, offers : sequences of :class:`School`, :class:`Request`, :class:`Offer`
    weights : Weights, optional
    forbidden : pairs ``(request_id, offer_id)`` never to propose
    previous : pairs ``(request_id, offer_id)`` proposed last run; they earn ``stability``
    k : int or None
        Pruning: a pair is kept if it is among the ``k`` best offers of its request or the
        ``k`` best requests of its offer, or if it carries pupils in one maximum flow over all
        feasible pairs (so the kept pairs can still serve as many pupils as all of them);
        ``None`` keeps every feasible pair.

    Attributes
    ----------
    max_pupils : int or None
        The most pupils all feasible pairs could serve (computed while pruning; ``None``
        without pruning).

    Examples
    --------
    >>> import datetime as dt
    >>> d0, d1 = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    >>> s = School(school_id="S1", lat=52.0, lon=-1.0, gender="mixed", kind="mainstream",
    ...            fsm_pct=30.0, encounters_so_far=0)
    >>> r = Request(request_id="R1", school_id="S1", type="talk", year_group=9, pupils=20,
    ...             earliest=d0, latest=d1, stem_goal=True, stereotype_goal=False)
    >>> o = Offer(offer_id="O1", employer_id="E1", lat=52.05, lon=-1.0, type="talk",
    ...           capacity=30, max_km=20.0, virtual=False, earliest=d0, latest=d1, year_min=7,
    ...           year_max=11, stem=True, challenges_stereotype=False)
    >>> p = Problem([s], [r], [o])
    >>> len(p.candidates), [c.offer_id for c in p.candidates_for("R1")]
    (1, ['O1'])
    """

    def __init__(
        self,
        schools: Sequence[School],
        requests: Sequence[Request],
        offers: Sequence[Offer],
        *,
        weights: Weights | None = None,
        forbidden: Iterable[tuple[Hashable, Hashable]] = (),
        previous: Iterable[tuple[Hashable, Hashable]] = (),
        k: int | None = DEFAULT_K,
    ) -> None:
        self.weights = weights if weights is not None else Weights()
        self.k = k
        self.schools = tuple(schools)
        self.requests = tuple(requests)
        self._build_schools()
        self._build_requests()
        self.sector_code: dict[str, int] = {}
        self._build_sectors_seen()
        self.off = _Offers(offers, self.sector_code)
        self.offer_index = _index(self.off.ids, "offer_id")
        self.forbidden_keys = self._pair_keys(forbidden, "forbidden")
        self.previous_keys = self._pair_keys(previous, "previous", strict=False)
        self._cold_spot()
        self.max_pupils: int | None = None
        self.candidates = self._build_candidates()
        self._by_offer: tuple[IntArray, IntArray] | None = None

    # ----------------------------------------------------------------- arrays
    def _build_schools(self) -> None:
        sc = self.schools
        n = len(sc)
        self.school_index = _index([s.school_id for s in sc], "school_id")
        self.s_lat = np.fromiter((s.lat for s in sc), np.float64, n)
        self.s_lon = np.fromiter((s.lon for s in sc), np.float64, n)
        if n and (np.abs(self.s_lat).max() > 90 or np.abs(self.s_lon).max() > 180):
            raise InputError("school latitude or longitude out of range", field="lat")
        self.s_gender = np.fromiter(
            (_code(_GENDER_CODE, s.gender, "gender", s.school_id) for s in sc), np.int64, n
        )
        self.s_kind = np.fromiter(
            (_code(_KIND_CODE, s.kind, "kind", s.school_id) for s in sc), np.int64, n
        )
        self.s_fsm = np.fromiter((s.fsm_pct for s in sc), np.float64, n)
        self.s_encounters = np.fromiter((s.encounters_so_far for s in sc), np.int64, n)
        self.s_reported = np.fromiter(
            (
                s.encounters_so_far if s.encounters_reported is None else s.encounters_reported
                for s in sc
            ),
            np.int64,
            n,
        )
        # Merged avoid-date intervals, sorted by (school, start), so one searchsorted per pair
        # tells whether the pair's common window is entirely blocked.
        av_s: list[int] = []
        av_a: list[int] = []
        av_b: list[int] = []
        for i, s in enumerate(sc):
            spans = sorted((a.toordinal(), b.toordinal()) for a, b in s.avoid_dates)
            merged: list[list[int]] = []
            for a, b in spans:
                if b < a:
                    raise InputError(f"school {s.school_id!r}: reversed avoid_dates range")
                if merged and a <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            for a, b in merged:
                av_s.append(i)
                av_a.append(a)
                av_b.append(b)
        self.av_school = np.asarray(av_s, dtype=np.int64)
        self.av_key = self.av_school * _DAY_SPAN + np.asarray(av_a, dtype=np.int64)
        self.av_end = np.asarray(av_b, dtype=np.int64)

    def _build_requests(self) -> None:
        rq = self.requests
        n = len(rq)
        self.request_index = _index([r.request_id for r in rq], "request_id")
        try:
            self.r_school = np.fromiter((self.school_index[r.school_id] for r in rq), np.int64, n)
        except KeyError as exc:
            raise InputError(
                f"request names unknown school {exc.args[0]!r}", field="school_id"
            ) from None
        self.r_type = np.fromiter(
            (_code(_TYPE_CODE, r.type, "type", r.request_id) for r in rq), np.int64, n
        )
        self.r_year = np.fromiter((r.year_group for r in rq), np.int64, n)
        self.r_pupils = np.fromiter((r.pupils for r in rq), np.int64, n)
        self.r_earliest = np.fromiter((r.earliest.toordinal() for r in rq), np.int64, n)
        self.r_latest = np.fromiter((r.latest.toordinal() for r in rq), np.int64, n)
        self.r_stem = np.fromiter((bool(r.stem_goal) for r in rq), np.bool_, n)
        self.r_stereotype = np.fromiter((bool(r.stereotype_goal) for r in rq), np.bool_, n)
        self.r_sen = np.fromiter(
            (_sen_mask(r.sen_needs, "sen_needs", r.request_id) for r in rq), np.int64, n
        )
        self.r_provider = np.fromiter((bool(r.provider_only) for r in rq), np.bool_, n)
        bad = (self.r_latest < self.r_earliest) | (self.r_pupils < 1)
        if bad.any():
            r = rq[int(np.flatnonzero(bad)[0])]
            raise InputError(f"request {r.request_id!r}: reversed window or pupils < 1")
        # Requests grouped by (school, type): in-person pairs are found school by school.
        nt = len(ENCOUNTER_TYPES)
        key = self.r_school * nt + self.r_type
        self._rk_order = np.argsort(key, kind="stable")
        self._rk_count = np.bincount(key, minlength=len(self.schools) * nt)
        self._rk_start = np.cumsum(self._rk_count) - self._rk_count

    def _build_sectors_seen(self) -> None:
        keys = []
        for i, s in enumerate(self.schools):
            for sector in s.sectors_seen:
                keys.append((i, self.sector_code.setdefault(sector, len(self.sector_code))))
        self._seen = keys
        self._seen_table: BoolArray | None = None

    def _pair_keys(
        self, pairs: Iterable[tuple[Hashable, Hashable]], what: str, *, strict: bool = True
    ) -> IntArray:
        keys = []
        n_off = max(len(self.off.ids), 1)
        for rid, oid in pairs:
            r = self.request_index.get(rid)
            o = self.offer_index.get(oid)
            if r is None or o is None:
                if strict:
                    raise MatchingError(f"{what} pair ({rid!r}, {oid!r}) names an unknown id")
                continue
            keys.append(r * n_off + o)
        return np.unique(np.asarray(keys, dtype=np.int64))

    def _cold_spot(self) -> None:
        w = self.weights
        self._s_xyz = _unit_xyz(self.s_lat, self.s_lon)
        given = [s.offers_nearby for s in self.schools]
        near = np.asarray([-1 if g is None else g for g in given], dtype=np.int64)
        todo = near < 0
        if todo.any():
            # Schools without a caller's count: the problem's own in-person offers near them.
            in_person = ~self.off.virtual
            near[todo] = points_within(
                self.s_lat[todo],
                self.s_lon[todo],
                self.off.lat[in_person],
                self.off.lon[in_person],
                w.cold_spot_km,
            )
        self.s_near_offers = near
        self.s_cold = 1.0 - np.minimum(1.0, self.s_near_offers / w.cold_spot_offers)
        self._school_tree = cKDTree(self._s_xyz) if len(self.schools) else None

    # ------------------------------------------------------------- candidates
    def pairs_for_offers(
        self, off: _Offers, offer_rows: IntArray, *, virtual_km: bool = True
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """All feasible (request, offer) pairs for some offers, as index arrays plus km.

        With ``virtual_km=False`` virtual pairs get ``nan`` km (distance scores them nothing).
        """
        req_parts: list[IntArray] = []
        off_parts: list[IntArray] = []
        km_parts: list[FloatArray] = []
        rows = np.asarray(offer_rows, dtype=np.int64)
        person = rows[~off.virtual[rows]]
        virtual = rows[off.virtual[rows]]
        if person.size and self._school_tree is not None:
            r, o, km = self._in_person(off, person)
            req_parts.append(r)
            off_parts.append(o)
            km_parts.append(km)
        if virtual.size and len(self.requests):
            r, o, km = self._virtual(off, virtual, virtual_km)
            req_parts.append(r)
            off_parts.append(o)
            km_parts.append(km)
        if not req_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0)
        req = np.concatenate(req_parts)
        offer = np.concatenate(off_parts)
        km = np.concatenate(km_parts)
        keep = self._common_filters(off, req, offer)
        return req[keep], offer[keep], km[keep]

    def _in_person(self, off: _Offers, rows: IntArray) -> tuple[IntArray, IntArray, FloatArray]:
        assert self._school_tree is not None
        nt = len(ENCOUNTER_TYPES)
        req_parts: list[IntArray] = []
        off_parts: list[IntArray] = []
        km_parts: list[FloatArray] = []
        # Offers are grouped by travel radius (bins 10% wide) so each group needs one
        # tree-to-tree search with its largest radius; chord distances on the unit sphere
        # order pairs exactly as great-circle distances do.
        radius_bin = np.ceil(np.log(np.maximum(off.max_km[rows], 1e-3)) / np.log(1.1))
        school_tree = self._school_tree

        def one_bin(group: IntArray) -> tuple[IntArray, IntArray, FloatArray] | None:
            tree = cKDTree(_unit_xyz(off.lat[group], off.lon[group]))
            found = school_tree.sparse_distance_matrix(
                tree, _chord(float(off.max_km[group].max())), output_type="ndarray"
            )
            if not found.size:
                return None
            school = found["i"].astype(np.int64)
            offer = group[found["j"]]
            km = _chord_km(found["v"])
            near = km <= off.max_km[offer]
            school, offer, km = school[near], offer[near], km[near]
            # Expand each (offer, school) pair to the school's requests of the offer's type.
            key = school * nt + off.type[offer]
            count = self._rk_count[key]
            has = count > 0
            key, count, offer, km = key[has], count[has], offer[has], km[has]
            reps = np.repeat(np.arange(key.size), count)
            within = np.arange(reps.size) - np.repeat(np.cumsum(count) - count, count)
            req = self._rk_order[self._rk_start[key][reps] + within]
            offer = offer[reps]
            km = km[reps]
            ok = self._rule_mask(off, req, offer)
            return req[ok], offer[ok], km[ok]

        # Bins are cut into chunks that the two cores share (tree searches and numpy work
        # release the GIL); map keeps the chunks' order, so thread timing changes nothing.
        chunks: list[IntArray] = []
        for b in np.unique(radius_bin):
            group = rows[radius_bin == b]
            chunks += np.array_split(group, -(-group.size // _IN_PERSON_CHUNK))
        if len(chunks) > 1:
            with ThreadPoolExecutor(2) as pool:
                found_parts = list(pool.map(one_bin, chunks))
        else:
            found_parts = [one_bin(c) for c in chunks]
        for part in found_parts:
            if part is not None:
                req_parts.append(part[0])
                off_parts.append(part[1])
                km_parts.append(part[2])
        if not req_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0)
        return np.concatenate(req_parts), np.concatenate(off_parts), np.concatenate(km_parts)

    def _virtual(
        self, off: _Offers, rows: IntArray, with_km: bool = True
    ) -> tuple[IntArray, IntArray, FloatArray]:
        req_parts: list[IntArray] = []
        off_parts: list[IntArray] = []
        for t in np.unique(off.type[rows]):
            offers_t = rows[off.type[rows] == t]
            reqs_t = np.flatnonzero(self.r_type == t)
            if not reqs_t.size:
                continue
            step = max(1, _BLOCK // max(offers_t.size, 1))
            for lo in range(0, reqs_t.size, step):
                rq = reqs_t[lo : lo + step]
                ri, oj = np.nonzero(self._rule_matrix(off, rq, offers_t))
                req_parts.append(rq[ri])
                off_parts.append(offers_t[oj])
        if not req_parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0)
        req = np.concatenate(req_parts)
        offer = np.concatenate(off_parts)
        if not with_km:
            return req, offer, np.full(req.size, np.nan)
        s = self.r_school[req]
        km = haversine_km(self.s_lat[s], self.s_lon[s], off.lat[offer], off.lon[offer])
        return req, offer, km

    def _rule_mask(self, off: _Offers, req: IntArray, offer: IntArray) -> BoolArray:
        """Hard rules other than type and distance, pair by pair (vectorised)."""
        year = self.r_year[req]
        aud = off.audience[offer]
        return np.asarray(
            (year >= off.year_min[offer])
            & (year <= off.year_max[offer])
            & (self.r_earliest[req] <= off.latest[offer])
            & (off.earliest[offer] <= self.r_latest[req])
            & ((self.r_sen[req] & ~off.sen[offer]) == 0)
            & ((aud == 0) | (aud == self.s_gender[self.r_school[req]]))
            & (~self.r_provider[req] | off.provider[offer])
        )

    def _rule_matrix(self, off: _Offers, req: IntArray, offer: IntArray) -> BoolArray:
        """The same rules as :meth:`_rule_mask` for every request x offer cell of a block."""
        year = self.r_year[req][:, None]
        aud = off.audience[offer][None, :]
        return np.asarray(
            (year >= off.year_min[offer][None, :])
            & (year <= off.year_max[offer][None, :])
            & (self.r_earliest[req][:, None] <= off.latest[offer][None, :])
            & (off.earliest[offer][None, :] <= self.r_latest[req][:, None])
            & ((self.r_sen[req][:, None] & ~off.sen[offer][None, :]) == 0)
            & ((aud == 0) | (aud == self.s_gender[self.r_school[req]][:, None]))
            & (~self.r_provider[req][:, None] | off.provider[offer][None, :])
        )

    def _common_filters(self, off: _Offers, req: IntArray, offer: IntArray) -> BoolArray:
        keep = np.ones(req.size, dtype=np.bool_)
        if self.av_key.size and req.size:
            s = self.r_school[req]
            a = np.maximum(self.r_earliest[req], off.earliest[offer])
            b = np.minimum(self.r_latest[req], off.latest[offer])
            pos = np.searchsorted(self.av_key, s * _DAY_SPAN + a, side="right") - 1
            posc = np.clip(pos, 0, None)
            blocked = (pos >= 0) & (self.av_school[posc] == s) & (self.av_end[posc] >= b)
            keep &= ~blocked
        if off is self.off and self.forbidden_keys.size:
            keep &= ~np.isin(req * max(len(self.off.ids), 1) + offer, self.forbidden_keys)
        return keep

    def _seen_sector(self, s: IntArray, sector: IntArray) -> BoolArray:
        """Whether each school has seen each offer's sector (codes -1 and new ones: no)."""
        if self._seen_table is None:
            width = max(len(self.sector_code), 1)
            table = np.zeros((len(self.schools), width), dtype=np.bool_)
            if self._seen:
                idx = np.asarray(self._seen, dtype=np.int64)
                table[idx[:, 0], idx[:, 1]] = True
            self._seen_table = table
        table = self._seen_table
        known = (sector >= 0) & (sector < table.shape[1])
        return np.asarray(known & table[s, np.where(known, sector, 0)])

    def _stability(self, req: IntArray, offer: IntArray, off: _Offers) -> FloatArray:
        if off is self.off and self.previous_keys.size:
            prev = np.isin(req * max(len(self.off.ids), 1) + offer, self.previous_keys)
            return np.where(prev, self.weights.stability, 0.0)
        return np.zeros(req.size)

    def pair_terms(
        self, req: IntArray, offer: IntArray, km: FloatArray, off: _Offers | None = None
    ) -> dict[str, FloatArray]:
        """Points of each pair term for pairs given as index arrays (per fully served request)."""
        w = self.weights
        off = self.off if off is None else off
        s = self.r_school[req]
        reach = np.maximum(off.max_km[offer], 1e-9)
        near = np.clip(1.0 - km / reach, 0.0, 1.0)
        proximity = np.where(off.virtual[offer], w.virtual_proximity, near) * w.proximity
        sector = off.sector[offer]
        return {
            "proximity": proximity,
            "stem": (self.r_stem[req] & off.stem[offer]) * w.stem,
            "stereotype": (self.r_stereotype[req] & off.stereotype[offer]) * w.stereotype,
            "sen": (self.r_sen[req] != 0) * w.sen,
            "fsm": np.minimum(1.0, self.s_fsm[s] / w.fsm_full_pct) * w.fsm,
            "special": (self.s_kind[s] != 0) * w.special,
            "sector_variety": ((sector >= 0) & ~self._seen_sector(s, sector)) * w.sector_variety,
            "cold_spot": self.s_cold[s] * w.cold_spot,
            "stability": self._stability(req, offer, off),
        }

    def pair_score(
        self, req: IntArray, offer: IntArray, km: FloatArray, off: _Offers | None = None
    ) -> FloatArray:
        """Sum of the pair terms (points per fully served request).

        Equal to summing :meth:`pair_terms` in order, but terms that depend only on the
        request or the school are looked up per request, which matters for millions of pairs.
        """
        w = self.weights
        off = self.off if off is None else off
        s_fsm = np.minimum(1.0, self.s_fsm / w.fsm_full_pct) * w.fsm
        s_special = (self.s_kind != 0) * w.special
        s_cold = self.s_cold * w.cold_spot
        r_stem = np.where(self.r_stem, w.stem, 0.0)
        r_stereo = np.where(self.r_stereotype, w.stereotype, 0.0)
        r_sen = (self.r_sen != 0) * w.sen
        s = self.r_school[req]
        virtual = off.virtual[offer]
        km = np.where(virtual, 0.0, km)
        reach = np.maximum(off.max_km[offer], 1e-9)
        total = np.clip(1.0 - km / reach, 0.0, 1.0)
        total = np.where(virtual, w.virtual_proximity, total)
        total *= w.proximity
        total += np.where(off.stem[offer], r_stem[req], 0.0)
        total += np.where(off.stereotype[offer], r_stereo[req], 0.0)
        total += r_sen[req]
        total += s_fsm[s]
        total += s_special[s]
        sector = off.sector[offer]
        total += ((sector >= 0) & ~self._seen_sector(s, sector)) * w.sector_variety
        total += s_cold[s]
        if off is self.off and self.previous_keys.size:
            total += self._stability(req, offer, off)
        return total

    def _offer_chunks(self, rows: IntArray) -> list[IntArray]:
        """Offers cut into chunks whose feasible pairs are found together (each offer once).

        In-person offers go by travel radius bin, as :meth:`_in_person` groups them; virtual
        offers by type, few enough per chunk that one block of rules covers about ``_BLOCK``
        cells.
        """
        off = self.off
        chunks: list[IntArray] = []
        person = rows[~off.virtual[rows]]
        if person.size and self._school_tree is not None:
            radius_bin = np.ceil(np.log(np.maximum(off.max_km[person], 1e-3)) / np.log(1.1))
            # Schools each offer reaches: chunks are cut so that none holds more than about
            # _SCHOOL_PAIRS (school, offer) pairs, whatever the density of schools.
            reach = np.asarray(
                self._school_tree.query_ball_point(
                    _unit_xyz(off.lat[person], off.lon[person]),
                    r=2.0
                    * np.sin(np.minimum(off.max_km[person] / (2 * EARTH_RADIUS_KM), np.pi / 2)),
                    return_length=True,
                    workers=2,
                ),
                dtype=np.int64,
            )
            for b in np.unique(radius_bin):
                in_bin = radius_bin == b
                group, cost = person[in_bin], np.cumsum(reach[in_bin])
                cut = np.flatnonzero(np.diff(cost // _SCHOOL_PAIRS, prepend=0))
                for part in np.split(group, cut[cut > 0]):
                    chunks += np.array_split(part, -(-part.size // _IN_PERSON_CHUNK))
        virtual = rows[off.virtual[rows]]
        for t in np.unique(off.type[virtual]):
            offers_t = virtual[off.type[virtual] == t]
            n_req = int(np.count_nonzero(self.r_type == t))
            if not n_req:
                continue
            step = max(1, _BLOCK // n_req)
            chunks += [offers_t[lo : lo + step] for lo in range(0, offers_t.size, step)]
        return chunks

    def _stream_pairs(
        self,
        rows: IntArray,
        take: Callable[[IntArray, IntArray, FloatArray, FloatArray], None],
        req_filter: BoolArray | None = None,
    ) -> None:
        """Find and score the feasible pairs of some offers chunk by chunk, for ``take``.

        Two threads find the chunks (tree searches and numpy work release the GIL); ``take``
        sees them in chunk order. At most a few chunks wait at any time, so memory holds the
        kept pairs and a few chunks, never every feasible pair. ``req_filter`` drops pairs of
        requests it marks False before scoring.
        """

        def one(chunk: IntArray) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
            req, offer, km = self.pairs_for_offers(self.off, chunk, virtual_km=False)
            if req_filter is not None:
                ok = req_filter[req]
                req, offer, km = req[ok], offer[ok], km[ok]
            return req, offer, km, self.pair_score(req, offer, km)

        chunks = self._offer_chunks(rows)
        with ThreadPoolExecutor(2) as pool:
            waiting: deque[Future[tuple[IntArray, IntArray, FloatArray, FloatArray]]] = deque()
            for chunk in chunks:
                waiting.append(pool.submit(one, chunk))
                if len(waiting) > 3:
                    take(*waiting.popleft().result())
            while waiting:
                take(*waiting.popleft().result())

    def _build_candidates(self) -> Candidates:
        n_req, n_off = len(self.requests), len(self.off.ids)
        pool = _PairPool()
        total = 0
        k = self.k

        # Each request's k-th best score (x1000, rounded as the sorts round it) among the
        # pairs held at the last prune; it only rises.
        kth = np.full(n_req, -np.inf)

        def take(req: IntArray, offer: IntArray, km: FloatArray, score: FloatArray) -> None:
            nonlocal total
            total += int(req.size)
            if k is not None and req.size:
                # Chunks are whole offers, so an offer's best k are final once found; a pair
                # scoring below k pairs already held for its request is not among the
                # request's k best. Pairs that are neither are dropped as they come.
                worse = np.rint(score * 1000.0) < kth[req]
                if worse.any():
                    by_off = _group_order(offer, score, req, n_off, n_req)
                    worse[by_off[_rank_in_group(offer[by_off], n_off) < k]] = False
                    ok = ~worse
                    req, offer, km, score = req[ok], offer[ok], km[ok], score[ok]
            pool.add(req, offer, km, score)
            if k is not None and pool.size > max(_POOL_PAIRS, 2 * pool.size_after_prune):
                # A pair among its request's k best overall is among them in any subset, so
                # dropping what is in neither list keeps exactly the pairs the last prune keeps.
                req, offer, _, score = pool.arrays()
                keep, by_req = _top_k(req, offer, score, k, n_req, n_off, parallel=False)
                at = by_req[_rank_in_group(req[by_req], n_req) == k - 1]
                kth[req[at]] = np.rint(score[at] * 1000.0)
                del by_req, at
                pool.keep(keep)

        self._stream_pairs(np.arange(n_off), take)
        req, offer, km, score = pool.arrays()
        pool.parts.clear()
        if k is not None and req.size:
            # Both sorts at once where that costs little memory (national scale and below).
            parallel = req.size <= _POOL_PAIRS
            keep, by_req = _top_k(req, offer, score, k, n_req, n_off, parallel=parallel)
            # The support flow sees each request's pairs best first: on the bench's national
            # instance the solver then matched 124 more pupils than in the order found.
            req, offer, km, score = req[by_req], offer[by_req], km[by_req], score[by_req]
            keep = keep[by_req]
            by_req = np.arange(req.size)
            req, offer, km, score, keep, by_req = self._with_flow_support(
                req, offer, km, score, keep, by_req
            )
            order = by_req[keep[by_req]]
        else:
            order = _group_order(req, score, offer, n_req, n_off)
        req, offer, km, score = req[order], offer[order], km[order], score[order]
        # Virtual pairs get their (displayed) distance only once pruned: it scores nothing.
        todo = np.flatnonzero(np.isnan(km))
        if todo.size:
            s = self.r_school[req[todo]]
            o = offer[todo]
            km[todo] = haversine_km(self.s_lat[s], self.s_lon[s], self.off.lat[o], self.off.lon[o])
        counts = np.bincount(req, minlength=n_req)
        start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        logger.info("candidates: %d feasible pairs, %d kept (k=%s)", total, req.size, self.k)
        return Candidates(req, offer, km, score, start, total)

    def _with_flow_support(
        self,
        req: IntArray,
        offer: IntArray,
        km: FloatArray,
        score: FloatArray,
        keep: BoolArray,
        by_req: IntArray,
    ) -> tuple[IntArray, IntArray, FloatArray, FloatArray, BoolArray, IntArray]:
        """Also keep the pairs of one maximum flow of pupils over every feasible pair.

        So that pruning never lowers how many pupils can be served (BENCHMARKS.md: without
        them the national optimum fell 1.2% short of the unpruned one, with them 0.2%). The
        flow is found on the pairs at hand; a minimum cut proves it maximal over all feasible
        pairs unless some feasible pair crosses the cut, so those are searched for (among
        offers on the cut's far side only), added, and the flow found again until none does.
        """
        n_req, n_off = len(self.requests), len(self.off.ids)
        rounds = 0
        while True:
            rounds += 1
            self.max_pupils, support, req_side, off_side = max_flow_cut(
                req, offer, self.r_pupils, self.off.capacity, groups=self.r_type[req]
            )
            extra = self._crossing_pairs(req, offer, req_side, off_side)
            if not extra.size:
                break
            r, o, d, sc = extra.arrays()
            req = np.concatenate([req, r])
            offer = np.concatenate([offer, o])
            km = np.concatenate([km, d])
            score = np.concatenate([score, sc])
            keep = np.concatenate([keep, np.zeros(r.size, dtype=np.bool_)])
        logger.info(
            "max flow of %d pupils proved over all feasible pairs in %d round(s)",
            self.max_pupils,
            rounds,
        )
        keep |= support
        if req.size != by_req.size:
            by_req = _group_order(req, score, offer, n_req, n_off)
        return req, offer, km, score, keep, by_req

    def _crossing_pairs(
        self, req: IntArray, offer: IntArray, req_side: BoolArray, off_side: BoolArray
    ) -> _PairPool:
        """Feasible pairs not given from a request on a cut's source side to an offer off it."""
        n_off = max(len(self.off.ids), 1)
        known = np.sort(req * n_off + offer)
        extra = _PairPool()

        def take(r: IntArray, o: IntArray, km: FloatArray, score: FloatArray) -> None:
            key = r * n_off + o
            pos = np.minimum(np.searchsorted(known, key), known.size - 1)
            new = known[pos] != key
            extra.add(r[new], o[new], km[new], score[new])

        if known.size:
            self._stream_pairs(np.flatnonzero(~off_side), take, req_filter=req_side)
        return extra

    def by_offer(self) -> tuple[IntArray, IntArray]:
        """Candidate positions grouped by offer: ``(order, start)`` like a CSR index."""
        if self._by_offer is None:
            c = self.candidates
            order = np.argsort(c.off, kind="stable")
            counts = np.bincount(c.off, minlength=len(self.off.ids))
            start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            self._by_offer = (order.astype(np.int64), start)
        return self._by_offer

    # ---------------------------------------------------------------- reading
    def reasons(
        self,
        req: IntArray,
        offer: IntArray,
        km: FloatArray,
        terms: dict[str, FloatArray],
        off: _Offers | None = None,
    ) -> list[str]:
        """Short human sentences explaining each pair's score."""
        off = self.off if off is None else off
        w = self.weights
        school = self.r_school[req]
        # Phrases that depend only on the school are built once per school present.
        schools = np.unique(school).tolist()
        who = {1: "girls' school, ", 2: "boys' school, "}
        stereo_text, fsm_text, enc_text = {}, {}, {}
        for s in schools:
            intake = who.get(int(self.s_gender[s]), "")
            stereo_text[s] = f"{intake}role models challenge stereotypes"
            fsm = float(self.s_fsm[s])
            fsm_text[s] = f"{fsm:.0f}% FSM" if fsm >= 0.6 * w.fsm_full_pct else None
            enc = int(self.s_reported[s])
            enc_text[s] = (
                "school has no encounter accepted or delivered this school year"
                if enc == 0
                else f"school has {enc} encounter{'s' if enc > 1 else ''} accepted or delivered "
                "this school year"
            )
        special_text = {1: "special school"}
        cold_text = f" in-person offer{{}} with places within {w.cold_spot_km:.0f} km"
        dist = [
            "virtual" if v else f"{k:.0f} km"
            for v, k in zip(off.virtual[offer].tolist(), km.tolist(), strict=True)
        ]
        cold_on = (terms["cold_spot"] >= 0.5 * w.cold_spot) & (w.cold_spot > 0)
        cols = zip(
            school.tolist(),
            dist,
            (terms["stem"] > 0).tolist(),
            (terms["stereotype"] > 0).tolist(),
            (terms["sen"] > 0).tolist(),
            (terms["special"] > 0).tolist(),
            (terms["sector_variety"] > 0).tolist(),
            cold_on.tolist(),
            (terms["stability"] > 0).tolist(),
            strict=True,
        )
        out = []
        for s, d, stem, stereo, sen, special, variety, cold, stable in cols:
            parts = [d]
            if stem:
                parts.append("STEM goal met")
            if stereo:
                parts.append(stereo_text[s])
            if sen:
                parts.append("SEN needs supported")
            if special:
                parts.append(special_text.get(int(self.s_kind[s]), "alternative provision"))
            if fsm_text[s] is not None:
                parts.append(fsm_text[s])
            if variety:
                parts.append("new sector for the school")
            if cold:
                near = int(self.s_near_offers[s])
                parts.append(f"cold spot: {near}" + cold_text.format("" if near == 1 else "s"))
            if stable:
                parts.append("proposed last run")
            parts.append(enc_text[s])
            out.append("; ".join(parts))
        return out

    def candidates_for(self, request_id: Hashable, n: int | None = None) -> list[Candidate]:
        """The feasible offers kept for a request, best first, with score and reasons.

        Examples
        --------
        See :class:`Problem`.
        """
        try:
            r = self.request_index[request_id]
        except KeyError:
            raise MatchingError(f"unknown request {request_id!r}") from None
        c = self.candidates
        lo, hi = int(c.start[r]), int(c.start[r + 1])
        if n is not None:
            hi = min(hi, lo + n)
        req, offer, km = c.req[lo:hi], c.off[lo:hi], c.km[lo:hi]
        terms = self.pair_terms(req, offer, km)
        texts = self.reasons(req, offer, km, terms)
        return [
            Candidate(
                request_id=request_id,
                offer_id=self.off.ids[int(offer[i])],
                score=float(c.score[lo + i]),
                km=float(km[i]),
                reasons=texts[i],
                terms={name: float(v[i]) for name, v in terms.items()},
            )
            for i in range(req.size)
        ]


class _PairPool:
    """Scored pairs gathered chunk by chunk; concatenated only when pruned or read."""

    def __init__(self) -> None:
        self.parts: list[tuple[IntArray, IntArray, FloatArray, FloatArray]] = []
        self.size = 0
        self.size_after_prune = 0

    def add(self, req: IntArray, offer: IntArray, km: FloatArray, score: FloatArray) -> None:
        if req.size:
            self.parts.append((req, offer, km, score))
            self.size += int(req.size)

    def arrays(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
        if not self.parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0), np.zeros(0)
        if len(self.parts) > 1:
            joined = tuple(np.concatenate(col) for col in zip(*self.parts, strict=True))
            self.parts = [(joined[0], joined[1], joined[2], joined[3])]
        return self.parts[0]

    def keep(self, mask: BoolArray) -> None:
        req, offer, km, score = self.arrays()
        self.parts = [(req[mask], offer[mask], km[mask], score[mask])]
        self.size = self.size_after_prune = int(np.count_nonzero(mask))


def _group_order(
    group: IntArray, score: FloatArray, other: IntArray, n_groups: int, n_other: int
) -> IntArray:
    """Positions sorted by group, then best score first, then ``other``.

    Ties are broken by ``other`` (the pair's offer or request), so the order, and the ``k``
    best of each group, depend only on which pairs are given, never on their order.
    """
    # In-place steps: at four times national scale this runs on ten million pairs.
    scaled = np.multiply(score, 1000.0)
    np.rint(scaled, out=scaled)
    q = scaled.astype(np.int64)
    del scaled
    np.subtract(q.max() if q.size else 0, q, out=q)
    q_bits = int(q.max() if q.size else 0).bit_length()
    o_bits = max(n_other - 1, 0).bit_length()
    g_bits = max(n_groups - 1, 0).bit_length()
    if g_bits + q_bits + o_bits > 62:
        return np.lexsort((other, q, group))
    # One int64 key per sort is much faster than lexsort.
    q <<= o_bits
    q |= other
    key = group << (q_bits + o_bits)
    key |= q
    del q
    return np.argsort(key)


def _top_k(
    req: IntArray,
    offer: IntArray,
    score: FloatArray,
    k: int,
    n_req: int,
    n_off: int,
    *,
    parallel: bool = True,
) -> tuple[BoolArray, IntArray]:
    """Pairs among the ``k`` best offers of their request or ``k`` best requests of their offer.

    The offer side keeps every offer reachable, which score-only pruning does not. Returns
    the mask and the pairs' order by request (best first), for reuse. ``parallel`` sorts on
    two threads (numpy sorts without the GIL), at the cost of both sorts' memory at once.
    """
    keep = np.zeros(req.size, dtype=np.bool_)
    if parallel:
        with ThreadPoolExecutor(2) as pool:
            off_sort = pool.submit(_group_order, offer, score, req, n_off, n_req)
            by_req = _group_order(req, score, offer, n_req, n_off)
            by_off = off_sort.result()
        keep[by_off[_rank_in_group(offer[by_off], n_off) < k]] = True
    else:
        by_off = _group_order(offer, score, req, n_off, n_req)
        keep[by_off[_rank_in_group(offer[by_off], n_off) < k]] = True
        del by_off
        by_req = _group_order(req, score, offer, n_req, n_off)
    keep[by_req[_rank_in_group(req[by_req], n_req) < k]] = True
    return keep, by_req


def _rank_in_group(sorted_group: IntArray, n_groups: int) -> IntArray:
    """Position of each element within its run of equal values in a sorted group array."""
    counts = np.bincount(sorted_group, minlength=n_groups)
    first = np.cumsum(counts) - counts
    return np.arange(sorted_group.size) - first[sorted_group]


def _index(ids: Sequence[Hashable], what: str) -> dict[Hashable, int]:
    index: dict[Hashable, int] = {}
    for i, x in enumerate(ids):
        if x in index:
            raise InputError(f"duplicate {what} {x!r}", field=what)
        index[x] = i
    return index
