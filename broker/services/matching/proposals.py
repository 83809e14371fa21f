"""Writing proposals: a run's plan, made in memory, then written with guarded statements.

A run first compares the engine's assignments with the proposals it read
(:func:`plan_proposals`): a pair proposed again with the same pupils, score, distance,
reasons and terms is left as it is; one whose values changed is updated; a new pair is
added; a pair no longer proposed is withdrawn (``superseded``). Then
:func:`save_plan` writes only that, in one short transaction at the end of the run, and
re-checks what changed while the engine ran:

- every update and withdrawal names the status it expects (``proposed``), after locking the
  rows, so a proposal a coordinator approved or rejected meanwhile is never overwritten;
- new rows, and rows that would place more pupils, are written only if their request and
  offer are unchanged since they were read, and the pupils still fit what every live match
  holds now; otherwise they wait for the next run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

import matching as engine
from broker.extensions import db
from broker.models import (
    EncounterRequest,
    Match,
    MatchEvent,
    MatchRun,
    Offer,
    User,
)
from broker.services.matching.rows import (
    SCAN_ABOVE,
    as_id,
    by_ids,
    chunks,
    offer_rows,
    request_rows,
)
from broker.statuses import LIVE, MatchStatus

__all__ = [
    "Plan",
    "Stored",
    "insert_proposals",
    "new_run",
    "plan_proposals",
    "proposal_values",
    "save_plan",
]

_BATCH = 5000  # rows per INSERT ... VALUES batch

# (pupils, score, km, reasons, terms) of a proposal as stored.
Stored = tuple[int, float, float, str, dict[str, float]]


def new_run(kind: str, now: datetime) -> MatchRun:
    """Add and flush a running :class:`MatchRun` (its id names the rows it writes)."""
    run = MatchRun(kind=kind, status="running", started_at=now)
    db.session.add(run)
    db.session.flush()
    return run


def proposal_values(a: engine.Assignment) -> dict[str, Any]:
    """The values a proposal stores for an engine assignment."""
    return {
        "pupils": a.pupils,
        "score": a.score,
        "km": a.km,
        "reasons": a.reasons,
        "terms": dict(a.terms),
    }


def _events(rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        db.session.execute(insert(MatchEvent), rows[start : start + _BATCH])


def _event(match_id: int, frm: str | None, to: str, by_id: int | None, reason: str, now: datetime):
    return {
        "match_id": match_id,
        "from_status": frm,
        "to_status": to,
        "by_id": by_id,
        "reason": reason,
        "at": now,
    }


def _insert(
    run: MatchRun, rows: list[dict[str, Any]], now: datetime, by_id: int | None
) -> list[int]:
    """Insert proposals (request_id, offer_id and values each) with their history events."""
    ids: list[int] = []
    full = [
        {
            **row,
            "status": MatchStatus.PROPOSED,
            "run_id": run.id,
            "created_at": now,
            "updated_at": now,
            "created_by_id": by_id,
        }
        for row in rows
    ]
    for start in range(0, len(full), _BATCH):
        result = db.session.execute(
            insert(Match).returning(Match.id, sort_by_parameter_order=True),
            full[start : start + _BATCH],
        )
        ids.extend(int(i) for i in result.scalars())
    reason = f"{run.kind} run {run.id}"
    _events([_event(i, None, MatchStatus.PROPOSED, by_id, reason, now) for i in ids])
    return ids


def insert_proposals(
    run: MatchRun, assignments: Iterable[engine.Assignment], now: datetime, *, by: User | None
) -> list[int]:
    """Add the assignments (locked ones skipped) as new proposals of ``run``; return ids."""
    rows = [
        {"request_id": as_id(a.request_id), "offer_id": as_id(a.offer_id), **proposal_values(a)}
        for a in assignments
        if not a.locked
    ]
    return _insert(run, rows, now, by.id if by is not None else None) if rows else []


@dataclass
class Plan:
    """What a run will write: built in memory from the assignments and what was read."""

    added: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    # (request_id, offer_id) and stored pupils of every kept proposal, by id.
    pairs: dict[int, tuple[int, int]] = field(default_factory=dict)
    old_pupils: dict[int, int] = field(default_factory=dict)


def plan_proposals(
    assignments: Iterable[engine.Assignment],
    current: dict[tuple[int, int], list[int]],
    stored: dict[int, Stored],
) -> Plan:
    """Compare the assignments with the current proposals (ids per pair, stored values)."""
    plan = Plan()
    leftover = {pair: list(ids) for pair, ids in current.items()}
    for a in assignments:
        if a.locked:
            continue
        pair = (as_id(a.request_id), as_id(a.offer_id))
        values = proposal_values(a)
        ids = leftover.get(pair)
        if not ids:
            plan.added.append({"request_id": pair[0], "offer_id": pair[1], **values})
            continue
        mid = ids.pop(0)
        plan.pairs[mid] = pair
        old = stored[mid]
        plan.old_pupils[mid] = old[0]
        new = (a.pupils, a.score, a.km, a.reasons, values["terms"])
        if new == old:
            plan.unchanged.append(mid)
        else:
            plan.updated.append({"b_id": mid, **values})
    plan.withdrawn = sorted(i for ids in leftover.values() for i in ids)
    return plan


def _lock_statuses(ids: Sequence[int]) -> dict[int, str]:
    """Lock matches (in id order, as every service does) and return their status now."""
    out: dict[int, str] = {}
    for chunk in chunks(sorted(ids)):
        for mid, status in db.session.execute(
            select(Match.id, Match.status)
            .where(Match.id.in_(chunk))
            .order_by(Match.id)
            .with_for_update()
        ):
            out[int(mid)] = status
    return out


def _live_on(requests: set[int], offers: set[int]) -> list[Any]:
    """Live matches on any of these requests or offers, as they are now."""

    def query(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(Match.id, Match.request_id, Match.offer_id, Match.pupils).where(
                Match.status.in_(LIVE), *where
            )
        )

    if len(requests) + len(offers) > SCAN_ABOVE:
        return [m for m in query(()) if m.request_id in requests or m.offer_id in offers]
    found = {m.id: m for m in by_ids(query, Match.request_id, requests)}
    found.update((m.id, m) for m in by_ids(query, Match.offer_id, offers))
    return list(found.values())


@dataclass
class _Recheck:
    added: list[dict[str, Any]]
    refused_added: int
    refused_updates: set[int]


def _recheck(
    added: list[dict[str, Any]],
    growing: list[int],
    plan: Plan,
    new_pupils: dict[int, int],
    withdrawn: set[int],
    today: date,
    loaded_requests: dict[int, Any],
    loaded_offers: dict[int, Any],
) -> _Recheck:
    """Keep the new pupils that still fit: see the module. Locks the rows it reads."""
    pairs = [(a["request_id"], a["offer_id"]) for a in added] + [plan.pairs[i] for i in growing]
    if not pairs:
        return _Recheck(added, 0, set())
    req_ids = {r for r, _o in pairs}
    off_ids = {o for _r, o in pairs}
    now_req = {
        row.id: row
        for row in by_ids(
            lambda where: request_rows(today, where, for_update=True), EncounterRequest.id, req_ids
        )
    }
    now_off = {
        row.id: row
        for row in by_ids(
            lambda where: offer_rows(today, where, for_update=True), Offer.id, off_ids
        )
    }
    changed = {("r", r) for r in req_ids if now_req.get(r) != loaded_requests.get(r)}
    changed |= {("o", o) for o in off_ids if now_off.get(o) != loaded_offers.get(o)}
    held: dict[tuple[str, int], int] = defaultdict(int)
    live_pairs = set()
    for m in _live_on(req_ids, off_ids):
        if m.id in withdrawn:
            continue
        pupils = new_pupils.get(m.id, m.pupils)
        held["r", m.request_id] += pupils
        held["o", m.offer_id] += pupils
        live_pairs.add((m.request_id, m.offer_id))
    keep: list[dict[str, Any]] = []
    for a in added:
        r, o = a["request_id"], a["offer_id"]
        if ("r", r) in changed or ("o", o) in changed or (r, o) in live_pairs:
            continue
        held["r", r] += a["pupils"]
        held["o", o] += a["pupils"]
        keep.append(a)
    # Someone placed pupils meanwhile (a hand match, an incremental run, a lower capacity):
    # the new rows on those requests and offers wait for the next run.
    changed |= {("r", r) for r in req_ids if r in now_req and held["r", r] > now_req[r].pupils}
    changed |= {("o", o) for o in off_ids if o in now_off and held["o", o] > now_off[o].capacity}

    def clear(r: int, o: int) -> bool:
        return ("r", r) not in changed and ("o", o) not in changed

    kept = [a for a in keep if clear(a["request_id"], a["offer_id"])]
    refused = {i for i in growing if not clear(*plan.pairs[i])}
    return _Recheck(kept, len(added) - len(kept), refused)


def save_plan(
    run: MatchRun,
    plan: Plan,
    now: datetime,
    today: date,
    loaded_requests: dict[int, Any],
    loaded_offers: dict[int, Any],
) -> dict[str, int]:
    """Write the plan with guarded statements (see the module); return what was written.

    ``loaded_requests`` and ``loaded_offers`` are the rows the run's inputs were built from
    (by id), to tell what changed since.
    """
    touched = sorted({u["b_id"] for u in plan.updated} | set(plan.withdrawn))
    status = _lock_statuses(touched) if touched else {}
    updated = [u for u in plan.updated if status.get(u["b_id"]) == MatchStatus.PROPOSED]
    withdrawn = [i for i in plan.withdrawn if status.get(i) == MatchStatus.PROPOSED]
    gone = len(plan.updated) - len(updated) + len(plan.withdrawn) - len(withdrawn)
    new_pupils = {u["b_id"]: u["pupils"] for u in updated}
    growing = [i for i, p in new_pupils.items() if p > plan.old_pupils[i]]
    check = _recheck(
        plan.added,
        growing,
        plan,
        new_pupils,
        set(withdrawn),
        today,
        loaded_requests,
        loaded_offers,
    )
    updated = [u for u in updated if u["b_id"] not in check.refused_updates]

    reason = f"{run.kind} run {run.id}"
    for chunk in chunks(withdrawn):
        db.session.execute(
            update(Match)
            .where(Match.id.in_(chunk), Match.status == MatchStatus.PROPOSED)
            .values(status=MatchStatus.SUPERSEDED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if updated:
        table = Match.__table__
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == MatchStatus.PROPOSED)
            .values(
                pupils=bindparam("pupils"),
                score=bindparam("score"),
                km=bindparam("km"),
                reasons=bindparam("reasons"),
                terms=bindparam("terms"),
                run_id=run.id,
                updated_at=now,
            ),
            updated,
        )
    if check.added:
        _insert(run, check.added, now, None)
    superseded = MatchStatus.SUPERSEDED
    _events([_event(i, MatchStatus.PROPOSED, superseded, None, reason, now) for i in withdrawn])
    return {
        "added": len(check.added),
        "kept": len(plan.unchanged) + len(updated) + len(check.refused_updates),
        "withdrawn": len(withdrawn),
        "pupils_added": sum(a["pupils"] for a in check.added),
        "kept_unchanged": len(plan.unchanged),
        "kept_updated": len(updated),
        "held_back": gone + check.refused_added + len(check.refused_updates),
    }
