"""Read-only figures for dashboards: counts by status, scoped to what a user may see."""

from __future__ import annotations

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import Encounter, EncounterRequest, Match, Offer, School


def match_counts(
    *,
    employer_id: int | None = None,
    school_id: int | None = None,
    area_ids: list[int] | None = None,
) -> dict[str, int]:
    """Return the number of matches in each status, for one employer, school or set of areas."""
    query = select(Match.status, func.count()).group_by(Match.status)
    if employer_id is not None:
        # IN over the employer's offers (or the school's or areas' requests) lets the
        # planner use the (status, offer_id|request_id) indexes; joins walk every match.
        query = query.where(
            Match.offer_id.in_(select(Offer.id).where(Offer.employer_id == employer_id))
        )
    if school_id is not None:
        query = query.where(
            Match.request_id.in_(
                select(EncounterRequest.id).where(EncounterRequest.school_id == school_id)
            )
        )
    if area_ids is not None:
        query = query.where(
            Match.request_id.in_(
                select(EncounterRequest.id)
                .join(School, EncounterRequest.school_id == School.id)
                .where(School.area_id.in_(area_ids))
            )
        )
    return {status: count for status, count in db.session.execute(query)}


def pupils_reached(*, employer_id: int | None = None, school_id: int | None = None) -> int:
    """Return the pupils reached by delivered encounters of one employer or school."""
    query = select(func.coalesce(func.sum(Encounter.pupils_reached), 0)).join(
        Match, Encounter.match_id == Match.id
    )
    if employer_id is not None:
        query = query.join(Offer, Match.offer_id == Offer.id).where(
            Offer.employer_id == employer_id
        )
    if school_id is not None:
        query = query.join(EncounterRequest, Match.request_id == EncounterRequest.id).where(
            EncounterRequest.school_id == school_id
        )
    return int(db.session.scalar(query) or 0)
