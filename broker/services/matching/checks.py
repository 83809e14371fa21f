"""Checks for coordinators: may this offer serve this request, and which others could.

Both reuse the engine's hard rules and scores on a problem of one request and the few
offers in question; every row they read is filtered by id or by place, so a page reads
that request's neighbourhood, never every match in the country.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import select

import matching as engine
from broker.extensions import db
from broker.models import EncounterRequest, Offer
from broker.services import holds
from broker.services.matching.rows import (
    as_id,
    engine_offer,
    engine_request,
    may_reach,
    offer_rows,
    request_rows,
)
from broker.services.matching.schools import engine_schools
from broker.services.matching.settings import weights
from broker.statuses import LOCKED
from matching.problem import haversine_km

__all__ = ["allowed_offers", "alternatives_for", "km_to_school", "pair_allowed"]


def _problem_for(
    request: EncounterRequest, offer_where: Sequence[Any], today: date, *, k: int | None
) -> engine.Problem | None:
    req_row = next(iter(request_rows(today, [EncounterRequest.id == request.id])), None)
    if req_row is None:
        return None
    off_rows = offer_rows(today, offer_where)
    locked = holds.by_offer((row.id for row in off_rows), statuses=LOCKED)
    offers = [
        engine_offer(row, row.capacity - locked.get(row.id, 0), today)
        for row in off_rows
        if row.capacity > locked.get(row.id, 0)
    ]
    return engine.Problem(
        engine_schools({request.school_id}, today),
        [engine_request(req_row, req_row.pupils, today)],
        offers,
        weights=weights(),
        k=k,
    )


def pair_allowed(request: EncounterRequest, offer: Offer, today: date) -> engine.Candidate | None:
    """Return the engine's scored candidate if ``offer`` may serve ``request``, else None.

    The engine's own hard rules decide (type, year group, dates outside blackouts, distance
    or virtual, SEN needs, audience); the offer must also be open, current and vetted.
    """
    problem = _problem_for(request, [Offer.id == offer.id], today, k=None)
    if problem is None:
        return None
    found = [c for c in problem.candidates_for(request.id) if c.offer_id == offer.id]
    return found[0] if found else None


def km_to_school(request: EncounterRequest, offer: Offer) -> float:
    """Return the great-circle km from ``request``'s school to ``offer``'s place.

    The same distance the engine measures a pair's reach with (its ``haversine_km``).
    """
    school = request.school
    return float(
        haversine_km(
            np.array([school.lat]), np.array([school.lon]),
            np.array([offer.lat]), np.array([offer.lon]),
        )[0]
    )


def alternatives_for(
    request: EncounterRequest, today: date, *, exclude: Iterable[int] = (), n: int = 5
) -> list[tuple[engine.Candidate, Offer]]:
    """Return the best other offers the engine would consider for ``request``, with reasons.

    Only offers of the request's type within reach of the school (or virtual) with places
    left (after locked matches) are scored, so the page stays quick at national scale.
    """
    school = request.school
    near = may_reach([(school.lat, school.lat, school.lon, school.lon)])
    problem = _problem_for(request, [Offer.type == request.type, near], today, k=n + 10)
    if problem is None:
        return []
    skip = set(exclude)
    found = [c for c in problem.candidates_for(request.id) if c.offer_id not in skip][:n]
    offers = {
        o.id: o
        for o in db.session.scalars(
            select(Offer).where(Offer.id.in_([c.offer_id for c in found] or [-1]))
        )
    }
    return [(c, offers[as_id(c.offer_id)]) for c in found]


def allowed_offers(request: EncounterRequest, today: date) -> list[tuple[engine.Candidate, Offer]]:
    """Return every offer :func:`pair_allowed` would allow for ``request``, best first.

    The same rules as a hand match (so pairs turned down before are listed: a coordinator
    may make them by hand), over the offers of the request's type within reach of its
    school or online, with places left after approved and later matches.
    """
    school = request.school
    near = may_reach([(school.lat, school.lat, school.lon, school.lon)])
    problem = _problem_for(request, [Offer.type == request.type, near], today, k=None)
    if problem is None:
        return []
    found = problem.candidates_for(request.id)
    offers = {
        o.id: o
        for o in db.session.scalars(
            select(Offer).where(Offer.id.in_([c.offer_id for c in found] or [-1]))
        )
    }
    return [(c, offers[as_id(c.offer_id)]) for c in found]
