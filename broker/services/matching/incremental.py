"""Incremental runs: proposals at once after a cancellation, or for a newly opened offer.

Both solve a small sub-problem with the engine's incremental functions and add proposals
for a coordinator to approve, recorded as a run; no other match moves. The schools are
built as the nightly run builds them (:mod:`~broker.services.matching.schools`), so their
scores and reasons give the same figures, whatever offers the sub-problem loads.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

import matching as engine
from broker import clock
from broker.extensions import db
from broker.models import EncounterRequest, Match, MatchRun, Offer, School, User
from broker.services import audit, holds
from broker.services.matching.proposals import insert_proposals, new_run
from broker.services.matching.rows import (
    KM_PER_DEGREE,
    as_id,
    by_ids,
    engine_offer,
    engine_request,
    forbidden_pairs,
    may_reach,
    offer_rows,
    request_rows,
)
from broker.services.matching.schools import engine_schools
from broker.services.matching.settings import weights
from broker.statuses import PENDING

__all__ = ["propose_for_new_offer", "propose_replacements"]

log = logging.getLogger(__name__)


def _live_matches(school_ids: Iterable[int], today: date) -> dict[int, int]:
    """Each school's requests this year with a proposed or approved match: live matches an
    incremental run must not move, which start its diminishing returns a little later."""
    year_start = clock.school_year_start(today)

    def query(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(EncounterRequest.school_id, func.count(func.distinct(Match.request_id)))
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .where(
                Match.status.in_(PENDING),
                EncounterRequest.latest >= year_start,
                *where,
            )
            .group_by(EncounterRequest.school_id)
        )

    return {int(s): int(n) for s, n in by_ids(query, EncounterRequest.school_id, school_ids)}


def _schools(school_ids: set[int], today: date) -> list[engine.School]:
    return engine_schools(school_ids, today, extra_encounters=_live_matches(school_ids, today))


def _finish(
    run: MatchRun,
    rows: list[engine.Assignment],
    now: datetime,
    by: User | None,
    t0: float,
    **figures: Any,
) -> list[Match]:
    ids = insert_proposals(run, rows, now, by=by)
    changes = {
        "added": len(ids),
        "kept": 0,
        "withdrawn": 0,
        "pupils_added": sum(a.pupils for a in rows if not a.locked),
    }
    run.figures = {
        "proposals": len(rows),
        "pupils_matched": sum(a.pupils for a in rows),
        "seconds": {"total": round(time.perf_counter() - t0, 3)},
        **figures,
    }
    run.changes = changes
    run.status = "finished"
    run.finished_at = clock.now()
    audit.record(f"match_run.{run.kind}", run, by=by, **changes)
    db.session.flush()
    return list(db.session.scalars(select(Match).where(Match.run_id == run.id).order_by(Match.id)))


def _near_offer(offer: Offer) -> list[Any]:
    """SQL: requests whose school could be within the offer's reach (all, if it is virtual).

    A loose box around the offer (see :func:`~broker.services.matching.rows.may_reach`): the
    engine decides exactly, but the sub-problem holds the offer's neighbourhood, not every
    request of its type in the country.
    """
    if offer.delivery == "virtual":
        return []
    lat_margin = offer.max_km / KM_PER_DEGREE
    widest = min(85.0, abs(offer.lat) + lat_margin + 1.0)
    lon_margin = offer.max_km / (KM_PER_DEGREE * math.cos(math.radians(widest)) / 1.01)
    return [
        EncounterRequest.school_id.in_(
            select(School.id).where(
                School.lat.between(offer.lat - lat_margin, offer.lat + lat_margin),
                School.lon.between(offer.lon - lon_margin, offer.lon + lon_margin),
            )
        )
    ]


def propose_replacements(match: Match, *, by: User | None) -> list[Match]:
    """Propose replacements at once for a cancelled match, without moving any other match.

    The cancelled request's pupils may go to other offers with room, and the offer's freed
    places to other requests with unmet demand, solved by the engine's
    :func:`matching.replace_after_cancellation` on that small sub-problem. New rows are
    proposals for a coordinator to approve, recorded as a run of kind ``replacement``.
    Only the neighbourhood is loaded: requests the offer could reach and offers that could
    reach the request's school, so the cost does not grow with the country.
    """
    t0 = time.perf_counter()
    now = clock.now()
    today = clock.local_date(now)
    request, offer = match.request, match.offer
    school = request.school
    db.session.flush()
    req_rows = {
        row.id: row
        for row in request_rows(
            today,
            [
                or_(
                    EncounterRequest.id == request.id,
                    and_(
                        EncounterRequest.type == offer.type,
                        EncounterRequest.year_group.between(offer.year_min, offer.year_max),
                        EncounterRequest.earliest <= offer.latest,
                        EncounterRequest.latest >= offer.earliest,
                        *_near_offer(offer),
                    ),
                )
            ],
        )
    }
    off_rows = {
        row.id: row
        for row in offer_rows(
            today,
            [
                or_(
                    Offer.id == offer.id,
                    and_(
                        Offer.type == request.type,
                        Offer.year_min <= request.year_group,
                        Offer.year_max >= request.year_group,
                        Offer.earliest <= request.latest,
                        Offer.latest >= request.earliest,
                        may_reach([(school.lat, school.lat, school.lon, school.lon)]),
                    ),
                )
            ],
        )
    }
    req_held = holds.by_request(req_rows)
    off_held = holds.by_offer(off_rows)
    requests = {
        rid: engine_request(row, row.pupils - req_held.get(rid, 0), today)
        for rid, row in req_rows.items()
        if row.pupils > req_held.get(rid, 0)
    }
    offers = {
        oid: engine_offer(row, row.capacity - off_held.get(oid, 0), today)
        for oid, row in off_rows.items()
        if row.capacity > off_held.get(oid, 0)
    }
    # The cancelled pair must be known to the engine even when nothing of it is left to reuse.
    request_withdrawn = request.id not in requests
    offer_withdrawn = offer.id not in offers
    if request_withdrawn and offer_withdrawn:
        return []
    if request_withdrawn:
        requests[request.id] = engine.Request(
            request_id=request.id,
            school_id=request.school_id,
            type=request.type,
            year_group=request.year_group,
            pupils=1,
            earliest=request.earliest,
            latest=max(request.latest, request.earliest),
            stem_goal=False,
            stereotype_goal=False,
        )
    if offer_withdrawn:
        offers[offer.id] = engine.Offer(
            offer_id=offer.id,
            employer_id=offer.employer_id,
            lat=offer.lat,
            lon=offer.lon,
            type=offer.type,
            capacity=1,
            max_km=offer.max_km,
            virtual=offer.delivery == "virtual",
            earliest=offer.earliest,
            latest=offer.latest,
            year_min=offer.year_min,
            year_max=offer.year_max,
            stem=offer.stem,
            challenges_stereotype=offer.challenges_stereotype,
        )
    schools = _schools({as_id(r.school_id) for r in requests.values()}, today)
    try:
        problem = engine.Problem(
            schools,
            list(requests.values()),
            list(offers.values()),
            weights=weights(),
            forbidden=forbidden_pairs(set(requests), set(offers)),
        )
        rows = engine.replace_after_cancellation(
            problem,
            [],
            request.id,
            offer.id,
            offer_withdrawn=offer_withdrawn,
            request_withdrawn=request_withdrawn,
        )
    except engine.MatchingError:
        # The cancellation stands; the nightly run will look again.
        log.exception("no replacements for match %s", match.id)
        return []
    run = new_run("replacement", now)
    made = _finish(
        run,
        rows,
        now,
        by,
        t0,
        cancelled_match_id=match.id,
        requests=len(requests),
        offers=len(offers),
    )
    log.info("replacements for match %s: %d proposals", match.id, len(made))
    return made


def propose_for_new_offer(offer: Offer, *, by: User | None) -> list[Match]:
    """Propose matches at once for a newly opened offer, using demand still unmet.

    Uses :func:`matching.place_new_offer` over the open requests the offer could serve;
    nothing already proposed or approved moves. Returns the new proposals (possibly none).
    """
    t0 = time.perf_counter()
    now = clock.now()
    today = clock.local_date(now)
    db.session.flush()
    rows = offer_rows(today, [Offer.id == offer.id])
    if not rows:
        return []
    held = holds.on_offer(offer.id)
    if offer.capacity <= held:
        return []
    req_rows = request_rows(
        today,
        [
            EncounterRequest.type == offer.type,
            EncounterRequest.year_group.between(offer.year_min, offer.year_max),
            EncounterRequest.earliest <= offer.latest,
            EncounterRequest.latest >= offer.earliest,
        ],
    )
    req_held = holds.by_request(r.id for r in req_rows)
    requests = [
        engine_request(r, r.pupils - req_held.get(r.id, 0), today)
        for r in req_rows
        if r.pupils > req_held.get(r.id, 0)
    ]
    if not requests:
        return []
    schools = _schools({as_id(r.school_id) for r in requests}, today)
    problem = engine.Problem(schools, requests, [], weights=weights())
    forbidden = set(forbidden_pairs({as_id(r.request_id) for r in requests}, {offer.id}))
    new = [
        a
        for a in engine.place_new_offer(
            problem, [], engine_offer(rows[0], offer.capacity - held, today)
        )
        if (a.request_id, a.offer_id) not in forbidden
    ]
    run = new_run("new_offer", now)
    return _finish(run, new, now, by, t0, offer_id=offer.id, requests=len(requests))
