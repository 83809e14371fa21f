"""Random small instances: hard rules, capacities, locks, and optimality against HiGHS."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack

from matching import Locked, Problem, Weights, solve

from .helpers import feasible, offer, request, school

TYPES = ("talk", "mentoring")
SEN = ("autism", "hearing", "mobility")
DAY0 = dt.date(2026, 3, 1)


@st.composite
def instances(draw):
    n_s = draw(st.integers(1, 4))
    schools = []
    for i in range(n_s):
        avoid = ()
        if draw(st.booleans()):
            a = DAY0 + dt.timedelta(days=draw(st.integers(0, 20)))
            avoid = ((a, a + dt.timedelta(days=draw(st.integers(0, 8)))),)
        schools.append(
            school(
                f"S{i}",
                52 + draw(st.floats(-0.3, 0.3)),
                -1 + draw(st.floats(-0.3, 0.3)),
                gender=draw(st.sampled_from(("mixed", "girls", "boys"))),
                kind=draw(st.sampled_from(("mainstream", "special", "ap"))),
                fsm_pct=draw(st.floats(0, 100)),
                encounters_so_far=draw(st.integers(0, 3)),
                avoid_dates=avoid,
            )
        )

    def window():
        a = draw(st.integers(0, 25))
        return DAY0 + dt.timedelta(days=a), DAY0 + dt.timedelta(days=a + draw(st.integers(0, 12)))

    requests = []
    for j in range(draw(st.integers(1, 7))):
        e, la = window()
        requests.append(
            request(
                f"R{j}",
                f"S{draw(st.integers(0, n_s - 1))}",
                draw(st.integers(1, 12)),
                type=draw(st.sampled_from(TYPES)),
                year_group=draw(st.integers(7, 13)),
                earliest=e,
                latest=la,
                stem_goal=draw(st.booleans()),
                stereotype_goal=draw(st.booleans()),
                sen_needs=frozenset(draw(st.sets(st.sampled_from(SEN), max_size=1))),
            )
        )
    offers = []
    for k in range(draw(st.integers(1, 6))):
        e, la = window()
        y0 = draw(st.integers(7, 13))
        offers.append(
            offer(
                f"O{k}",
                52 + draw(st.floats(-0.3, 0.3)),
                -1 + draw(st.floats(-0.3, 0.3)),
                draw(st.integers(1, 15)),
                type=draw(st.sampled_from(TYPES)),
                max_km=draw(st.sampled_from((5.0, 20.0, 60.0))),
                virtual=draw(st.booleans()),
                earliest=e,
                latest=la,
                year_min=y0,
                year_max=draw(st.integers(y0, 13)),
                stem=draw(st.booleans()),
                challenges_stereotype=draw(st.booleans()),
                sen_support=frozenset(draw(st.sets(st.sampled_from(SEN), max_size=2))),
                sector=draw(st.sampled_from(("engineering", "health", ""))),
                audience=draw(st.sampled_from(("mixed", "mixed", "girls"))),
            )
        )
    return schools, requests, offers


def lp_optimum(problem: Problem, locked_pupils: dict, rank0: np.ndarray) -> float:
    """The same model written as an LP and solved by HiGHS (independent of the flow code)."""
    w = problem.weights
    c = problem.candidates
    locked_pairs = {(problem.request_index[r], problem.offer_index[o]) for r, o in locked_pupils}
    use = [i for i in range(len(c)) if (int(c.req[i]), int(c.off[i])) not in locked_pairs]
    m = len(use)
    if m == 0:
        return 0.0
    req, off = c.req[use], c.off[use]
    demand = problem.r_pupils.astype(float).copy()
    cap = problem.off.capacity.astype(float).copy()
    for (rid, oid), p in locked_pupils.items():
        demand[problem.request_index[rid]] -= p
        cap[problem.offer_index[oid]] -= p
    n_s, tiers = len(problem.schools), w.tiers
    count = np.bincount(problem.r_school, minlength=n_s)
    size = np.maximum(
        1,
        np.rint(
            np.bincount(problem.r_school, weights=problem.r_pupils, minlength=n_s)
            / np.maximum(count, 1)
        ),
    )
    bonus = np.array(
        [
            [w.few_encounters * w.decay ** (rank0[s] + t) / size[s] for t in range(tiers)]
            for s in range(n_s)
        ]
    )
    value = c.score[use] / problem.r_pupils[req] + w.pupil
    n_y = n_s * tiers
    cols = np.arange(m)
    a_req = coo_matrix((np.ones(m), (req, cols)), shape=(len(demand), m + n_y))
    a_off = coo_matrix((np.ones(m), (off, cols)), shape=(len(cap), m + n_y))
    ys = m + np.arange(n_y)
    a_sch = coo_matrix(
        (
            np.r_[-np.ones(m), np.ones(n_y)],
            (np.r_[problem.r_school[req], np.repeat(np.arange(n_s), tiers)], np.r_[cols, ys]),
        ),
        shape=(n_s, m + n_y),
    )
    res = linprog(
        -np.r_[value, bonus.ravel()],
        A_ub=vstack([a_req, a_off, a_sch]),
        b_ub=np.r_[demand, cap, np.zeros(n_s)],
        bounds=np.column_stack(
            [np.zeros(m + n_y), np.r_[np.full(m, np.inf), np.repeat(size, tiers)]]
        ),
        method="highs",
    )
    assert res.status == 0
    return -res.fun


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.data())
def test_rules_capacities_locks_and_optimality(inst, data):
    schools, requests, offers = inst
    by_school = {s.school_id: s for s in schools}
    by_req = {r.request_id: r for r in requests}
    by_off = {o.offer_id: o for o in offers}
    feasible_pairs = [
        (r.request_id, o.offer_id)
        for r in requests
        for o in offers
        if feasible(by_school[r.school_id], r, o)
    ]
    locked = []
    if feasible_pairs and data.draw(st.booleans()):
        rid, oid = data.draw(st.sampled_from(feasible_pairs))
        locked = [
            Locked(
                request_id=rid,
                offer_id=oid,
                pupils=min(by_req[rid].pupils, by_off[oid].capacity),
            )
        ]
    forbidden = (
        data.draw(st.lists(st.sampled_from(feasible_pairs), max_size=2)) if feasible_pairs else []
    )
    result = solve(schools, requests, offers, locked=locked, forbidden=forbidden, k=None)

    used_cap: dict = {}
    used_dem: dict = {}
    for a in result.assignments:
        r, o = by_req[a.request_id], by_off[a.offer_id]
        assert a.pupils >= 1
        assert feasible(by_school[r.school_id], r, o), (a, r, o)
        if not a.locked:
            assert (a.request_id, a.offer_id) not in forbidden
        used_cap[o.offer_id] = used_cap.get(o.offer_id, 0) + a.pupils
        used_dem[r.request_id] = used_dem.get(r.request_id, 0) + a.pupils
    assert all(used_cap[o] <= by_off[o].capacity for o in used_cap)
    assert all(used_dem[r] <= by_req[r].pupils for r in used_dem)
    kept = [(a.request_id, a.offer_id, a.pupils) for a in result.assignments if a.locked]
    assert kept == [(lk.request_id, lk.offer_id, lk.pupils) for lk in locked]

    # Optimality: an LP over the same candidates, built without the engine's flow code.
    problem = Problem(schools, requests, offers, forbidden=forbidden, k=None)
    rank0 = problem.s_encounters.copy()
    for lk in locked:
        rank0[problem.r_school[problem.request_index[lk.request_id]]] += 1
    best = lp_optimum(problem, {(lk.request_id, lk.offer_id): lk.pupils for lk in locked}, rank0)
    slack = sum(r.pupils for r in requests) / 1000 + 1e-6
    assert best - slack <= result.objective <= best + 1e-6
    assert result.upper_bound >= best - 1e-6
    proposed = sum(a.score for a in result.assignments if not a.locked)
    assert proposed == pytest.approx(result.objective, abs=0.01 * len(result.assignments) + 1e-6)


@settings(max_examples=25, deadline=None)
@given(instances())
def test_every_pair_the_engine_keeps_is_feasible_and_none_is_missed(inst):
    schools, requests, offers = inst
    by_school = {s.school_id: s for s in schools}
    expected = sorted(
        (r.request_id, o.offer_id)
        for r in requests
        for o in offers
        if feasible(by_school[r.school_id], r, o)
    )
    problem = Problem(schools, requests, offers, k=None, weights=Weights())
    c = problem.candidates
    got = sorted(
        (requests[int(r)].request_id, offers[int(o)].offer_id)
        for r, o in zip(c.req, c.off, strict=True)
    )
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(instances(), st.integers(1, 3))
def test_pruning_never_lowers_how_many_pupils_can_be_served(inst, k):
    """Kept pairs (k best each way plus one maximum flow's pairs) carry as many pupils as all."""
    from matching import max_pupils

    schools, requests, offers = inst
    full = Problem(schools, requests, offers, k=None)
    pruned = Problem(schools, requests, offers, k=k)
    everything = max_pupils(full.candidates.req, full.candidates.off, full.r_pupils,
                            full.off.capacity)  # fmt: skip
    kept = max_pupils(pruned.candidates.req, pruned.candidates.off, pruned.r_pupils,
                      pruned.off.capacity)  # fmt: skip
    assert kept == everything == (pruned.max_pupils or 0)
    assert len(pruned.candidates) <= len(full.candidates)
