"""Rows read from the database, and the engine's inputs built from them by keyword.

Every query selects columns, not model objects, and filters by id where it can, so that a
page checking one pair reads that pair's rows and not the whole country's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, func, or_, select

import matching as engine
from broker.extensions import db
from broker.models import (
    Employer,
    EncounterRequest,
    Match,
    Offer,
    School,
)
from broker.services.idlists import CHUNK, SCAN_ABOVE, by_ids, chunks
from broker.services.vetting import blocked_offer_clause, matchable_clause
from broker.statuses import REFUSED

__all__ = [
    "CHUNK",
    "SCAN_ABOVE",
    "as_id",
    "by_ids",
    "chunks",
    "engine_offer",
    "engine_request",
    "forbidden_pairs",
    "may_reach",
    "may_reach_areas",
    "offer_rows",
    "request_rows",
]

def as_id(value: Any) -> int:
    """The engine carries ids as hashables; the broker's are always database integers."""
    return int(value)


def request_rows(today: date, where: Sequence[Any] = (), *, for_update: bool = False) -> list[Any]:
    """Open requests whose window has not ended, as rows of the columns the engine needs."""
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
        EncounterRequest.provider_only,
    ).where(EncounterRequest.status == "open", EncounterRequest.latest >= today, *where)
    if for_update:
        query = query.with_for_update(of=EncounterRequest)
    return list(db.session.execute(query.order_by(EncounterRequest.id)))


# The offer columns the engine reads (see engine_offer): every query that builds engine
# offers selects these, so a new column reaches them all at once.
OFFER_COLUMNS = (
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
    Offer.provider_encounter,
)


def offer_rows(today: date, where: Sequence[Any] = (), *, for_update: bool = False) -> list[Any]:
    """Open, vetted offers of checked employers, not ended, as rows of the engine's columns."""
    query = (
        select(*OFFER_COLUMNS)
        .join(Employer, Offer.employer_id == Employer.id)
        .where(
            Offer.status == "open",
            Offer.latest >= today,
            ~blocked_offer_clause(today),
            # Unchecked and suspended organisations reach no pupils (employer_checks).
            matchable_clause(),
            *where,
        )
    )
    if for_update:
        query = query.with_for_update(of=Offer)
    return list(db.session.execute(query.order_by(Offer.id)))


def forbidden_pairs(request_ids: Iterable[int], offer_ids: Iterable[int]) -> list[tuple[int, int]]:
    """Pairs among these requests and offers that someone said no to (never proposed)."""
    offers = set(offer_ids)

    def query(where: Sequence[Any]) -> Iterable[Any]:
        return db.session.execute(
            select(Match.request_id, Match.offer_id).where(
                Match.status.in_(REFUSED), *where
            )
        )

    rows = by_ids(query, Match.request_id, request_ids)
    return sorted({(r, o) for r, o in rows if o in offers})


def engine_request(row: Any, pupils: int, today: date) -> engine.Request:
    """The engine's request for a row of :func:`request_rows`, wanting ``pupils``."""
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
        provider_only=bool(row.provider_only),
    )


def engine_offer(row: Any, capacity: int, today: date) -> engine.Offer:
    """The engine's offer for a row of :func:`offer_rows`, with ``capacity`` places left."""
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
        provider=bool(row.provider_encounter),
    )


# Kilometres per degree of latitude on the engine's sphere, rounded down so that bounds
# computed with it are loose, never tight.
KM_PER_DEGREE = 111.0


def may_reach_areas(area_ids: Sequence[int]) -> Any:
    """SQL: offers that could be within reach of some school in the areas (see may_reach)."""
    boxes = db.session.execute(
        select(
            func.min(School.lat), func.max(School.lat), func.min(School.lon), func.max(School.lon)
        )
        .where(School.area_id.in_(list(area_ids) or [-1]))
        .group_by(School.area_id)
    ).all()
    return may_reach(boxes)


def may_reach(boxes: Iterable[Sequence[float]]) -> Any:
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
        lon_km = KM_PER_DEGREE * math.cos(math.radians(widest)) / 1.01
        reach.append(
            and_(
                Offer.lat.between(
                    lat_lo - Offer.max_km / KM_PER_DEGREE, lat_hi + Offer.max_km / KM_PER_DEGREE
                ),
                Offer.lon.between(lon_lo - Offer.max_km / lon_km, lon_hi + Offer.max_km / lon_km),
            )
        )
    return or_(*reach)
