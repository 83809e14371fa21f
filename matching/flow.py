"""The optimisation model as a min-cost flow, and a max-flow bound on pupils.

Network (units are pupils)::

    source --tier arcs--> school --demand--> request --pair arc--> offer --capacity--> sink
    source -------------------------- bypass (unserved pupils) -------------------------> sink

Each school has ``tiers`` parallel arcs of decreasing bonus (its 1st, 2nd, ... encounter of
the year, counting those already delivered or locked) and one arc without bonus. Each tier
holds ``tier_size`` pupils, the school's mean request size, and its bonus is spread over
them, so a school's first encounter is worth the same whatever its cohort size. Parallel arcs
of decreasing value make the gain concave per school, which a min-cost flow optimises exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import max_flow, min_cost_flow

from .model import MatchingError, Weights

__all__ = [
    "COST_SCALE",
    "FlowSolution",
    "max_flow_cut",
    "max_flow_pairs",
    "max_pupils",
    "solve_flow",
    "tier_bonus_per_pupil",
]

logger = logging.getLogger(__name__)

#: Points are scaled to integer costs with this factor (OR-Tools needs integer costs).
COST_SCALE = 1_000

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class FlowSolution:
    """Pupils on each pair arc, the objective in points, a proven upper bound and a status."""

    pupils: IntArray
    objective: float
    upper_bound: float
    status: str


def _compact(ids: IntArray, n: int) -> tuple[IntArray, IntArray]:
    """Like ``np.unique(ids, return_inverse=True)`` for ids in ``range(n)``, in linear time."""
    used = np.zeros(n, dtype=np.bool_)
    used[ids] = True
    local = np.cumsum(used) - 1
    return np.flatnonzero(used), local[ids]


def tier_bonus_per_pupil(rank0: IntArray, tier_size: IntArray, weights: Weights) -> FloatArray:
    """Per-pupil bonus of each school's tiers, shape (schools, tiers)."""
    ranks = rank0[:, None] + np.arange(weights.tiers)[None, :]
    bonus = weights.few_encounters * np.power(weights.decay, ranks.astype(np.float64))
    return np.asarray(bonus / tier_size[:, None])


def solve_flow(
    *,
    pair_req: IntArray,
    pair_off: IntArray,
    pair_value: FloatArray,
    req_school: IntArray,
    req_demand: IntArray,
    off_capacity: IntArray,
    school_rank0: IntArray,
    school_tier_size: IntArray,
    weights: Weights,
) -> FlowSolution:
    """Maximise pair value plus per-school tier bonuses under demands and capacities.

    ``pair_value`` is in points per pupil. Only requests, schools and offers that appear in
    some pair enter the network, so small sub-problems stay small.
    """
    n_pairs = pair_req.size
    if n_pairs == 0:
        return FlowSolution(np.zeros(0, dtype=np.int64), 0.0, 0.0, "optimal")
    reqs, r_local = _compact(pair_req, req_demand.size)
    offs, o_local = _compact(pair_off, off_capacity.size)
    schools, s_of_req = _compact(req_school[reqs], int(req_school.max()) + 1)
    demand = req_demand[reqs].astype(np.int64)
    cap = off_capacity[offs].astype(np.int64)
    n_s, n_r, n_o = schools.size, reqs.size, offs.size
    source, sink = 0, 1
    s_node = 2 + np.arange(n_s)
    r_node = 2 + n_s + np.arange(n_r)
    o_node = 2 + n_s + n_r + np.arange(n_o)
    total = int(demand.sum())
    school_demand = np.bincount(s_of_req, weights=demand, minlength=n_s).astype(np.int64)

    tiers = weights.tiers
    tier_size = np.maximum(school_tier_size[schools], 1).astype(np.int64)
    bonus = tier_bonus_per_pupil(school_rank0[schools].astype(np.int64), tier_size, weights)
    tier_cost = -np.rint(bonus * COST_SCALE).astype(np.int64)
    pair_cost = -np.rint(pair_value * COST_SCALE).astype(np.int64)

    tails = np.concatenate(
        [
            np.full(n_s * tiers, source),
            np.full(n_s, source),
            s_node[s_of_req],
            r_node[r_local],
            o_node,
            [source],
        ]
    )
    heads = np.concatenate(
        [
            np.repeat(s_node, tiers),
            s_node,
            r_node,
            o_node[o_local],
            np.full(n_o, sink),
            [sink],
        ]
    )
    caps = np.concatenate(
        [
            np.repeat(tier_size, tiers),
            school_demand,
            demand,
            np.minimum(demand[r_local], cap[o_local]),
            cap,
            [total],
        ]
    )
    costs = np.concatenate(
        [
            tier_cost.ravel(),
            np.zeros(n_s, np.int64),
            np.zeros(n_r, np.int64),
            pair_cost,
            np.zeros(n_o, np.int64),
            [0],
        ]
    )
    smcf = min_cost_flow.SimpleMinCostFlow()
    arcs = smcf.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32),
        heads.astype(np.int32),
        caps.astype(np.int64),
        costs.astype(np.int64),
    )
    supplies = np.zeros(2 + n_s + n_r + n_o, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    smcf.set_nodes_supplies(np.arange(supplies.size, dtype=np.int32), supplies)
    status = smcf.solve()
    if status != smcf.OPTIMAL:
        raise MatchingError(f"min-cost flow failed with status {status}")
    flows = np.asarray(smcf.flows(arcs), dtype=np.int64)
    n_tier = n_s * tiers
    tier_flow = flows[:n_tier].reshape(n_s, tiers)
    pair_lo = n_tier + n_s + n_r
    pupils = flows[pair_lo : pair_lo + n_pairs]
    objective = float((pupils * pair_value).sum() + (tier_flow * bonus).sum())
    # Each pupil crosses one tier arc and one pair arc, each rounded by at most half a unit.
    upper_bound = -smcf.optimal_cost() / COST_SCALE + total / COST_SCALE
    logger.info(
        "min-cost flow: %d nodes, %d arcs, %d pupils, objective %.1f",
        supplies.size,
        tails.size,
        int(pupils.sum()),
        objective,
    )
    return FlowSolution(pupils, objective, max(upper_bound, objective), "optimal")


def max_flow_pairs(
    pair_req: IntArray,
    pair_off: IntArray,
    req_demand: IntArray,
    off_capacity: IntArray,
    groups: IntArray | None = None,
) -> tuple[int, NDArray[np.bool_]]:
    """A maximum flow of pupils over the pairs: its value, and which pairs carry pupils.

    ``groups`` labels each pair with a part of the graph that shares no request or offer with
    another part (the encounter type does that); each part is then solved on its own, which
    is exact and about twice as fast at national scale.

    Examples
    --------
    >>> import numpy as np
    >>> value, used = max_flow_pairs(np.array([0, 1]), np.array([0, 0]), np.array([5, 5]),
    ...                              np.array([8]))
    >>> value, used.tolist()
    (8, [True, True])
    """
    value, used, _, _ = max_flow_cut(pair_req, pair_off, req_demand, off_capacity, groups)
    return value, used


def max_flow_cut(
    pair_req: IntArray,
    pair_off: IntArray,
    req_demand: IntArray,
    off_capacity: IntArray,
    groups: IntArray | None = None,
) -> tuple[int, NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """A maximum flow as :func:`max_flow_pairs` does, plus the source side of a minimum cut.

    Returns the flow's value, which pairs carry pupils, and which requests and which offers
    lie on the source side of a minimum cut (requests without pairs do: nothing leaves them;
    offers without pairs do not). A pair outside ``pair_req``/``pair_off`` from a request on
    the source side to an offer off it would cross that cut unused: without such a pair, the
    flow is also a maximum flow of every larger set of pairs.

    Examples
    --------
    >>> import numpy as np
    >>> value, used, req_side, off_side = max_flow_cut(
    ...     np.array([0, 1]), np.array([0, 0]), np.array([5, 5]), np.array([8, 3]))
    >>> value, req_side.tolist(), off_side.tolist()
    (8, [True, True], [True, False])
    """
    used = np.zeros(pair_req.size, dtype=np.bool_)
    req_side = np.ones(req_demand.size, dtype=np.bool_)
    off_side = np.zeros(off_capacity.size, dtype=np.bool_)
    if pair_req.size == 0:
        return 0, used, req_side, off_side
    if groups is None:
        parts = [np.arange(pair_req.size)]
    else:
        order = np.argsort(groups, kind="stable")
        cuts = np.flatnonzero(np.diff(groups[order])) + 1
        parts = np.split(order, cuts)
    total = 0
    for part in parts:
        reqs, r_local = _compact(pair_req[part], req_demand.size)
        offs, o_local = _compact(pair_off[part], off_capacity.size)
        demand, cap = req_demand[reqs], off_capacity[offs]
        n_r, n_o = reqs.size, offs.size
        source, sink = 0, 1
        tails = np.concatenate([np.full(n_r, source), 2 + r_local, 2 + n_r + np.arange(n_o)])
        heads = np.concatenate([2 + np.arange(n_r), 2 + n_r + o_local, np.full(n_o, sink)])
        caps = np.concatenate([demand, np.minimum(demand[r_local], cap[o_local]), cap])
        smf = max_flow.SimpleMaxFlow()
        arcs = smf.add_arcs_with_capacity(
            tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64)
        )
        status = smf.solve(source, sink)
        if status != smf.OPTIMAL:
            raise MatchingError(f"max-flow failed with status {status}")
        total += int(smf.optimal_flow())
        flows = np.asarray(smf.flows(arcs[n_r : n_r + part.size]))
        used[part] = flows > 0
        side = np.zeros(2 + n_r + n_o, dtype=np.bool_)
        side[np.asarray(smf.get_source_side_min_cut(), dtype=np.int64)] = True
        req_side[reqs] = side[2 : 2 + n_r]
        off_side[offs] = side[2 + n_r :]
    return total, used, req_side, off_side


def max_pupils(
    pair_req: IntArray, pair_off: IntArray, req_demand: IntArray, off_capacity: IntArray
) -> int:
    """The most pupils any assignment could serve on these pairs (an exact max-flow).

    Examples
    --------
    >>> import numpy as np
    >>> max_pupils(np.array([0, 1]), np.array([0, 0]), np.array([5, 5]), np.array([8]))
    8
    """
    return max_flow_pairs(pair_req, pair_off, req_demand, off_capacity)[0]
