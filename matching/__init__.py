"""The broker's matching engine: plain data in, assignments with reasons out.

Which function to call
----------------------
- :func:`solve` for a full run (the nightly job): give it ``School``, ``Request`` and ``Offer``
  dataclasses (built by keyword: every field is named), optionally ``locked`` (approved
  matches, kept as they are and served first), ``previous`` (last run's proposals, favoured
  for stability), ``forbidden`` (pairs a coordinator rejected) and ``weights``. It returns a
  :class:`Result`: ``assignments`` (each with ``pupils``, ``score``, ``km``, short ``reasons``
  text and a ``terms`` dict of points per scoring term), ``objective``, ``upper_bound``,
  ``status`` and ``timings``.
  ``result.alternatives(request_id, n=3)`` lists the other offers the engine considered.
- :func:`replace_after_cancellation` and :func:`place_new_offer` for late changes: pass
  ``result.problem`` (or a :class:`Problem` you built once), the rows in force, and the
  cancelled match or the new offer; they return only the new rows, solved optimally on the
  small sub-problem, without moving any other row.
- :func:`greedy_baseline` is first come, first served, kept as the yardstick.
- ``python -m matching solve|bench`` runs the engine on CSV files (see ``matching.cli``).

How it works
------------
Candidate pairs obey the hard rules (type, year group, overlapping dates outside the school's
``avoid_dates``, travel radius unless virtual, SEN needs supported, single-gender audience, a
provider encounter where the request asks for one) and
are found with a KD-tree on the unit sphere and vectorised numpy filters. Each pair is scored
by the named terms of :class:`Weights`, counted per fully served request so that a small cohort is
worth as much as a large one, plus a small per-pupil term. The best ``k`` offers per request
are kept. The assignment maximises total points under capacities and demands with diminishing
returns per school (its first encounter of the year is worth ``few_encounters`` points, each
later one ``decay`` times less), solved exactly as a min-cost flow (OR-Tools).

Examples
--------
>>> import datetime as dt
>>> from matching import School, Request, Offer, solve
>>> d0, d1 = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
>>> result = solve(
...     [School(school_id=1, lat=52.0, lon=-1.0, gender="mixed", kind="mainstream",
...             fsm_pct=25.0, encounters_so_far=0)],
...     [Request(request_id=10, school_id=1, type="talk", year_group=9, pupils=25,
...              earliest=d0, latest=d1, stem_goal=True, stereotype_goal=False)],
...     [Offer(offer_id=100, employer_id=7, lat=52.0, lon=-1.1, type="talk", capacity=30,
...            max_km=20.0, virtual=False, earliest=d0, latest=d1, year_min=8, year_max=11,
...            stem=True, challenges_stereotype=False)],
... )
>>> a = result.assignments[0]
>>> (a.request_id, a.offer_id, a.pupils, result.status)
(10, 100, 25, 'optimal')
>>> a.reasons.split("; ")[:2]
['7 km', 'STEM goal met']
"""

from .engine import (
    Result,
    greedy_baseline,
    place_new_offer,
    replace_after_cancellation,
    solve,
    solve_problem,
)
from .flow import max_pupils
from .model import (
    AUDIENCES,
    ENCOUNTER_TYPES,
    SCHOOL_GENDERS,
    SCHOOL_KINDS,
    SEN_CODES,
    Assignment,
    Candidate,
    InputError,
    Locked,
    MatchingError,
    Offer,
    Request,
    School,
    Weights,
)
from .problem import DEFAULT_K, PAIR_TERMS, Problem

__all__ = [
    "AUDIENCES",
    "DEFAULT_K",
    "ENCOUNTER_TYPES",
    "PAIR_TERMS",
    "SCHOOL_GENDERS",
    "SCHOOL_KINDS",
    "SEN_CODES",
    "Assignment",
    "Candidate",
    "InputError",
    "Locked",
    "MatchingError",
    "Offer",
    "Problem",
    "Request",
    "Result",
    "School",
    "Weights",
    "greedy_baseline",
    "max_pupils",
    "place_new_offer",
    "replace_after_cancellation",
    "solve",
    "solve_problem",
]
