"""Read-only figures for dashboards: counts by status, scoped to what a user may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import Area, Employer, Encounter, EncounterRequest, Match, Offer, School, User
from broker.statuses import MatchStatus
from broker.wording import label


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


def site_counts() -> list[tuple[int, str, str]]:
    """Return the admin dashboard's figures as (count, singular, plural) in display order.

    Each counts what its words say: offers and requests still open, matches by where they
    are in the lifecycle (not the rejected, declined, cancelled or superseded rows that
    every nightly run leaves behind), and users who can still sign in.
    """

    def count(model: Any, *where: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    matches = match_counts()
    return [
        (count(School), "school", "schools"),
        (count(Employer), "employer", "employers"),
        (count(Offer, Offer.status == "open"), "open offer", "open offers"),
        (count(EncounterRequest, EncounterRequest.status == "open"),
         "open request", "open requests"),
        (matches.get(MatchStatus.PROPOSED, 0), "proposal awaiting a coordinator",
         "proposals awaiting a coordinator"),
        (matches.get(MatchStatus.APPROVED, 0), "approved match awaiting answers",
         "approved matches awaiting answers"),
        (matches.get(MatchStatus.ACCEPTED, 0), "encounter confirmed by both sides",
         "encounters confirmed by both sides"),
        (matches.get(MatchStatus.DELIVERED, 0), "encounter delivered", "encounters delivered"),
        (count(User, User.active.is_(True)), "active user", "active users"),
        (count(Area), "area", "areas"),
    ]


# What each figure a match run records means, in the order the run's page lists them. The
# nightly run records them all; a replacement or new-offer run only some.
RUN_FIGURES: dict[str, str] = {
    "requests": "Open requests considered (with pupils still to place)",
    "pupils_requested": "Pupils still to place (not held by approved or later matches)",
    "offers": "Open offers considered (with places left)",
    "capacity": "Places left on those offers",
    "schools": "Schools with requests considered",
    "locked": "Approved or later matches between them, kept as they are",
    "candidates": "Candidate pairs the hard rules allow",
    "proposals": "Proposals made",
    "pupils_matched": "Pupils in those proposals",
    "requests_matched": "Requests with a proposal",
    "cold_spots": "Open requests no current offer could serve (cold spots)",
    "objective": "Solver's objective (total score)",
    "upper_bound": "Upper bound on the objective",
    "status": "Solver status",
    "cancelled_match_id": "Cancelled match it replaces",
    "offer_id": "New offer it places",
}


def run_figures(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """Return a run's recorded figures as (plain label, value), known ones first, no timings."""
    known = [(text, figures[key]) for key, text in RUN_FIGURES.items() if key in figures]
    rest = [
        (label(key), value)
        for key, value in sorted(figures.items())
        if key not in RUN_FIGURES and key != "seconds"
    ]
    return known + rest
