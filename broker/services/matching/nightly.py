"""The nightly run: compute first, then write what changed in one short transaction.

:func:`run_matching` reads the whole problem with column selects (:func:`load_inputs`),
solves it, plans the proposals and finds the cold spots, all without writing; only then
does it record the run and write, with every statement guarded by the state it expects
(:mod:`~broker.services.matching.proposals`). On SQLite the database's write lock is
therefore held for the writes at the end, not for the whole run, and other users can keep
writing while the engine works.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select

import matching as engine
from broker import clock
from broker.extensions import db
from broker.models import (
    EncounterRequest,
    Match,
    MatchRun,
    School,
    User,
)
from broker.services import audit
from broker.services.matching.coldspots import cold_from_result, open_flags, write_flags
from broker.services.matching.proposals import (
    Stored,
    new_run,
    plan_proposals,
    save_plan,
)
from broker.services.matching.rows import (
    engine_offer,
    engine_request,
    offer_rows,
    request_rows,
)
from broker.services.matching.schools import engine_schools
from broker.services.matching.settings import weights
from broker.services.notify import notify
from broker.statuses import LOCKED, REFUSED, MatchStatus
from matching.cli import no_cyclic_gc

__all__ = ["Inputs", "load_inputs", "run_matching"]

log = logging.getLogger(__name__)


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
    # Current unapproved proposals: (request_id, offer_id) -> [match ids], and their values.
    proposals: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    stored: dict[int, Stored] = field(default_factory=dict)
    # The rows read (open and current), by id, so the save can tell what changed since.
    request_rows: dict[int, Any] = field(default_factory=dict)
    offer_rows: dict[int, Any] = field(default_factory=dict)
    # Every open request's has_candidate as read (the cold spots are written against it).
    flags: dict[int, bool | None] = field(default_factory=dict)

    @property
    def pupils_requested(self) -> int:
        """Pupils still wanted: the requests' pupils less those locked matches hold."""
        locked = sum(lk.pupils for lk in self.locked)
        return sum(r.pupils for r in self.requests) - locked


def load_inputs(today: date) -> Inputs:
    """Read the whole nightly problem from the database with column selects and sums.

    Requests are open, not past, with pupils that locked matches do not already hold;
    offers are open, not past, not blocked by vetting, with capacity left. Locked matches
    between an included request and offer become engine ``Locked`` rows; locked pupils on
    anything left out are subtracted from the other side directly. Nothing is written.
    """
    inputs = Inputs(today=today)
    inputs.flags = open_flags()
    locked_rows = list(
        db.session.execute(
            select(Match.request_id, Match.offer_id, func.sum(Match.pupils))
            .where(Match.status.in_(LOCKED))
            .group_by(Match.request_id, Match.offer_id)
        )
    )
    req_locked: dict[int, int] = defaultdict(int)
    off_locked: dict[int, int] = defaultdict(int)
    for r, o, p in locked_rows:
        req_locked[r] += int(p)
        off_locked[o] += int(p)
    inputs.request_rows = {row.id: row for row in request_rows(today)}
    inputs.offer_rows = {row.id: row for row in offer_rows(today)}
    req_rows = {i: row for i, row in inputs.request_rows.items() if row.pupils > req_locked[i]}
    off_rows = {i: row for i, row in inputs.offer_rows.items() if row.capacity > off_locked[i]}
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
        engine_request(row, row.pupils - req_outside[rid], today) for rid, row in req_rows.items()
    ]
    inputs.offers = [
        engine_offer(row, row.capacity - off_outside[oid], today) for oid, row in off_rows.items()
    ]
    # These offers are exactly those the cold spot term counts: give their places to it.
    in_person = [row for row in off_rows.values() if row.delivery != "virtual"]
    points = (
        np.fromiter((row.lat for row in in_person), np.float64, len(in_person)),
        np.fromiter((row.lon for row in in_person), np.float64, len(in_person)),
    )
    inputs.schools = engine_schools(
        {row.school_id for row in req_rows.values()},
        today,
        offers=points,
        skip_requests=locked_requests,
    )
    for mid, r, o, pupils, score, km, reasons, terms in db.session.execute(
        select(
            Match.id,
            Match.request_id,
            Match.offer_id,
            Match.pupils,
            Match.score,
            Match.km,
            Match.reasons,
            Match.terms,
        ).where(Match.status == MatchStatus.PROPOSED)
    ):
        inputs.proposals.setdefault((r, o), []).append(mid)
        inputs.stored[mid] = (pupils, score, km, reasons, terms or {})
    inputs.previous = [
        pair for pair in inputs.proposals if pair[0] in req_rows and pair[1] in off_rows
    ]
    inputs.forbidden = sorted(
        {
            (r, o)
            for r, o in db.session.execute(
                select(Match.request_id, Match.offer_id).where(Match.status.in_(REFUSED))
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


def run_matching(now: datetime, *, kind: str = "nightly") -> MatchRun:
    """Run the full match and replace every unapproved proposal; return the recorded run.

    Locked matches (approved, accepted, delivered) are kept and served first; last run's
    proposals are favoured for stability; rejected or declined pairs are never proposed.
    Everything is computed before anything is written; the writes are added and flushed
    at the end and the caller commits at once, so a run is never half written and the
    write transaction is short. Proposals that did not change are not rewritten.
    """
    # Hundreds of thousands of long-lived, acyclic objects are made here: the cyclic
    # collector would only rescan them (about 3 of the 7 seconds of loading, nationally).
    with no_cyclic_gc():
        return _run(now, kind)


def _run(now: datetime, kind: str) -> MatchRun:
    t0 = time.perf_counter()
    today = clock.local_date(now)
    inputs = load_inputs(today)
    t1 = time.perf_counter()
    result = _solve(inputs)
    t2 = time.perf_counter()
    plan = plan_proposals(result.assignments, inputs.proposals, inputs.stored)
    cold = cold_from_result(inputs.requests, bool(inputs.offers), result)
    t3 = time.perf_counter()
    # From here on the run writes: on SQLite its first INSERT takes the write lock.
    run = new_run(kind, now)
    saved = save_plan(run, plan, now, today, inputs.request_rows, inputs.offer_rows)
    t4 = time.perf_counter()
    cold_spots = write_flags(cold, inputs.flags, now)
    t5 = time.perf_counter()
    previous = db.session.scalar(
        select(MatchRun.id)
        .where(MatchRun.id < run.id, MatchRun.status == "finished")
        .order_by(MatchRun.id.desc())
        .limit(1)
    )
    proposals = [a for a in result.assignments if not a.locked]
    changes = {k: saved[k] for k in ("added", "kept", "withdrawn", "pupils_added")}
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
        "cold_spots": cold_spots,
        "kept_unchanged": saved["kept_unchanged"],
        "kept_updated": saved["kept_updated"],
        "held_back": saved["held_back"],
        "seconds": {
            "load": round(t1 - t0, 3),
            "candidates": round(result.timings.get("candidates", 0.0), 3),
            "solve": round(result.timings.get("solve", 0.0), 3),
            "plan": round(t3 - t2, 3),
            "save": round(t4 - t3, 3),
            "cold_spots": round(t5 - t4, 3),
        },
    }
    run.changes = {**changes, "previous_run_id": previous}
    run.status = "finished"
    _notify_coordinators(run, now)
    run.finished_at = clock.now()
    audit.record(
        "match_run.finished", run, by=None, kind=kind, proposals=run.figures["proposals"], **changes
    )
    db.session.flush()
    end = time.perf_counter()
    seconds = {
        **run.figures["seconds"],
        "write": round(end - t3, 3),
        "total": round(end - t0, 3),
    }
    run.figures = {**run.figures, "seconds": seconds}
    db.session.flush()
    log.info(
        "match run %s (%s): %d proposals for %d pupils, +%d =%d (%d rewritten) -%d, "
        "%d held back, %.1f s (writing %.1f s)",
        run.id,
        kind,
        run.figures["proposals"],
        run.figures["pupils_matched"],
        changes["added"],
        changes["kept"],
        saved["kept_updated"],
        changes["withdrawn"],
        saved["held_back"],
        seconds["total"],
        seconds["write"],
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
            .where(Match.status == MatchStatus.PROPOSED, School.area_id.is_not(None), *where)
            .group_by(School.area_id)
        )
        return {int(a): int(n) for a, n in rows if a is not None}

    waiting = per_area()
    if not waiting:
        return
    new = per_area(Match.run_id == run.id, Match.created_at >= now)
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
