"""Pupils held: how many pupils matches hold on offers and requests, counted in one place.

A match holds its pupils on its offer (places taken) and on its request (demand served) while
it is live. Which statuses count depends on the question:

- :data:`broker.statuses.LIVE` (proposed, approved, accepted, delivered), the default:
  everything that takes a place now, proposals included. Hand matches and the incremental
  matcher leave room for these, and an offer's list shows them as "held".
- :data:`broker.statuses.LOCKED` (approved, accepted, delivered): what a coordinator has
  approved. Approvals, the nightly run and the checks for coordinators count these only (a
  proposal is what is being approved or rebalanced), and an employer cannot lower an offer's
  capacity below them (proposals beyond it are withdrawn instead).

This is the one place that sums pupils held per offer or request: every function counts
with one grouped query per ``IN (...)`` list, or one pass for many ids (the nightly run's
case); :func:`by_offer_where` sums the offers a query picks (a map's box) in one plain read,
and :func:`pupils_in` counts matches already loaded (and locked) without a query.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import Match
from broker.services.idlists import by_ids
from broker.statuses import LIVE

__all__ = ["by_offer", "by_offer_where", "by_request", "on_offer", "on_request", "pupils_in"]


def _held(
    column: Any, ids: Iterable[int], statuses: Iterable[str], exclude: Iterable[int]
) -> dict[int, int]:
    wanted = {int(i) for i in ids if i is not None}
    skip = sorted({int(i) for i in exclude if i is not None})

    def query(where: Sequence[Any]) -> Iterable[Any]:
        held = (
            select(column.label("key"), func.sum(Match.pupils).label("pupils"))
            .where(Match.status.in_(sorted(statuses)), *where)
            .group_by(column)
        )
        if skip:
            held = held.where(Match.id.not_in(skip))
        return db.session.execute(held)

    return {int(row.key): int(row.pupils or 0) for row in by_ids(query, column, wanted, key="key")}


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


def by_offer_where(*where: Any, statuses: Iterable[str] = LIVE) -> dict[int, int]:
    """Return the pupils held on each offer, counting the matches ``where`` selects (every
    match in ``statuses`` without it); for pages that pick offers by a query, not by ids.

    One plain read summed here: a GROUP BY over the live statuses costs SQLite a temporary
    sort that is several times slower at national scale.
    """
    out: dict[int, int] = defaultdict(int)
    for offer_id, pupils in db.session.execute(
        select(Match.offer_id, Match.pupils).where(Match.status.in_(sorted(statuses)), *where)
    ):
        out[int(offer_id)] += int(pupils)
    return dict(out)


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
