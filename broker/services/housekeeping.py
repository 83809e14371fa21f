"""Housekeeping the nightly jobs do: expire stale requests and offers, and send reminders.

Each function takes ``now`` so tests control time; each adds and flushes, and the job that
calls it commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import joinedload, selectinload

from broker import clock
from broker.extensions import db
from broker.models import (
    Employer,
    EncounterRequest,
    Match,
    MatchEvent,
    Offer,
    User,
)
from broker.services.matches import active_users, lock_ids
from broker.services.notify import Notice, notify_many
from broker.services.vetting import EXPIRY_WARNING_DAYS, RISK_ASSESSMENT_VALID_DAYS, expiring_soon
from broker.statuses import MatchStatus, Response
from broker.wording import label

__all__ = ["CONFIRMATION_DAYS", "ENCOUNTER_REMINDER_DAYS", "expire_stale", "remind_due"]

log = logging.getLogger(__name__)

#: Days before an approved match starts when sides that have not accepted are reminded.
CONFIRMATION_DAYS = 7
#: Both sides are reminded of an accepted encounter's agreed date this many days before it.
ENCOUNTER_REMINDER_DAYS = 3


def expire_stale(now: datetime) -> dict[str, int]:
    """Expire requests and offers whose dates have passed; supersede proposals on them.

    The rows are locked in the lifecycle's one order (proposals, then requests, then offers,
    each by id; :func:`broker.services.matches.lock_ids`), so expiry never deadlocks with a
    coordinator's approval, and each update checks the status again under the lock: a
    proposal approved, or a request withdrawn, meanwhile keeps that change.
    """
    today = clock.local_date(now)
    request_due = and_(EncounterRequest.status == "open", EncounterRequest.latest < today)
    offer_due = and_(Offer.status.in_(("open", "paused")), Offer.latest < today)
    requests = list(db.session.scalars(select(EncounterRequest.id).where(request_due)))
    offers = list(db.session.scalars(select(Offer.id).where(offer_due)))
    stale = list(
        db.session.scalars(
            select(Match.id)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .join(Offer, Match.offer_id == Offer.id)
            .where(
                Match.status == MatchStatus.PROPOSED,
                or_(
                    request_due,
                    offer_due,
                    EncounterRequest.status == "expired",
                    Offer.status == "expired",
                ),
            )
        )
    )
    lock_ids(Match, stale)
    lock_ids(EncounterRequest, requests)
    lock_ids(Offer, offers)
    superseded: list[int] = []
    for chunk in _chunks(sorted(stale)):
        superseded += db.session.scalars(
            update(Match)
            .where(Match.id.in_(chunk), Match.status == MatchStatus.PROPOSED)
            .values(status=MatchStatus.SUPERSEDED, updated_at=now)
            .returning(Match.id)
            .execution_options(synchronize_session=False)
        ).all()
    expired = {"requests": 0, "offers": 0}
    for chunk in _chunks(requests):
        expired["requests"] += len(
            db.session.scalars(
                update(EncounterRequest)
                .where(EncounterRequest.id.in_(chunk), EncounterRequest.status == "open")
                .values(status="expired", updated_at=now)
                .returning(EncounterRequest.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    for chunk in _chunks(offers):
        expired["offers"] += len(
            db.session.scalars(
                update(Offer)
                .where(Offer.id.in_(chunk), Offer.status.in_(("open", "paused")))
                .values(status="expired", updated_at=now)
                .returning(Offer.id)
                .execution_options(synchronize_session=False)
            ).all()
        )
    if superseded:
        db.session.execute(
            MatchEvent.__table__.insert(),
            [
                {
                    "match_id": i,
                    "from_status": MatchStatus.PROPOSED,
                    "to_status": MatchStatus.SUPERSEDED,
                    "reason": "request or offer expired",
                    "at": now,
                }
                for i in sorted(superseded)
            ],
        )
    counts = {**expired, "proposals": len(superseded)}
    db.session.flush()
    db.session.expire_all()
    log.info("expired %(requests)d requests, %(offers)d offers, %(proposals)d proposals", counts)
    return counts


def _with_parties(query):
    """Load each match's offer and employer, request and school with it (one query)."""
    return query.options(
        joinedload(Match.offer).joinedload(Offer.employer),
        joinedload(Match.request).joinedload(EncounterRequest.school),
    )


def remind_due(now: datetime) -> dict[str, int]:
    """Queue reminders: confirmations due within a week, agreed dates within three days,
    vetting expiring within 30 days.

    Each reminder is queued once (per match and side, per match and agreed date, or per
    vetting item and date), however often the job runs. The job reads the matches with their
    parties, the people to tell and the reminders already queued once each, however many
    reminders are due.
    """
    today = clock.local_date(now)
    horizon = today + timedelta(days=CONFIRMATION_DAYS)
    starts = func.coalesce(Match.scheduled_on, Offer.earliest)
    due = db.session.scalars(
        _with_parties(
            select(Match)
            .join(Offer, Match.offer_id == Offer.id)
            .where(
                Match.status == MatchStatus.APPROVED,
                starts <= horizon,
                Offer.latest >= today,
                or_(
                    Match.school_response.is_(None),
                    Match.school_response != Response.ACCEPTED,
                    Match.employer_response.is_(None),
                    Match.employer_response != Response.ACCEPTED,
                ),
            )
            .order_by(Match.id)
        )
    ).all()
    coming = db.session.scalars(
        _with_parties(
            select(Match)
            .where(
                Match.status == MatchStatus.ACCEPTED,
                Match.scheduled_on.between(
                    today, today + timedelta(days=ENCOUNTER_REMINDER_DAYS)
                ),
            )
            .order_by(Match.id)
        )
    ).all()
    schools, employers = active_users([*due, *coming])

    def sides(match: Match) -> tuple[tuple[str, list[User]], ...]:
        return (
            ("school", schools[match.request.school_id]),
            ("employer", employers[match.offer.employer_id]),
        )

    notices: list[Notice] = []
    for match in due:
        starts_on = match.scheduled_on or match.offer.earliest
        for side, users in sides(match):
            if getattr(match, f"{side}_response") == Response.ACCEPTED:
                continue
            notices += [
                Notice(
                    user,
                    "confirm_reminder",
                    "Please confirm an encounter starting soon",
                    f"confirm_reminder:{match.id}:{side}",
                    {"match": match, "starts_on": starts_on, "side": side},
                )
                for user in users
            ]
    for match in coming:
        on = match.scheduled_on
        assert on is not None
        for side, users in sides(match):
            notices += [
                Notice(
                    user,
                    "encounter_reminder",
                    f"Coming up on {on:%A %d %B}: {label(match.offer.type).lower()}",
                    f"encounter_reminder:{match.id}:{on.isoformat()}",
                    {"match": match, "side": side, "on": on, "days": (on - today).days},
                )
                for user in users
            ]
    soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    risk_from = today - timedelta(days=RISK_ASSESSMENT_VALID_DAYS)
    employers_due = db.session.scalars(
        select(Employer)
        .where(
            or_(
                Employer.insurance_expires_on.between(today, soon),
                and_(Employer.dbs_checked.is_(True), Employer.dbs_renewal_on.between(today, soon)),
                Employer.risk_assessment_on.between(
                    risk_from, soon - timedelta(days=RISK_ASSESSMENT_VALID_DAYS)
                ),
            )
        )
        .options(selectinload(Employer.users))
        .order_by(Employer.id)
    ).all()
    for employer in employers_due:
        recipients: list[User | str | None] = [u for u in employer.users if u.active]
        if not recipients:
            recipients = [employer.contact_email]
        for item in expiring_soon(employer, today):
            notices += [
                Notice(
                    to,
                    "vetting_reminder",
                    f"Your {item.name} expires on {item.valid_until:%d %B %Y}",
                    f"vetting_reminder:{employer.id}:{item.key}:{item.valid_until}",
                    {"employer": employer, "item": item},
                )
                for to in recipients
            ]
    queued = [n.template for n in notify_many(notices)]
    db.session.flush()
    counts = {
        "confirmations": queued.count("confirm_reminder"),
        "encounters": queued.count("encounter_reminder"),
        "vetting": queued.count("vetting_reminder"),
    }
    log.info(
        "reminders: %(confirmations)d confirmations, %(encounters)d encounters, "
        "%(vetting)d vetting",
        counts,
    )
    return counts


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
