"""Pupils held: how many pupils matches hold on offers and requests, counted in one place.

A match holds its pupils on its offer (places taken) and on its request (demand served) while
it is live. Which statuses count depends on the question:

- :data:`LIVE` (proposed, approved, accepted, delivered): everything that takes a place now,
  proposals included. Hand matches and the incremental matcher leave room for these, and an
  offer's list shows them as "held".
- :data:`FIRM` (approved, accepted, delivered): what a coordinator has approved. Approvals
  check room against these only (a proposal is what is being approved), and an employer
  cannot lower an offer's capacity below them (proposals beyond it are withdrawn instead).

Every function counts with one grouped query (per 500 ids) however many ids it is given;
:func:`pupils_in` counts matches already loaded (and locked) without a query.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import LIVE_MATCH_STATUSES, LOCKED_MATCH_STATUSES, Match

__all__ = ["FIRM", "LIVE", "by_offer", "by_request", "on_offer", "on_request", "pupils_in"]

#: Statuses that take a place now, proposals included.
LIVE: tuple[str, ...] = LIVE_MATCH_STATUSES
#: Statuses a coordinator has approved (and later): proposals excluded.
FIRM: tuple[str, ...] = LOCKED_MATCH_STATUSES

_CHUNK = 500


def _held(
    column: Any, ids: Iterable[int], statuses: Iterable[str], exclude: Iterable[int]
) -> dict[int, int]:
    wanted = sorted({int(i) for i in ids if i is not None})
    skip = sorted({int(i) for i in exclude if i is not None})
    out: dict[int, int] = {}
    for start in range(0, len(wanted), _CHUNK):
        query = (
            select(column, func.sum(Match.pupils))
            .where(column.in_(wanted[start : start + _CHUNK]), Match.status.in_(tuple(statuses)))
            .group_by(column)
        )
        if skip:
            query = query.where(Match.id.not_in(skip))
        for key, pupils in db.session.execute(query):
            out[int(key)] = int(pupils or 0)
    return out


def by_offer(
    offer_ids: Iterable[int], *, statuses: Iterable[str] = LIVE, exclude: Iterable[int] = ()
) -> dict[int, int]:
    """Return the pupils held on each offer (absent ids hold none), leaving out match ids
    ``exclude``."""
    return _held(Match.offer_id, offer_ids, statuses, exclude)


def by_request(
    request_ids: Iterable[int], *, statuses: Iterable[str] = LIVE, exclude: Iterable[int] = ()
) -> dict[int, int]:
    """Return the pupils held on each request (absent ids hold none), leaving out match ids
    ``exclude``."""
    return _held(Match.request_id, request_ids, statuses, exclude)


def on_offer(offer_id: int, *, statuses: Iterable[str] = LIVE, exclude: Iterable[int] = ()) -> int:
    """Return the pupils held on one offer."""
    return by_offer([offer_id], statuses=statuses, exclude=exclude).get(offer_id, 0)


def on_request(
    request_id: int, *, statuses: Iterable[str] = LIVE, exclude: Iterable[int] = ()
) -> int:
    """Return the pupils held on one request."""
    return by_request([request_id], statuses=statuses, exclude=exclude).get(request_id, 0)


def pupils_in(matches: Iterable[Match], *, statuses: Iterable[str] = LIVE) -> int:
    """Return the pupils that ``matches`` (already loaded) hold, counting ``statuses`` only."""
    counted = set(statuses)
    return sum(m.pupils for m in matches if m.status in counted)
