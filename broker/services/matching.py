"""The engine adapter: the only module that knows both the database and the matching engine.

:func:`run_matching` is the nightly match (the ``match`` job and the demo call it): it loads
open requests, remaining capacity, locked matches and last run's proposals with column
selects, calls :func:`matching.solve`, and replaces the unapproved proposals, recording a
:class:`~broker.models.MatchRun` with its figures. Everything is added and flushed; the caller
commits once, so a run is either wholly written or not at all.

:func:`propose_replacements` and :func:`propose_for_new_offer` run the engine's incremental
functions on a small sub-problem, so a late drop-out or a new offer gets proposals at once.
:func:`pair_allowed`, :func:`alternatives_for` and :func:`cold_spot_requests` reuse the
engine's hard rules and scores for the coordinator's pages.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update

import matching as engine
from broker import clock
from broker.extensions import db
from broker.models import (
    LIVE_MATCH_STATUSES,
    LOCKED_MATCH_STATUSES,
    Employer,
    EncounterRequest,
    Match,
    MatchEvent,
    MatchRun,
    Offer,
    School,
    SchoolBlackout,
    User,
)
from broker.services import audit
from broker.services.notify import notify
from broker.services.vetting import blocked_offer_clause

__all__ = [
    "FORBIDDEN_STATUSES",
    "Inputs",
    "alternatives_for",
    "cold_spot_requests",
    "load_inputs",
    "pair_allowed",
    "propose_for_new_offer",
    "propose_replacements",
    "run_matching",
]

log = logging.getLogger(__name__)

# Pairs someone said no to: a coordinator rejected them, or a side declined or cancelled.
FORBIDDEN_STATUSES = ("rejected", "declined", "cancelled")
# Matches that count as a school's encounters this year (the engine's diminishing returns).
COUNTED_STATUSES = ("accepted", "delivered")
_CHUNK = 900  # ids per IN (...) list, below SQLite's parameter limit


def weights() -> engine.Weights:
    """Return the engine's weights, overridden by ``app.config["MATCHING_WEIGHTS"]``."""
    return engine.Weights.from_mapping(current_app.config.get("MATCHING_WEIGHTS") or {})


@dataclass
class Inputs:
    """What the engine needs, read from the database, plus what saving needs back."""

    today: date
    schools: list[engine.School] = field(default_factory=list)
    requests: list[engine.Request] = field(default_factory=list)
    offers: list[engine.Offer] = field(default_factory=list)
    locked: list[engine.Locked] = field(default_factory=list)
    previous: list[tuple[int, int]] = field(default_factory=list)
    forbidden: list[tuple[int, int]] = field(default_factory=list)
    # Current unapproved proposals: (request_id, offer_id) -> [match ids].
    proposals: dict[tuple[int, int], list[int]] = field(default_factory=dict)

    @property
    def pupils_requested(self) -> int:
        """Pupils still wanted: the requests' pupils less those locked matches hold."""
        locked = sum(lk.pupils for lk in self.locked)
        return sum(r.pupils for r in self.requests) - locked


def _id(value: Any) -> int:
    """The engine carries ids as hashables; the broker's are always database integers."""
    return int(value)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _held(statuses: tuple[str, ...], column: Any) -> dict[int, int]:
    rows = db.session.execute(
        select(column, func.sum(Match.pupils)).where(Match.status.in_(statuses)).group_by(column)
    )
    return {int(k): int(v) for k, v in rows}


def _request_rows(today: date, where: Sequence[Any] = ()) -> list[Any]:
    query = select(
        EncounterRequest.id,
        EncounterRequest.school_id,
        EncounterRequest.type,
        EncounterRequest.year_group,
        EncounterRequest.pupils,
        EncounterRequest.earliest,
        EncounterRequest.latest,
        EncounterRequest.stem_goal,
        EncounterRequest.stereotype_goal,
        EncounterRequest.sen_needs,
    ).where(EncounterRequest.status == "open", EncounterRequest.latest >= today, *where)
    return list(db.session.execute(query.order_by(EncounterRequest.id)))


def _offer_rows(today: date, where: Sequence[Any] = ()) -> list[Any]:
    query = (
        select(
            Offer.id,
            Offer.employer_id,
            Offer.lat,
            Offer.lon,
            Offer.type,
            Offer.capacity,
            Offer.max_km,
            Offer.delivery,
            Offer.earliest,
            Offer.latest,
            Offer.year_min,
            Offer.year_max,
            Offer.stem,
            Offer.challenges_stereotype,
            Offer.sen_support,
            Offer.sector,
            Offer.audience,
        )
        .join(Employer, Offer.employer_id == Employer.id)
        .where(Offer.status == "open", Offer.latest >= today, ~blocked_offer_clause(today), *where)
    )
    return list(db.session.execute(query.order_by(Offer.id)))


def _engine_request(row: Any, pupils: int, today: date) -> engine.Request:
    return engine.Request(
        request_id=row.id,
        school_id=row.school_id,
        type=row.type,
        year_group=row.year_group,
        pupils=pupils,
        earliest=max(row.earliest, today),
        latest=row.latest,
        stem_goal=bool(row.stem_goal),
        stereotype_goal=bool(row.stereotype_goal),
        sen_needs=frozenset(row.sen_needs or ()),
    )


def _engine_offer(row: Any, capacity: int, today: date) -> engine.Offer:
    return engine.Offer(
        offer_id=row.id,
        employer_id=row.employer_id,
        lat=row.lat,
        lon=row.lon,
        type=row.type,
        capacity=capacity,
        max_km=row.max_km,
        virtual=row.delivery == "virtual",
        earliest=max(row.earliest, today),
        latest=row.latest,
        year_min=row.year_min,
        year_max=row.year_max,
        stem=bool(row.stem),
        challenges_stereotype=bool(row.challenges_stereotype),
        sen_support=frozenset(row.sen_support or ()),
        sector=row.sector or "",
        audience=row.audience,
    )


def _schools(
    ids: set[int],
    today: date,
    *,
    extra_encounters: dict[int, int] | None = None,
    skip_requests: set[int] | None = None,
) -> list[engine.School]:
    """Engine schools for ``ids``: encounters this school year, sectors seen, blackouts.

    ``skip_requests`` are requests passed to the engine as locked rows: the engine counts
    those itself, so they are left out of ``encounters_so_far``.
    """
    if not ids:
        return []
    year_start = clock.school_year_start(today)
    id_list = sorted(ids)
    where_school = School.id.in_(id_list) if len(id_list) <= _CHUNK else School.id.is_not(None)
    encounters: dict[int, set[int]] = defaultdict(set)
    sectors: dict[int, set[str]] = defaultdict(set)
    rows = db.session.execute(
        select(EncounterRequest.school_id, Match.request_id, Match.status, Offer.sector)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .where(Match.status.in_(LOCKED_MATCH_STATUSES), EncounterRequest.latest >= year_start)
    )
    skip = skip_requests or set()
    for school_id, request_id, status, sector in rows:
        if sector:
            sectors[school_id].add(sector)
        if status in COUNTED_STATUSES and request_id not in skip:
            encounters[school_id].add(request_id)
    avoid: dict[int, list[tuple[date, date]]] = defaultdict(list)
    for school_id, a, b in db.session.execute(
        select(SchoolBlackout.school_id, SchoolBlackout.starts_on, SchoolBlackout.ends_on)
        .join(School, SchoolBlackout.school_id == School.id)
        .where(SchoolBlackout.ends_on >= today, where_school)
    ):
        avoid[school_id].append((a, b))
    extra = extra_encounters or {}
    out = []
    for row in db.session.execute(
        select(School.id, School.lat, School.lon, School.gender, School.kind, School.fsm_pct)
        .where(where_school)
        .order_by(School.id)
    ):
        if row.id not in ids:
            continue
        out.append(
            engine.School(
                school_id=row.id,
                lat=row.lat,
                lon=row.lon,
                gender=row.gender,
                kind=row.kind,
                fsm_pct=float(row.fsm_pct or 0.0),
                encounters_so_far=len(encounters[row.id]) + extra.get(row.id, 0),
                sectors_seen=frozenset(sectors[row.id]),
                avoid_dates=tuple(avoid[row.id]),
            )
        )
    return out


def load_inputs(today: date) -> Inputs:
    """Read the whole nightly problem from the database with column selects and sums.

    Requests are open, not past, with pupils that locked matches do not already hold;
    offers are open, not past, not blocked by vetting, with capacity left. Locked matches
    between an included request and offer become engine ``Locked`` rows; locked pupils on
    anything left out are subtracted from the other side directly.
    """
    inputs = Inputs(today=today)
    locked_rows = list(
        db.session.execute(
            select(Match.request_id, Match.offer_id, func.sum(Match.pupils))
            .where(Match.status.in_(LOCKED_MATCH_STATUSES))
            .group_by(Match.request_id, Match.offer_id)
        )
    )
    req_locked: dict[int, int] = defaultdict(int)
    off_locked: dict[int, int] = defaultdict(int)
    for r, o, p in locked_rows:
        req_locked[r] += int(p)
        off_locked[o] += int(p)
    req_rows = {row.id: row for row in _request_rows(today) if row.pupils > req_locked[row.id]}
    off_rows = {row.id: row for row in _offer_rows(today) if row.capacity > off_locked[row.id]}
    # Locked pupils whose other side is not in the problem come off this side directly.
    req_outside: dict[int, int] = defaultdict(int)
    off_outside: dict[int, int] = defaultdict(int)
    locked_requests: set[int] = set()
    for r, o, p in locked_rows:
        if r in req_rows and o in off_rows:
            inputs.locked.append(engine.Locked(request_id=r, offer_id=o, pupils=int(p)))
            locked_requests.add(r)
        elif r in req_rows:
            req_outside[r] += int(p)
        elif o in off_rows:
            off_outside[o] += int(p)
    inputs.requests = [
        _engine_request(row, row.pupils - req_outside[rid], today) for rid, row in req_rows.items()
    ]
    inputs.offers = [
        _engine_offer(row, row.capacity - off_outside[oid], today) for oid, row in off_rows.items()
    ]
    inputs.schools = _schools(
        {row.school_id for row in req_rows.values()}, today, skip_requests=locked_requests
    )
    for mid, r, o in db.session.execute(
        select(Match.id, Match.request_id, Match.offer_id).where(Match.status == "proposed")
    ):
        inputs.proposals.setdefault((r, o), []).append(mid)
    inputs.previous = [
        pair for pair in inputs.proposals if pair[0] in req_rows and pair[1] in off_rows
    ]
    inputs.forbidden = sorted(
        {
            (r, o)
            for r, o in db.session.execute(
                select(Match.request_id, Match.offer_id).where(Match.status.in_(FORBIDDEN_STATUSES))
            )
            if r in req_rows and o in off_rows
        }
    )
    return inputs


def _solve(inputs: Inputs) -> engine.Result:
    if not inputs.requests or not inputs.offers:
        locked = tuple(
            engine.Assignment(
                request_id=lk.request_id,
                offer_id=lk.offer_id,
                pupils=lk.pupils,
                score=0.0,
                km=0.0,
                reasons="",
                locked=True,
            )
            for lk in inputs.locked
        )
        return engine.Result(locked, 0.0, 0.0, "optimal", {"candidates": 0.0, "solve": 0.0})
    return engine.solve(
        inputs.schools,
        inputs.requests,
        inputs.offers,
        locked=inputs.locked,
        previous=inputs.previous,
        forbidden=inputs.forbidden,
        weights=weights(),
    )


def _events(rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(MatchEvent), rows[start : start + 5000])


def _insert_matches(rows: list[dict[str, Any]]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(rows), 5000):
        result = db.session.execute(
            insert(Match).returning(Match.id, sort_by_parameter_order=True),
            rows[start : start + 5000],
        )
        ids.extend(int(i) for i in result.scalars())
    return ids


def _save_proposals(
    run: MatchRun,
    assignments: Iterable[engine.Assignment],
    current: dict[tuple[int, int], list[int]],
    now: datetime,
    *,
    by: User | None = None,
) -> dict[str, int]:
    """Replace the proposals in ``current`` with ``assignments``; return what changed.

    A pair proposed again is updated in place (kept), a new pair inserted (added), and a
    pair no longer proposed becomes ``superseded`` (withdrawn), each with a history event.
    """
    by_id = by.id if by is not None else None
    kept: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    leftover = {pair: list(ids) for pair, ids in current.items()}
    for a in assignments:
        if a.locked:
            continue
        values = {
            "pupils": a.pupils,
            "score": a.score,
            "km": a.km,
            "reasons": a.reasons,
            "terms": dict(a.terms),
            "run_id": run.id,
            "updated_at": now,
        }
        ids = leftover.get((_id(a.request_id), _id(a.offer_id)))
        if ids:
            kept.append({"id": ids.pop(0), **values})
        else:
            added.append(
                {
                    "request_id": a.request_id,
                    "offer_id": a.offer_id,
                    "status": "proposed",
                    "created_at": now,
                    "created_by_id": by_id,
                    **values,
                }
            )
    withdrawn = sorted(i for ids in leftover.values() for i in ids)
    if kept:
        db.session.execute(update(Match), kept)
    for chunk in _chunks(withdrawn):
        db.session.execute(
            update(Match)
            .where(Match.id.in_(chunk), Match.status == "proposed")
            .values(status="superseded", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    new_ids = _insert_matches(added) if added else []
    reason = f"{run.kind} run {run.id}"
    _events(
        [
            {
                "match_id": i,
                "from_status": None,
                "to_status": "proposed",
                "by_id": by_id,
                "reason": reason,
                "at": now,
            }
            for i in new_ids
        ]
        + [
            {
                "match_id": i,
                "from_status": "proposed",
                "to_status": "superseded",
                "by_id": by_id,
                "reason": reason,
                "at": now,
            }
            for i in withdrawn
        ]
    )
    return {
        "added": len(added),
        "kept": len(kept),
        "withdrawn": len(withdrawn),
        "pupils_added": sum(r["pupils"] for r in added),
    }


def run_matching(now: datetime, *, kind: str = "nightly") -> MatchRun:
    """Run the full match and replace every unapproved proposal; return the recorded run.

    Locked matches (approved, accepted, delivered) are kept and served first; last run's
    proposals are favoured for stability; rejected or declined pairs are never proposed.
    The caller commits once: a run is never half written.
    """
    t0 = time.perf_counter()
    run = MatchRun(kind=kind, status="running", started_at=now)
    db.session.add(run)
    db.session.flush()
    inputs = load_inputs(clock.local_date(now))
    t1 = time.perf_counter()
    result = _solve(inputs)
    t2 = time.perf_counter()
    changes = _save_proposals(run, result.assignments, inputs.proposals, now)
    db.session.flush()
    t3 = time.perf_counter()
    cold = refresh_cold_spots(clock.local_date(now), now)
    t4 = time.perf_counter()
    previous = db.session.scalar(
        select(MatchRun.id)
        .where(MatchRun.id < run.id, MatchRun.status == "finished")
        .order_by(MatchRun.id.desc())
        .limit(1)
    )
    proposals = [a for a in result.assignments if not a.locked]
    run.figures = {
        "requests": len(inputs.requests),
        "offers": len(inputs.offers),
        "schools": len(inputs.schools),
        "locked": len(inputs.locked),
        "pupils_requested": inputs.pupils_requested,
        "capacity": sum(o.capacity for o in inputs.offers) - sum(lk.pupils for lk in inputs.locked),
        "proposals": len(proposals),
        "pupils_matched": sum(a.pupils for a in proposals),
        "requests_matched": len({a.request_id for a in proposals}),
        "objective": round(float(result.objective), 3),
        "upper_bound": round(float(result.upper_bound), 3),
        "status": result.status,
        "candidates": len(result.problem.candidates) if result.problem is not None else 0,
        "cold_spots": cold,
        "seconds": {
            "load": round(t1 - t0, 3),
            "candidates": round(result.timings.get("candidates", 0.0), 3),
            "solve": round(result.timings.get("solve", 0.0), 3),
            "save": round(t3 - t2, 3),
            "cold_spots": round(t4 - t3, 3),
        },
    }
    run.changes = {**changes, "previous_run_id": previous}
    run.status = "finished"
    _notify_coordinators(run, now)
    seconds = {**run.figures["seconds"], "total": round(time.perf_counter() - t0, 3)}
    run.figures = {**run.figures, "seconds": seconds}
    run.finished_at = clock.now()
    audit.record(
        "match_run.finished", run, by=None, kind=kind, proposals=run.figures["proposals"], **changes
    )
    db.session.flush()
    log.info(
        "match run %s (%s): %d proposals for %d pupils, +%d =%d -%d, %.1f s",
        run.id,
        kind,
        run.figures["proposals"],
        run.figures["pupils_matched"],
        changes["added"],
        changes["kept"],
        changes["withdrawn"],
        run.figures["seconds"]["total"],
    )
    return run


def _notify_coordinators(run: MatchRun, now: datetime) -> None:
    """Tell each coordinator, once per run, how many proposals wait in their areas."""

    def per_area(*where: Any) -> dict[int, int]:
        rows = db.session.execute(
            select(School.area_id, func.count())
            .select_from(Match)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .join(School, EncounterRequest.school_id == School.id)
            .where(
                Match.run_id == run.id,
                Match.status == "proposed",
                School.area_id.is_not(None),
                *where,
            )
            .group_by(School.area_id)
        )
        return {int(a): int(n) for a, n in rows if a is not None}

    waiting = per_area()
    new = per_area(Match.created_at >= now) if waiting else {}
    if not waiting:
        return
    coordinators = db.session.scalars(
        select(User).where(User.role == "coordinator", User.active.is_(True)).order_by(User.id)
    )
    for user in coordinators:
        area_ids = [a.id for a in user.areas]
        total = sum(waiting.get(a, 0) for a in area_ids)
        if total == 0:
            continue
        notify(
            user,
            "run_summary",
            subject=f"{total} proposed matches to review",
            dedupe_key=f"run_summary:{run.id}",
            run=run,
            waiting=total,
            added=sum(new.get(a, 0) for a in area_ids),
            areas=[a.name for a in user.areas if waiting.get(a.id)],
        )


# --------------------------------------------------------------------------- incremental
def _live_held(column: Any, ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(ids))
    out: dict[int, int] = {}
    for chunk in _chunks(ids):
        for k, v in db.session.execute(
            select(column, func.sum(Match.pupils))
            .where(column.in_(chunk), Match.status.in_(LIVE_MATCH_STATUSES))
            .group_by(column)
        ):
            out[int(k)] = int(v)
    return out


def _live_encounters(school_ids: set[int], today: date) -> dict[int, int]:
    """Live matches per school this year that are not already counted as encounters."""
    year_start = clock.school_year_start(today)
    rows = db.session.execute(
        select(EncounterRequest.school_id, func.count(func.distinct(Match.request_id)))
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(
            Match.status.in_(("proposed", "approved")),
            EncounterRequest.latest >= year_start,
            EncounterRequest.school_id.in_(sorted(school_ids) or [-1]),
        )
        .group_by(EncounterRequest.school_id)
    )
    return {int(s): int(n) for s, n in rows}


def _forbidden(request_ids: set[int], offer_ids: set[int]) -> list[tuple[int, int]]:
    rows = db.session.execute(
        select(Match.request_id, Match.offer_id).where(
            Match.status.in_(FORBIDDEN_STATUSES), Match.request_id.in_(sorted(request_ids) or [-1])
        )
    )
    return sorted({(r, o) for r, o in rows if o in offer_ids})


def _new_run(kind: str, now: datetime) -> MatchRun:
    run = MatchRun(kind=kind, status="running", started_at=now)
    db.session.add(run)
    db.session.flush()
    return run


def _finish_small_run(
    run: MatchRun,
    rows: list[engine.Assignment],
    now: datetime,
    by: User | None,
    t0: float,
    **figures: Any,
) -> list[Match]:
    changes = _save_proposals(run, rows, {}, now, by=by)
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


def propose_replacements(match: Match, *, by: User | None) -> list[Match]:
    """Propose replacements at once for a cancelled match, without moving any other match.

    The cancelled request's pupils may go to other offers with room, and the offer's freed
    places to other requests with unmet demand, solved by the engine's
    :func:`matching.replace_after_cancellation` on that small sub-problem. New rows are
    proposals for a coordinator to approve, recorded as a run of kind ``replacement``.
    """
    t0 = time.perf_counter()
    now = clock.now()
    today = clock.local_date(now)
    request, offer = match.request, match.offer
    db.session.flush()
    req_rows = {
        row.id: row
        for row in _request_rows(
            today,
            [
                or_(
                    EncounterRequest.id == request.id,
                    and_(
                        EncounterRequest.type == offer.type,
                        EncounterRequest.year_group.between(offer.year_min, offer.year_max),
                        EncounterRequest.earliest <= offer.latest,
                        EncounterRequest.latest >= offer.earliest,
                    ),
                )
            ],
        )
    }
    off_rows = {
        row.id: row
        for row in _offer_rows(
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
                    ),
                )
            ],
        )
    }
    req_held = _live_held(Match.request_id, req_rows)
    off_held = _live_held(Match.offer_id, off_rows)
    requests = {
        rid: _engine_request(row, row.pupils - req_held.get(rid, 0), today)
        for rid, row in req_rows.items()
        if row.pupils > req_held.get(rid, 0)
    }
    offers = {
        oid: _engine_offer(row, row.capacity - off_held.get(oid, 0), today)
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
    school_ids = {_id(r.school_id) for r in requests.values()}
    schools = _schools(school_ids, today, extra_encounters=_live_encounters(school_ids, today))
    try:
        problem = engine.Problem(
            schools,
            list(requests.values()),
            list(offers.values()),
            weights=weights(),
            forbidden=_forbidden(set(requests), set(offers)),
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
    run = _new_run("replacement", now)
    made = _finish_small_run(
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
    rows = _offer_rows(today, [Offer.id == offer.id])
    if not rows:
        return []
    held = _live_held(Match.offer_id, [offer.id]).get(offer.id, 0)
    if offer.capacity <= held:
        return []
    req_rows = _request_rows(
        today,
        [
            EncounterRequest.type == offer.type,
            EncounterRequest.year_group.between(offer.year_min, offer.year_max),
            EncounterRequest.earliest <= offer.latest,
            EncounterRequest.latest >= offer.earliest,
        ],
    )
    req_held = _live_held(Match.request_id, [r.id for r in req_rows])
    requests = [
        _engine_request(r, r.pupils - req_held.get(r.id, 0), today)
        for r in req_rows
        if r.pupils > req_held.get(r.id, 0)
    ]
    if not requests:
        return []
    school_ids = {_id(r.school_id) for r in requests}
    schools = _schools(school_ids, today, extra_encounters=_live_encounters(school_ids, today))
    problem = engine.Problem(schools, requests, [], weights=weights())
    forbidden = set(_forbidden({_id(r.request_id) for r in requests}, {offer.id}))
    new = [
        a
        for a in engine.place_new_offer(
            problem, [], _engine_offer(rows[0], offer.capacity - held, today)
        )
        if (a.request_id, a.offer_id) not in forbidden
    ]
    run = _new_run("new_offer", now)
    return _finish_small_run(run, new, now, by, t0, offer_id=offer.id, requests=len(requests))


# ----------------------------------------------------------------- rules for coordinators
def _problem_for(
    request: EncounterRequest, offer_where: Sequence[Any], today: date, *, k: int | None
) -> engine.Problem | None:
    req_row = next(iter(_request_rows(today, [EncounterRequest.id == request.id])), None)
    if req_row is None:
        return None
    off_rows = _offer_rows(today, offer_where)
    locked = _held(LOCKED_MATCH_STATUSES, Match.offer_id) if off_rows else {}
    offers = [
        _engine_offer(row, row.capacity - locked.get(row.id, 0), today)
        for row in off_rows
        if row.capacity > locked.get(row.id, 0)
    ]
    schools = _schools({request.school_id}, today)
    return engine.Problem(
        schools, [_engine_request(req_row, req_row.pupils, today)], offers, weights=weights(), k=k
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


def alternatives_for(
    request: EncounterRequest, today: date, *, exclude: Iterable[int] = (), n: int = 5
) -> list[tuple[engine.Candidate, Offer]]:
    """Return the best other offers the engine would consider for ``request``, with reasons.

    Only offers of the request's type within reach of the school (or virtual) with places
    left (after locked matches) are scored, so the page stays quick at national scale.
    """
    school = request.school
    near = _may_reach([(school.lat, school.lat, school.lon, school.lon)])
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
    return [(c, offers[_id(c.offer_id)]) for c in found]


# Kilometres per degree of latitude on the engine's sphere, rounded down so that bounds
# computed with it are loose, never tight.
_KM_PER_DEGREE = 111.0


def _may_reach_areas(area_ids: Sequence[int]) -> Any:
    """SQL: offers that could be within reach of some school in the areas (see _may_reach)."""
    boxes = db.session.execute(
        select(
            func.min(School.lat), func.max(School.lat), func.min(School.lon), func.max(School.lon)
        )
        .where(School.area_id.in_(list(area_ids) or [-1]))
        .group_by(School.area_id)
    ).all()
    return _may_reach(boxes)


def _may_reach(boxes: Iterable[Sequence[float]]) -> Any:
    """SQL: offers that could reach a point in one of the (lat_lo, lat_hi, lon_lo, lon_hi) boxes.

    A necessary condition only (the engine decides exactly): virtual, or within the offer's
    ``max_km`` of a box. Great-circle distance is at least ``|delta lat|`` in degrees times
    111.19 km, and at least ``|delta lon|`` times 111.19 km * cos(lat) for latitudes up to
    ``lat``; the bounds round both against themselves, so no feasible offer is left out.
    Loading only these keeps a local check from building every offer in the country.
    """
    reach = [Offer.delivery == "virtual"]
    for lat_lo, lat_hi, lon_lo, lon_hi in boxes:
        # Offers reach at most MAX_KM (500 km, under 5 degrees of latitude) from a school.
        widest = min(85.0, max(abs(lat_lo), abs(lat_hi)) + 10.0)
        lon_km = _KM_PER_DEGREE * math.cos(math.radians(widest)) / 1.01
        reach.append(
            and_(
                Offer.lat.between(
                    lat_lo - Offer.max_km / _KM_PER_DEGREE, lat_hi + Offer.max_km / _KM_PER_DEGREE
                ),
                Offer.lon.between(lon_lo - Offer.max_km / lon_km, lon_hi + Offer.max_km / lon_km),
            )
        )
    return or_(*reach)


def refresh_cold_spots(today: date, now: datetime) -> int:
    """Record on every open request whether any current offer could serve it; return how
    many none could (the true cold spots), for the gaps page to read."""
    cold = set(cold_spot_requests(None, today))
    open_ids = select(EncounterRequest.id).where(EncounterRequest.status == "open")
    db.session.execute(
        update(EncounterRequest)
        .where(EncounterRequest.id.in_(open_ids))
        .values(has_candidate=True, candidates_checked_at=now)
        .execution_options(synchronize_session=False)
    )
    ids = sorted(cold)
    for start in range(0, len(ids), 1000):
        db.session.execute(
            update(EncounterRequest)
            .where(EncounterRequest.id.in_(ids[start : start + 1000]))
            .values(has_candidate=False)
            .execution_options(synchronize_session=False)
        )
    return len(cold)


def cold_spot_requests(area_ids: Sequence[int] | None, today: date) -> list[int]:
    """Return ids of open requests (in the areas, or all) that no current offer could serve.

    These are the true cold spots: not short of places, but with no feasible offer at all
    under the engine's hard rules.
    """
    where = (
        []
        if area_ids is None
        else [
            EncounterRequest.school_id.in_(
                select(School.id).where(School.area_id.in_(list(area_ids) or [-1]))
            )
        ]
    )
    req_rows = _request_rows(today, where)
    if not req_rows:
        return []
    types = sorted({r.type for r in req_rows})
    off_where = [Offer.type.in_(types)]
    if area_ids is not None:
        off_where.append(_may_reach_areas(area_ids))
    off_rows = _offer_rows(today, off_where)
    if not off_rows:
        return [r.id for r in req_rows]
    requests = [_engine_request(r, r.pupils, today) for r in req_rows]
    offers = [_engine_offer(o, o.capacity, today) for o in off_rows]
    problem = engine.Problem(
        _schools({r.school_id for r in req_rows}, today), requests, offers, weights=weights(), k=1
    )
    start = problem.candidates.start
    return [_id(r.request_id) for i, r in enumerate(requests) if start[i + 1] == start[i]]
