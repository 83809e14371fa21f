"""Why nothing matched: which of the engine's rules rule out the offers for a request.

:func:`explain_request` counts, over the open offers of a request's type, how many the
engine would allow and, for the others, the first rule that rules each one out (in
:data:`RULES` order), how many each rule alone rules out (they would fit without it), and
which SEN needs the offers ruled out for SEN support lack. The offers it calls allowed are
the engine's own candidates (:class:`matching.Problem` over the same rows as
:func:`~broker.services.matching.checks.pair_allowed`, with the pairs someone said no to
left out as the nightly run leaves them out), so the counts agree with the matcher; the
per-rule checks only say *why* the engine said no. :func:`pair_rules` names the rules that
block one pair, for a coordinator's refused hand match. Words for the counts are in
:mod:`broker.wording`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import func, select

import matching as engine
from broker.extensions import db
from broker.models import Employer, EncounterRequest, Offer
from broker.services import holds
from broker.services.matching.rows import (
    OFFER_COLUMNS,
    as_id,
    engine_offer,
    engine_request,
    forbidden_pairs,
    offer_rows,
    request_rows,
)
from broker.services.matching.schools import engine_schools
from broker.services.matching.settings import weights
from broker.services.vetting import blocked_offer_clause, matchable_clause
from broker.statuses import LOCKED
from matching.problem import haversine_km

__all__ = ["RULES", "Explanation", "explain_request", "explain_requests", "pair_rules"]

#: The rules, in the order an offer is counted under the first one it fails: the request's
#: own terms first (what the school can change), then the offer's state.
RULES: tuple[str, ...] = (
    "dates",
    "avoid_dates",
    "year",
    "audience",
    "distance",
    "sen",
    "checks",
    "full",
    "refused",
)


@dataclass(frozen=True)
class Explanation:
    """Whether any offer could serve a request and, if not, which rules rule them out.

    Attributes
    ----------
    considered : open offers of the request's type whose window has not ended
    fits : how many of them the engine allows for this request
    ruled_out : per rule, offers counted under the first rule they fail (:data:`RULES`);
        ``other`` counts any the engine refuses for no rule named here (none expected)
    only : per rule, offers that fail that rule alone: they would fit without it
    missing_needs : per SEN need of the request, offers ruled out for SEN support that lack it
    profile_needs : the request's SEN needs that its school's profile also lists (the form
        fills them in from the profile, so they may not apply to this group)
    other_types : open offers of other types (a hint when few of this type are open)
    current : False when the request is not open or its window has ended
    """

    request_id: int
    type: str
    considered: int = 0
    fits: int = 0
    ruled_out: dict[str, int] = field(default_factory=dict)
    only: dict[str, int] = field(default_factory=dict)
    missing_needs: dict[str, int] = field(default_factory=dict)
    profile_needs: tuple[str, ...] = ()
    other_types: int = 0
    current: bool = True

    @property
    def no_fit(self) -> bool:
        """True when the request is open and no offer could serve it."""
        return self.current and self.fits == 0

    def counts(self) -> list[tuple[str, int]]:
        """The rules that rule some offer out, with their counts, largest first."""
        found = [(rule, n) for rule, n in self.ruled_out.items() if n]
        return sorted(found, key=lambda kv: (-kv[1], (RULES + ("other",)).index(kv[0])))


def _all_offer_rows(today: date, where: Sequence[Any]) -> list[Any]:
    """Open offers whose window has not ended, vetted or not, flagged ``blocked`` if not."""
    allowed = {row.id for row in offer_rows(today, where)}
    query = select(*OFFER_COLUMNS).where(Offer.status == "open", Offer.latest >= today, *where)
    rows = list(db.session.execute(query.order_by(Offer.id)))
    return [(row, row.id not in allowed) for row in rows]


def _merged(spans: Sequence[tuple[date, date]]) -> list[tuple[int, int]]:
    """Avoid-date ranges as merged ordinal intervals, as the engine merges them."""
    merged: list[list[int]] = []
    for a, b in sorted((s.toordinal(), e.toordinal()) for s, e in spans):
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


class _Arrays:
    """One set of offer rows as arrays, with their places left and vetting flags."""

    def __init__(self, rows: list[tuple[Any, bool]], today: date) -> None:
        self.rows = [r for r, _ in rows]
        n = len(rows)
        t0 = today.toordinal()
        it = self.rows
        self.ids = np.fromiter((r.id for r in it), np.int64, n)
        self.lat = np.fromiter((r.lat for r in it), np.float64, n)
        self.lon = np.fromiter((r.lon for r in it), np.float64, n)
        self.virtual = np.fromiter((r.delivery == "virtual" for r in it), np.bool_, n)
        self.max_km = np.fromiter((r.max_km for r in it), np.float64, n)
        self.earliest = np.fromiter((max(r.earliest.toordinal(), t0) for r in it), np.int64, n)
        self.latest = np.fromiter((r.latest.toordinal() for r in it), np.int64, n)
        self.year_min = np.fromiter((r.year_min for r in it), np.int64, n)
        self.year_max = np.fromiter((r.year_max for r in it), np.int64, n)
        self.audience = np.asarray([r.audience for r in it], dtype=object)
        self.sen = [frozenset(r.sen_support or ()) for r in it]
        self.blocked = np.fromiter((b for _, b in rows), np.bool_, n)
        used = holds.by_offer([r.id for r in it], statuses=LOCKED)
        self.left = np.fromiter((r.capacity - used.get(r.id, 0) for r in it), np.int64, n)


def _fails(
    req: Any, school: engine.School, off: _Arrays, today: date, refused: set[int]
) -> dict[str, np.ndarray]:
    """Per rule, which offers fail it for this request (each rule on its own)."""
    r_e = max(req.earliest, today).toordinal()
    r_l = req.latest.toordinal()
    dates = ~((r_e <= off.latest) & (off.earliest <= r_l))
    avoid = np.zeros(off.ids.size, dtype=np.bool_)
    lo = np.maximum(r_e, off.earliest)
    hi = np.minimum(r_l, off.latest)
    for a, b in _merged(school.avoid_dates):
        avoid |= (a <= lo) & (hi <= b)
    avoid &= ~dates
    year = (req.year_group < off.year_min) | (req.year_group > off.year_max)
    audience = (off.audience != "mixed") & (off.audience != school.gender)
    km = haversine_km(
        np.full(off.ids.size, school.lat), np.full(off.ids.size, school.lon), off.lat, off.lon
    )
    distance = ~off.virtual & (km > off.max_km)
    needs = frozenset(req.sen_needs or ())
    sen = np.fromiter((not needs <= s for s in off.sen), np.bool_, off.ids.size)
    return {
        "dates": dates,
        "avoid_dates": avoid,
        "year": np.asarray(year),
        "audience": np.asarray(audience, dtype=np.bool_),
        "distance": np.asarray(distance),
        "sen": sen,
        "checks": off.blocked.copy(),
        "full": off.left <= 0,
        "refused": np.isin(off.ids, np.fromiter(refused, np.int64, len(refused))),
    }


def _allowed(
    reqs: Sequence[Any],
    schools: list[engine.School],
    by_type: dict[str, _Arrays],
    today: date,
) -> set[tuple[int, int]]:
    """The (request, offer) pairs the engine allows, among offers vetted and with places."""
    offers = [
        engine_offer(row, int(arrays.left[i]), today)
        for arrays in by_type.values()
        for i, row in enumerate(arrays.rows)
        if not arrays.blocked[i] and arrays.left[i] > 0
    ]
    if not offers or not reqs:
        return set()
    problem = engine.Problem(
        schools,
        [engine_request(r, r.pupils, today) for r in reqs],
        offers,
        weights=weights(),
        forbidden=forbidden_pairs([r.id for r in reqs], [as_id(o.offer_id) for o in offers]),
        k=None,
    )
    # The kept pairs' ids only: with k=None every feasible pair is kept, and the reasons
    # that candidates_for words for each are not needed here.
    c = problem.candidates
    return {
        (as_id(problem.requests[int(i)].request_id), as_id(problem.off.ids[int(j)]))
        for i, j in zip(c.req, c.off, strict=True)
    }


def _assess(
    requests: Sequence[EncounterRequest], today: date, offer_where: Sequence[Any] | None = None
) -> tuple[dict[int, Any], dict[int, engine.School], dict[str, _Arrays], set[tuple[int, int]]]:
    ids = [r.id for r in requests]
    reqs = request_rows(today, [EncounterRequest.id.in_(ids or [-1])])
    schools = engine_schools({r.school_id for r in reqs}, today)
    school_of = {as_id(s.school_id): s for s in schools}
    by_type: dict[str, _Arrays] = {}
    for type_ in sorted({r.type for r in reqs}):
        where = [Offer.type == type_] if offer_where is None else [*offer_where]
        by_type[type_] = _Arrays(_all_offer_rows(today, where), today)
    allowed = _allowed(reqs, schools, by_type, today)
    return {r.id: r for r in reqs}, school_of, by_type, allowed


def explain_requests(requests: Sequence[EncounterRequest], today: date) -> dict[int, Explanation]:
    """:func:`explain_request` for several requests at once (a page of a list)."""
    rows, school_of, by_type, allowed = _assess(requests, today)
    refused_by_request: dict[int, set[int]] = {}
    for rid, oid in forbidden_pairs(list(rows), [int(i) for a in by_type.values() for i in a.ids]):
        refused_by_request.setdefault(rid, set()).add(oid)
    other_types = _open_offers_by_type(today) if rows else Counter()
    out: dict[int, Explanation] = {}
    for request in requests:
        req = rows.get(request.id)
        if req is None:
            out[request.id] = Explanation(request.id, request.type, current=False)
            continue
        off = by_type[req.type]
        school = school_of[req.school_id]
        fails = _fails(req, school, off, today, refused_by_request.get(req.id, set()))
        ok = np.fromiter(((req.id, int(i)) in allowed for i in off.ids), np.bool_, off.ids.size)
        stack = np.vstack([fails[rule] for rule in RULES]) if off.ids.size else None
        ruled_out = {rule: 0 for rule in RULES}
        only = {rule: 0 for rule in RULES}
        other = 0
        missing: Counter[str] = Counter()
        needs = frozenset(req.sen_needs or ())
        for j in np.flatnonzero(~ok):
            failed = [RULES[k] for k in np.flatnonzero(stack[:, j])] if stack is not None else []
            if not failed:
                other += 1
                continue
            ruled_out[failed[0]] += 1
            if len(failed) == 1:
                only[failed[0]] += 1
            if failed[0] == "sen":
                missing.update(needs - off.sen[j])
        if other:
            ruled_out["other"] = other
        profile = set(request.school.sen_profile or ())
        out[request.id] = Explanation(
            request_id=req.id,
            type=req.type,
            considered=int(off.ids.size),
            fits=int(ok.sum()),
            ruled_out=ruled_out,
            only=only,
            missing_needs={n: missing[n] for n in sorted(needs) if missing[n]},
            profile_needs=tuple(sorted(needs & profile)),
            other_types=sum(n for t, n in other_types.items() if t != req.type),
        )
    return out


def explain_request(request: EncounterRequest, today: date) -> Explanation:
    """Return whether any offer could serve ``request`` and, per rule, how many it rules out.

    Counted over the open offers of the request's type (see the module); the words for a
    page come from :func:`broker.wording.why_nothing_matched` and
    :func:`broker.wording.what_would_help`.
    """
    return explain_requests([request], today)[request.id]


def _open_offers_by_type(today: date) -> Counter[str]:
    """Open, current offers per type (one grouped count, for the "other types" hint)."""
    rows = db.session.execute(
        select(Offer.type, func.count())
        .join(Employer, Offer.employer_id == Employer.id)
        .where(
            Offer.status == "open",
            Offer.latest >= today,
            ~blocked_offer_clause(today),
            matchable_clause(),
        )
        .group_by(Offer.type)
    )
    return Counter({t: int(n) for t, n in rows})


def pair_rules(request: EncounterRequest, offer: Offer, today: date) -> list[str]:
    """Name every rule that stops ``offer`` serving ``request`` (empty if the engine allows it).

    Besides :data:`RULES`: ``type`` (another type of encounter), ``closed`` (the offer is not
    open or its window has ended), ``request_closed`` (the request is not open or its window
    has ended) and ``other`` (the engine refuses it for no rule named here).
    """
    found: list[str] = []
    if offer.type != request.type:
        found.append("type")
    if offer.status != "open" or offer.latest < today:
        found.append("closed")
    if request.status != "open" or request.latest < today:
        found.append("request_closed")
    if found:
        return found
    rows, school_of, by_type, allowed = _assess([request], today, [Offer.id == offer.id])
    req = rows.get(request.id)
    off = by_type.get(request.type)
    if req is None or off is None or not off.ids.size:
        return ["other"]
    if (req.id, offer.id) in allowed:
        return []
    refused = {o for _, o in forbidden_pairs([req.id], [offer.id])}
    fails = _fails(req, school_of[req.school_id], off, today, refused)
    return [rule for rule in RULES if fails[rule][0]] or ["other"]
