"""Cold spots: open requests that no current offer with places left could serve.

The nightly run takes them from its own candidates (:func:`cold_from_result`): a request it
matched with no feasible offer at all, under the engine's hard rules, among the offers with
places left after approved, accepted and delivered matches, leaving out pairs someone said
no to. A request whose pupils approved and later matches all hold is being served, so it
is not a cold spot. The run records the answer on each open request
(``requests.has_candidate``) for the gaps page, writing only the flags that changed
(:func:`write_flags`). :func:`cold_spot_requests` answers the same question for some areas
on demand.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

import matching as engine
from broker.extensions import db
from broker.models import EncounterRequest, Offer, School
from broker.services import holds
from broker.services.matching.rows import (
    as_id,
    chunks,
    engine_offer,
    engine_request,
    forbidden_pairs,
    may_reach_areas,
    offer_rows,
    request_rows,
)
from broker.services.matching.schools import engine_schools
from broker.services.matching.settings import weights
from broker.statuses import LOCKED

__all__ = ["cold_from_result", "cold_spot_requests", "open_flags", "write_flags"]


def _without_candidates(problem: engine.Problem) -> set[int]:
    start = problem.candidates.start
    return {as_id(r.request_id) for i, r in enumerate(problem.requests) if start[i + 1] == start[i]}


def cold_from_result(
    requests: Sequence[engine.Request], has_offers: bool, result: engine.Result
) -> set[int]:
    """Ids of the run's requests that its candidates left without any feasible offer."""
    if result.problem is None:
        return set() if has_offers else {as_id(r.request_id) for r in requests}
    return _without_candidates(result.problem)


def write_flags(cold: set[int], flags: dict[int, bool | None], now: datetime) -> int:
    """Record on each open request whether it is a cold spot; return how many are.

    ``flags`` holds every open request's ``has_candidate`` as read before the run. Only
    flags that change are written, each guarded by the value read, so a request edited
    meanwhile (its flag reset until the next run) is left for the next run.
    """
    todo: dict[tuple[bool, bool | None], list[int]] = defaultdict(list)
    for rid, was in flags.items():
        want = rid not in cold
        if was is not want:
            todo[want, was].append(rid)
    for (want, was), ids in sorted(todo.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        for chunk in chunks(sorted(ids)):
            db.session.execute(
                update(EncounterRequest)
                .where(
                    EncounterRequest.id.in_(chunk),
                    EncounterRequest.status == "open",
                    EncounterRequest.has_candidate.is_(was),
                )
                .values(has_candidate=want, candidates_checked_at=now)
                .execution_options(synchronize_session=False)
            )
    return len(cold)


def open_flags() -> dict[int, bool | None]:
    """Every open request's ``has_candidate`` as it is now."""
    return {
        int(rid): flag
        for rid, flag in db.session.execute(
            select(EncounterRequest.id, EncounterRequest.has_candidate).where(
                EncounterRequest.status == "open"
            )
        )
    }


def cold_spot_requests(area_ids: Sequence[int] | None, today: date) -> list[int]:
    """Return ids of open requests (in the areas, or all) that are cold spots (see the module)."""
    where: list[Any] = (
        []
        if area_ids is None
        else [
            EncounterRequest.school_id.in_(
                select(School.id).where(School.area_id.in_(list(area_ids) or [-1]))
            )
        ]
    )
    rows = request_rows(today, where)
    taken = holds.by_request((r.id for r in rows), statuses=LOCKED)
    req_rows = [r for r in rows if r.pupils > taken.get(r.id, 0)]
    if not req_rows:
        return []
    off_where = [Offer.type.in_(sorted({r.type for r in req_rows}))]
    if area_ids is not None:
        off_where.append(may_reach_areas(area_ids))
    off_all = offer_rows(today, off_where)
    used = holds.by_offer((o.id for o in off_all), statuses=LOCKED)
    offers = [
        engine_offer(o, o.capacity - used.get(o.id, 0), today)
        for o in off_all
        if o.capacity > used.get(o.id, 0)
    ]
    if not offers:
        return [r.id for r in req_rows]
    requests = [engine_request(r, r.pupils, today) for r in req_rows]
    problem = engine.Problem(
        engine_schools({r.school_id for r in req_rows}, today),
        requests,
        offers,
        weights=weights(),
        forbidden=forbidden_pairs([r.id for r in req_rows], [as_id(o.offer_id) for o in offers]),
        k=1,
    )
    return sorted(_without_candidates(problem))
