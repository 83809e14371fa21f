"""Solving: the optimal matcher, the first-come-first-served baseline and incremental repairs."""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .flow import FlowSolution, solve_flow, tier_bonus_per_pupil
from .model import Assignment, Candidate, Locked, MatchingError, Offer, Request, School, Weights
from .problem import DEFAULT_K, IntArray, Problem, _Offers, haversine_km

__all__ = [
    "Result",
    "greedy_baseline",
    "place_new_offer",
    "replace_after_cancellation",
    "solve",
    "solve_problem",
]

logger = logging.getLogger(__name__)


class _Held(Protocol):
    """Anything that says which request holds how many pupils of which offer."""

    @property
    def request_id(self) -> Hashable: ...

    @property
    def offer_id(self) -> Hashable: ...

    @property
    def pupils(self) -> int: ...


@dataclass(frozen=True)
class Result:
    """The outcome of a run.

    Attributes
    ----------
    assignments : tuple of Assignment
        Locked rows first (``locked=True``), then the proposals.
    objective : float
        Points of the proposals (locked rows are fixed and not counted).
    upper_bound : float
        A proven bound on the best objective over the kept candidate pairs (equal up to
        integer rounding of costs). With pruning (``k``), an assignment using pairs that were
        pruned away could score higher; BENCHMARKS.md measures by how much (0.19% nationally).
    status : str
        ``"optimal"``, or ``"heuristic"`` for the baseline.
    timings : dict
        Seconds spent per phase (``candidates``, ``solve``).
    problem : Problem
        The candidate index, reusable for :func:`replace_after_cancellation`.
    """

    assignments: tuple[Assignment, ...]
    objective: float
    upper_bound: float
    status: str
    timings: dict[str, float] = field(default_factory=dict)
    problem: Problem | None = field(default=None, repr=False)

    @property
    def pupils_matched(self) -> int:
        """Pupils in all rows, locked ones included."""
        return sum(a.pupils for a in self.assignments)

    def alternatives(self, request_id: Hashable, n: int = 3) -> list[Candidate]:
        """The best ``n`` other feasible offers the engine considered for a request."""
        if self.problem is None:
            raise MatchingError("this result carries no candidate index")
        used = {a.offer_id for a in self.assignments if a.request_id == request_id}
        out = [c for c in self.problem.candidates_for(request_id) if c.offer_id not in used]
        return out[:n]


def solve(
    schools: Sequence[School],
    requests: Sequence[Request],
    offers: Sequence[Offer],
    *,
    locked: Iterable[Locked] = (),
    previous: Iterable[tuple[Hashable, Hashable]] = (),
    forbidden: Iterable[tuple[Hashable, Hashable]] = (),
    weights: Weights | None = None,
    k: int | None = DEFAULT_K,
) -> Result:
    """Match requests to offers optimally: the function the web app and the CLI call.

    Parameters
    ----------
    schools, requests, offers : sequences of School, Request, Offer
    locked : approved matches, kept as they are; they use capacity and demand first
    previous : ``(request_id, offer_id)`` pairs proposed last run, favoured by ``stability``
    forbidden : ``(request_id, offer_id)`` pairs a coordinator rejected; never proposed
    weights : scoring weights; defaults to ``Weights()``
    k : offers kept per request (``None``: all feasible pairs)

    Returns
    -------
    Result

    Examples
    --------
    >>> import datetime as dt
    >>> d0, d1 = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    >>> schools = [School(school_id="S1", lat=52.0, lon=-1.0, gender="girls",
    ...                   kind="mainstream", fsm_pct=30.0, encounters_so_far=0)]
    >>> requests = [Request(request_id="R1", school_id="S1", type="talk", year_group=9,
    ...                     pupils=20, earliest=d0, latest=d1, stem_goal=True,
    ...                     stereotype_goal=True)]
    >>> offers = [Offer(offer_id="O1", employer_id="E1", lat=52.1, lon=-1.0, type="talk",
    ...                 capacity=30, max_km=25.0, virtual=False, earliest=d0, latest=d1,
    ...                 year_min=7, year_max=11, stem=True, challenges_stereotype=True,
    ...                 sector="engineering")]
    >>> result = solve(schools, requests, offers)
    >>> [(a.request_id, a.offer_id, a.pupils) for a in result.assignments]
    [('R1', 'O1', 20)]
    >>> result.assignments[0].reasons.split("; ")[:3]
    ['11 km', 'STEM goal met', "girls' school, role models challenge stereotypes"]
    """
    t0 = time.perf_counter()
    problem = Problem(
        schools, requests, offers, weights=weights, forbidden=forbidden, previous=previous, k=k
    )
    t1 = time.perf_counter()
    result = solve_problem(problem, locked=locked)
    result.timings["candidates"] = t1 - t0
    return result


def _tier_sizes(problem: Problem) -> IntArray:
    # A school's typical (mean) request size: its first encounter fills one tier.
    n_s = len(problem.schools)
    total = np.bincount(problem.r_school, weights=problem.r_pupils, minlength=n_s)
    count = np.bincount(problem.r_school, minlength=n_s)
    return np.maximum(1, np.rint(total / np.maximum(count, 1))).astype(np.int64)


def _check_locked(problem: Problem, locked: Sequence[_Held]) -> tuple[IntArray, IntArray, IntArray]:
    req = np.empty(len(locked), dtype=np.int64)
    off = np.empty(len(locked), dtype=np.int64)
    pupils = np.empty(len(locked), dtype=np.int64)
    for i, lk in enumerate(locked):
        r = problem.request_index.get(lk.request_id)
        o = problem.offer_index.get(lk.offer_id)
        if r is None or o is None:
            raise MatchingError(f"locked ({lk.request_id!r}, {lk.offer_id!r}) names an unknown id")
        if lk.pupils < 1:
            raise MatchingError(f"locked ({lk.request_id!r}, {lk.offer_id!r}) has pupils < 1")
        req[i], off[i], pupils[i] = r, o, lk.pupils
    used = np.bincount(off, weights=pupils, minlength=len(problem.off.ids))
    over = np.flatnonzero(used > problem.off.capacity)
    if over.size:
        raise MatchingError(
            f"locked matches exceed the capacity of offer {problem.off.ids[int(over[0])]!r}"
        )
    taken = np.bincount(req, weights=pupils, minlength=len(problem.requests))
    over = np.flatnonzero(taken > problem.r_pupils)
    if over.size:
        raise MatchingError(
            f"locked matches exceed the pupils of request "
            f"{problem.requests[int(over[0])].request_id!r}"
        )
    return req, off, pupils


def _held_state(
    problem: Problem, held: Iterable[_Held], skip: tuple[Hashable, Hashable] | None = None
) -> tuple[IntArray, IntArray, IntArray]:
    """Remaining demand, remaining capacity and encounters per school after current rows."""
    n_o = len(problem.off.ids)
    demand = problem.r_pupils.copy()
    capacity = problem.off.capacity.copy()
    encounters = problem.s_encounters.copy()
    seen_requests: set[int] = set()
    for h in held:
        if skip is not None and (h.request_id, h.offer_id) == skip:
            continue
        r = problem.request_index.get(h.request_id)
        if r is None:
            raise MatchingError(f"current assignment names unknown request {h.request_id!r}")
        demand[r] -= h.pupils
        o = problem.offer_index.get(h.offer_id)
        if o is not None and o < n_o:
            capacity[o] -= h.pupils
        if r not in seen_requests:
            seen_requests.add(r)
            encounters[problem.r_school[r]] += 1
    return np.maximum(demand, 0), np.maximum(capacity, 0), encounters


def _few_encounters(
    school: IntArray,
    pupils: IntArray,
    order_key: np.ndarray,
    rank0: IntArray,
    tier_size: IntArray,
    problem: Problem,
) -> np.ndarray:
    """Share out each school's tier bonuses over its rows, best rows first (as the flow does)."""
    n = school.size
    out = np.zeros(n)
    if n == 0:
        return out
    w = problem.weights
    order = np.lexsort((-order_key, school))
    s_sorted, p_sorted = school[order], pupils[order].astype(np.float64)
    cum = np.cumsum(p_sorted)
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    before = np.where(first, 0.0, np.r_[0.0, cum[:-1]] - np.r_[0.0, cum][group_start])
    after = before + p_sorted
    size = tier_size[s_sorted].astype(np.float64)
    bonus = tier_bonus_per_pupil(rank0[s_sorted], tier_size[s_sorted], w)
    got: np.ndarray = np.zeros(n)
    for j in range(w.tiers):
        lo = j * size
        got = got + bonus[:, j] * (np.clip(after - lo, 0, size) - np.clip(before - lo, 0, size))
    out[order] = got
    return out


def _assignments(
    problem: Problem,
    req: IntArray,
    offer: IntArray,
    km: np.ndarray,
    pupils: IntArray,
    rank0: IntArray,
    tier_size: IntArray,
    *,
    locked: bool,
    off: _Offers | None = None,
) -> list[Assignment]:
    off_arrays = problem.off if off is None else off
    terms = problem.pair_terms(req, offer, km, off_arrays)
    share = pupils / problem.r_pupils[req]
    scaled = {name: v * share for name, v in terms.items()}
    value = sum(terms.values()) / problem.r_pupils[req]
    scaled["few_encounters"] = _few_encounters(
        problem.r_school[req], pupils, value, rank0, tier_size, problem
    )
    scaled["pupil"] = np.asarray(pupils, dtype=np.float64) * problem.weights.pupil
    texts = problem.reasons(req, offer, km, terms, off_arrays)
    names = list(scaled)
    table = np.round(np.column_stack([scaled[name] for name in names]), 3) if req.size else None
    values = table.tolist() if table is not None else []
    scores = np.round(table.sum(axis=1), 3).tolist() if table is not None else []
    ids = off_arrays.ids
    kms = np.round(km, 1).tolist()
    return [
        Assignment(
            request_id=problem.requests[r].request_id,
            offer_id=ids[o],
            pupils=p,
            score=scores[i],
            km=kms[i],
            reasons=texts[i],
            terms=dict(zip(names, values[i], strict=True)),
            locked=locked,
        )
        for i, (r, o, p) in enumerate(
            zip(req.tolist(), offer.tolist(), pupils.tolist(), strict=True)
        )
    ]


def _locked_rows(
    problem: Problem, lreq: IntArray, loff: IntArray, lpupils: IntArray, tier_size: IntArray
) -> list[Assignment]:
    km = _pair_km(problem, lreq, loff)
    return _assignments(
        problem, lreq, loff, km, lpupils, problem.s_encounters, tier_size, locked=True
    )


def _pair_km(problem: Problem, req: IntArray, offer: IntArray) -> np.ndarray:
    s = problem.r_school[req]
    return haversine_km(
        problem.s_lat[s], problem.s_lon[s], problem.off.lat[offer], problem.off.lon[offer]
    )


def solve_problem(problem: Problem, *, locked: Iterable[Locked] = ()) -> Result:
    """Solve an already built :class:`Problem` (reuse one index for several runs).

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date(2026, 3, 2)
    >>> p = Problem(
    ...     [School(school_id="S", lat=52.0, lon=-1.0, gender="mixed", kind="special",
    ...             fsm_pct=40.0, encounters_so_far=3)],
    ...     [Request(request_id="R", school_id="S", type="talk", year_group=9, pupils=8,
    ...              earliest=d, latest=d, stem_goal=False, stereotype_goal=False)],
    ...     [Offer(offer_id="O", employer_id="E", lat=52.0, lon=-1.0, type="talk", capacity=5,
    ...            max_km=10.0, virtual=False, earliest=d, latest=d, year_min=7, year_max=13,
    ...            stem=False, challenges_stereotype=False)])
    >>> [a.pupils for a in solve_problem(p).assignments]
    [5]
    """
    t0 = time.perf_counter()
    lk = list(locked)
    lreq, loff, lpupils = _check_locked(problem, lk)
    demand, capacity, rank0 = _held_state(problem, lk)
    c = problem.candidates
    n_o = max(len(problem.off.ids), 1)
    keep = np.ones(c.req.size, dtype=np.bool_)
    if lreq.size:
        keep &= ~np.isin(c.req * n_o + c.off, lreq * n_o + loff)
    proposals, sol = _sub_solve(problem, np.flatnonzero(keep), demand, capacity, rank0)
    rows = _locked_rows(problem, lreq, loff, lpupils, _tier_sizes(problem)) + proposals
    seconds = time.perf_counter() - t0
    logger.info(
        "solved: %d rows, objective %.1f, bound %.1f in %.2f s",
        len(rows),
        sol.objective,
        sol.upper_bound,
        seconds,
    )
    return Result(
        tuple(rows), sol.objective, sol.upper_bound, sol.status, {"solve": seconds}, problem
    )


def greedy_baseline(
    schools: Sequence[School],
    requests: Sequence[Request],
    offers: Sequence[Offer],
    *,
    locked: Iterable[Locked] = (),
    forbidden: Iterable[tuple[Hashable, Hashable]] = (),
    weights: Weights | None = None,
    problem: Problem | None = None,
) -> Result:
    """First come, first served: requests in input order each take their nearest offers.

    This is how places were allocated before the broker; it is kept as the baseline the
    optimiser is measured against. ``problem`` may pass a prebuilt index built with
    ``k=None`` (every feasible pair), which is what first come, first served sees.

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date(2026, 3, 2)
    >>> school = dict(gender="mixed", kind="mainstream", fsm_pct=10.0, encounters_so_far=0)
    >>> s = [School(school_id="A", lat=52.0, lon=-1.0, **school),
    ...      School(school_id="B", lat=52.0, lon=-1.1, **school)]
    >>> talk = dict(type="talk", year_group=9, pupils=10, earliest=d, latest=d,
    ...             stem_goal=False, stereotype_goal=False)
    >>> r = [Request(request_id="RA", school_id="A", **talk),
    ...      Request(request_id="RB", school_id="B", **talk)]
    >>> o = [Offer(offer_id="O", employer_id="E", lat=52.0, lon=-1.05, type="talk",
    ...            capacity=10, max_km=20.0, virtual=False, earliest=d, latest=d, year_min=7,
    ...            year_max=13, stem=False, challenges_stereotype=False)]
    >>> [(a.request_id, a.pupils) for a in greedy_baseline(s, r, o).assignments]
    [('RA', 10)]
    """
    t0 = time.perf_counter()
    if problem is None:
        problem = Problem(schools, requests, offers, weights=weights, forbidden=forbidden, k=None)
    t1 = time.perf_counter()
    lk = list(locked)
    lreq, loff, lpupils = _check_locked(problem, lk)
    demand, capacity, rank0 = _held_state(problem, lk)
    c = problem.candidates
    order = np.lexsort((c.km, c.req))
    starts = c.start
    take_req: list[int] = []
    take_pos: list[int] = []
    take_pupils: list[int] = []
    n_o = max(len(problem.off.ids), 1)
    locked_keys = set((lreq * n_o + loff).tolist())
    for r in range(len(problem.requests)):
        need = int(demand[r])
        lo, hi = int(starts[r]), int(starts[r + 1])
        if need <= 0 or lo == hi:
            continue
        pos = order[lo:hi]
        offs = c.off[pos]
        room = capacity[offs]
        open_ = np.flatnonzero(room > 0)
        for j in open_:
            o = int(offs[j])
            if r * n_o + o in locked_keys:
                continue
            give = min(need, int(capacity[o]))
            capacity[o] -= give
            need -= give
            take_req.append(r)
            take_pos.append(int(pos[j]))
            take_pupils.append(give)
            if need == 0:
                break
    req = np.asarray(take_req, dtype=np.int64)
    posa = np.asarray(take_pos, dtype=np.int64)
    pupils = np.asarray(take_pupils, dtype=np.int64)
    tier_size = _tier_sizes(problem)
    rows = _locked_rows(problem, lreq, loff, lpupils, tier_size)
    proposals = _assignments(
        problem, req, c.off[posa], c.km[posa], pupils, rank0, tier_size, locked=False
    )
    objective = float(sum(a.score for a in proposals))
    t2 = time.perf_counter()
    return Result(
        tuple(rows + proposals),
        objective,
        float("nan"),
        "heuristic",
        {"candidates": t1 - t0, "solve": t2 - t1},
        problem,
    )


def _sub_solve(
    problem: Problem,
    pos: IntArray,
    demand: IntArray,
    capacity: IntArray,
    rank0: IntArray,
) -> tuple[list[Assignment], FlowSolution]:
    """Solve the flow over the candidate positions ``pos`` that still have demand and room."""
    c = problem.candidates
    pos = pos[(demand[c.req[pos]] > 0) & (capacity[c.off[pos]] > 0)]
    value = c.score[pos] / problem.r_pupils[c.req[pos]] + problem.weights.pupil
    tier_size = _tier_sizes(problem)
    sol = solve_flow(
        pair_req=c.req[pos],
        pair_off=c.off[pos],
        pair_value=value,
        req_school=problem.r_school,
        req_demand=demand,
        off_capacity=capacity,
        school_rank0=rank0,
        school_tier_size=tier_size,
        weights=problem.weights,
    )
    used = sol.pupils > 0
    sel = pos[used]
    rows = _assignments(
        problem, c.req[sel], c.off[sel], c.km[sel], sol.pupils[used], rank0, tier_size, locked=False
    )
    return rows, sol


def replace_after_cancellation(
    problem: Problem,
    current: Iterable[_Held],
    request_id: Hashable,
    offer_id: Hashable,
    *,
    offer_withdrawn: bool = False,
    request_withdrawn: bool = False,
) -> list[Assignment]:
    """Propose new rows after one match is cancelled, without moving any other row.

    The cancelled request's pupils may go to its other candidate offers that have room, and
    the offer's freed capacity to other candidate requests with unmet demand; this small
    sub-problem is solved optimally with the same scores and per-school diminishing returns.
    The cancelled pair itself is never proposed again.

    Parameters
    ----------
    problem : Problem
        The index of the run that produced ``current`` (e.g. ``result.problem``).
    current : iterable of Assignment or Locked
        The rows in force; the cancelled row may be included and is ignored.
    request_id, offer_id : the cancelled match
    offer_withdrawn : the employer pulled out: the offer's freed capacity is not reused
    request_withdrawn : the school pulled out: only the offer's capacity is re-placed

    Returns
    -------
    list of Assignment
        Only the new rows.

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date(2026, 3, 2)
    >>> s = [School(school_id="A", lat=52.0, lon=-1.0, gender="mixed", kind="mainstream",
    ...             fsm_pct=10.0, encounters_so_far=0)]
    >>> r = [Request(request_id="RA", school_id="A", type="talk", year_group=9, pupils=10,
    ...              earliest=d, latest=d, stem_goal=False, stereotype_goal=False)]
    >>> o = [Offer(offer_id=x, employer_id="E", lat=52.0, lon=-1.0, type="talk", capacity=10,
    ...            max_km=20.0, virtual=False, earliest=d, latest=d, year_min=7, year_max=13,
    ...            stem=False, challenges_stereotype=False) for x in ("O1", "O2")]
    >>> result = solve(s, r, o)
    >>> gone = result.assignments[0]
    >>> new = replace_after_cancellation(result.problem, result.assignments, "RA", gone.offer_id)
    >>> [(a.request_id, a.offer_id != gone.offer_id, a.pupils) for a in new]
    [('RA', True, 10)]
    """
    held = list(current)
    r = problem.request_index.get(request_id)
    o = problem.offer_index.get(offer_id)
    if r is None or o is None:
        raise MatchingError(f"cancelled match ({request_id!r}, {offer_id!r}) names an unknown id")
    demand, capacity, rank0 = _held_state(problem, held, skip=(request_id, offer_id))
    if request_withdrawn:
        demand[r] = 0
    if offer_withdrawn:
        capacity[o] = 0
    c = problem.candidates
    parts = [np.arange(int(c.start[r]), int(c.start[r + 1]))]
    order, start = problem.by_offer()
    parts.append(order[int(start[o]) : int(start[o + 1])])
    pos = np.unique(np.concatenate(parts))
    pos = pos[~((c.req[pos] == r) & (c.off[pos] == o))]
    return _sub_solve(problem, pos, demand, capacity, rank0)[0]


def place_new_offer(problem: Problem, current: Iterable[_Held], offer: Offer) -> list[Assignment]:
    """Propose rows for one new offer, using only demand that is still unmet.

    The offer is scored against every request of the problem with the same rules and terms,
    and its capacity is shared optimally among them. ``problem`` is not changed: add the
    offer to the inputs of the next full run.

    Returns
    -------
    list of Assignment
        Only the new rows (all for ``offer``).

    Examples
    --------
    >>> import datetime as dt
    >>> d = dt.date(2026, 3, 2)
    >>> s = [School(school_id="A", lat=52.0, lon=-1.0, gender="mixed", kind="mainstream",
    ...             fsm_pct=10.0, encounters_so_far=0)]
    >>> r = [Request(request_id="RA", school_id="A", type="talk", year_group=9, pupils=10,
    ...              earliest=d, latest=d, stem_goal=False, stereotype_goal=False)]
    >>> p = Problem(s, r, [])
    >>> new = Offer(offer_id="N", employer_id="E", lat=52.0, lon=-1.0, type="talk", capacity=6,
    ...             max_km=20.0, virtual=False, earliest=d, latest=d, year_min=7, year_max=13,
    ...             stem=False, challenges_stereotype=False)
    >>> [(a.request_id, a.offer_id, a.pupils) for a in place_new_offer(p, [], new)]
    [('RA', 'N', 6)]
    """
    if offer.offer_id in problem.offer_index:
        raise MatchingError(f"offer {offer.offer_id!r} is already in the problem")
    held = list(current)
    demand, _capacity, rank0 = _held_state(problem, held)
    new = _Offers([offer], problem.sector_code)
    req, off, km = problem.pairs_for_offers(new, np.zeros(1, dtype=np.int64))
    keep = demand[req] > 0
    req, off, km = req[keep], off[keep], km[keep]
    score = problem.pair_score(req, off, km, new)
    value = score / problem.r_pupils[req] + problem.weights.pupil
    tier_size = _tier_sizes(problem)
    sol = solve_flow(
        pair_req=req,
        pair_off=off,
        pair_value=value,
        req_school=problem.r_school,
        req_demand=demand,
        off_capacity=new.capacity,
        school_rank0=rank0,
        school_tier_size=tier_size,
        weights=problem.weights,
    )
    used = sol.pupils > 0
    return _assignments(
        problem,
        req[used],
        off[used],
        km[used],
        sol.pupils[used],
        rank0,
        tier_size,
        locked=False,
        off=new,
    )
