"""What an assignment gives each school: requests and pupils served, goals met.

Call :func:`school_outcomes` with a :class:`~matching.Problem` and the rows of any
assignment over it (an optimal :class:`~matching.Result`, the first-come-first-served
:func:`~matching.greedy_baseline`, or the matches in force), and compare the two per group
of schools. A request's goals are its STEM goal, its wish to have stereotypes challenged
and its SEN needs (one goal, however many needs); a goal is met when the request is served
by an offer that meets it (a STEM offer, role models who challenge stereotypes, any offer at
all for SEN needs, since an offer may serve such a request only if it supports them).

Examples
--------
>>> import datetime as dt
>>> from matching import Locked, Offer, Problem, Request, School
>>> d = dt.date(2026, 3, 2)
>>> p = Problem([School(school_id="S", lat=52.0, lon=-1.0, gender="mixed",
...                     kind="mainstream", fsm_pct=10.0, encounters_so_far=0)],
...             [Request(request_id="R1", school_id="S", type="talk", year_group=9,
...                      pupils=20, earliest=d, latest=d, stem_goal=True,
...                      stereotype_goal=False),
...              Request(request_id="R2", school_id="S", type="talk", year_group=10,
...                      pupils=10, earliest=d, latest=d, stem_goal=False,
...                      stereotype_goal=True)],
...             [Offer(offer_id="O", employer_id="E", lat=52.0, lon=-1.0, type="talk",
...                    capacity=25, max_km=20.0, virtual=False, earliest=d, latest=d,
...                    year_min=7, year_max=13, stem=True, challenges_stereotype=False)])
>>> out = school_outcomes(p, [Locked(request_id="R1", offer_id="O", pupils=20)])["S"]
>>> (out.requests, out.requests_served, out.pupils_requested, out.pupils_matched)
(2, 1, 30, 20)
>>> (out.goals, out.goals_met)
(2, 1)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

from .model import MatchingError
from .problem import Problem

__all__ = ["Outcome", "school_outcomes"]


class _Row(Protocol):
    @property
    def request_id(self) -> Hashable: ...

    @property
    def offer_id(self) -> Hashable: ...

    @property
    def pupils(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """One school's share of an assignment.

    Attributes
    ----------
    school_id : the school
    requests, pupils_requested : its requests in the problem, and their pupils
    requests_served : requests with at least one pupil matched
    pupils_matched : pupils matched over all its requests (at most each request's pupils)
    goals, goals_met : goals its requests asked for, and those an assigned offer meets
    """

    school_id: Hashable
    requests: int
    pupils_requested: int
    requests_served: int
    pupils_matched: int
    goals: int
    goals_met: int


def school_outcomes(problem: Problem, rows: Iterable[_Row]) -> dict[Hashable, Outcome]:
    """Return each school's :class:`Outcome` under ``rows``, for schools with requests.

    Parameters
    ----------
    problem : Problem
        The requests, schools and offers the rows refer to.
    rows : iterable of objects with ``request_id``, ``offer_id`` and ``pupils``
        An assignment (``Assignment``, ``Locked`` or alike); several rows may share a request.

    Raises
    ------
    MatchingError
        If a row names a request or offer the problem does not have.

    Examples
    --------
    See the module's docstring.
    """
    n = len(problem.requests)
    matched = [0] * n
    stem_met = [False] * n
    stereo_met = [False] * n
    off = problem.off
    for row in rows:
        r = problem.request_index.get(row.request_id)
        o = problem.offer_index.get(row.offer_id)
        if r is None or o is None:
            raise MatchingError(f"row ({row.request_id!r}, {row.offer_id!r}) names an unknown id")
        if row.pupils <= 0:
            continue
        matched[r] += int(row.pupils)
        stem_met[r] |= bool(off.stem[o])
        stereo_met[r] |= bool(off.stereotype[o])
    totals: dict[int, list[int]] = {}
    for r, req in enumerate(problem.requests):
        s = int(problem.r_school[r])
        t = totals.setdefault(s, [0, 0, 0, 0, 0, 0])
        got = min(matched[r], req.pupils)
        t[0] += 1
        t[1] += req.pupils
        t[2] += got > 0
        t[3] += got
        goals = int(req.stem_goal) + int(req.stereotype_goal) + int(bool(req.sen_needs))
        t[4] += goals
        if got > 0:
            t[5] += (
                int(req.stem_goal and stem_met[r])
                + int(req.stereotype_goal and stereo_met[r])
                + int(bool(req.sen_needs))
            )
    return {
        problem.schools[s].school_id: Outcome(problem.schools[s].school_id, *t)
        for s, t in sorted(totals.items())
    }
