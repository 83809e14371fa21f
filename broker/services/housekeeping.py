"""Housekeeping the nightly jobs do: expire stale requests and offers, and send reminders.

Each function takes ``now`` so tests control time; each adds and flushes, and the job that
calls it commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from broker import clock
from broker.extensions import db
from broker.labels import label
from broker.models import (
    Employer,
    EncounterRequest,
    Match,
    MatchEvent,
    Offer,
    User,
)
from broker.services.notify import notify
from broker.services.vetting import EXPIRY_WARNING_DAYS, RISK_ASSESSMENT_VALID_DAYS, expiring_soon

__all__ = ["CONFIRMATION_DAYS", "ENCOUNTER_REMINDER_DAYS", "expire_stale", "remind_due"]

log = logging.getLogger(__name__)

#: Days before an approved match starts when sides that have not accepted are reminded.
CONFIRMATION_DAYS = 7
#: Both sides are reminded of an accepted encounter's agreed date this many days before it.
ENCOUNTER_REMINDER_DAYS = 3


def expire_stale(now: datetime) -> dict[str, int]:
    """Expire requests and offers whose dates have passed; supersede proposals on them."""
    today = clock.local_date(now)
    requests = list(
        db.session.scalars(
            select(EncounterRequest.id).where(
                EncounterRequest.status == "open", EncounterRequest.latest < today
            )
        )
    )
    offers = list(
        db.session.scalars(
            select(Offer.id).where(Offer.status.in_(("open", "paused")), Offer.latest < today)
        )
    )
    for chunk in _chunks(requests):
        db.session.execute(
            update(EncounterRequest)
            .where(EncounterRequest.id.in_(chunk))
            .values(status="expired", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    for chunk in _chunks(offers):
        db.session.execute(
            update(Offer)
            .where(Offer.id.in_(chunk))
            .values(status="expired", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    stale = list(
        db.session.scalars(
            select(Match.id)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .join(Offer, Match.offer_id == Offer.id)
            .where(
                Match.status == "proposed",
                or_(EncounterRequest.status == "expired", Offer.status == "expired"),
            )
        )
    )
    for chunk in _chunks(stale):
        db.session.execute(
            update(Match)
            .where(Match.id.in_(chunk))
            .values(status="superseded", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if stale:
        db.session.execute(
            MatchEvent.__table__.insert(),
            [
                {
                    "match_id": i,
                    "from_status": "proposed",
                    "to_status": "superseded",
                    "reason": "request or offer expired",
                    "at": now,
                }
                for i in stale
            ],
        )
    counts = {"requests": len(requests), "offers": len(offers), "proposals": len(stale)}
    db.session.flush()
    db.session.expire_all()
    log.info("expired %(requests)d requests, %(offers)d offers, %(proposals)d proposals", counts)
    return counts


def remind_due(now: datetime) -> dict[str, int]:
    """Queue reminders: confirmations due within a week, agreed dates within three days,
    vetting expiring within 30 days.

    Each reminder is queued once (per match and side, per match and agreed date, or per
    vetting item and date), however often the job runs.
    """
    today = clock.local_date(now)
    horizon = today + timedelta(days=CONFIRMATION_DAYS)
    starts = func.coalesce(Match.scheduled_on, Offer.earliest)
    due = db.session.scalars(
        select(Match)
        .join(Offer, Match.offer_id == Offer.id)
        .where(
            Match.status == "approved",
            starts <= horizon,
            Offer.latest >= today,
            or_(
                Match.school_response.is_(None),
                Match.school_response != "accepted",
                Match.employer_response.is_(None),
                Match.employer_response != "accepted",
            ),
        )
        .order_by(Match.id)
    ).all()
    confirmations = 0
    for match in due:
        starts_on = match.scheduled_on or match.offer.earliest
        for side, users in (
            ("school", match.request.school.users),
            ("employer", match.offer.employer.users),
        ):
            if getattr(match, f"{side}_response") == "accepted":
                continue
            for user in users:
                if user.active and _queued(
                    user,
                    "confirm_reminder",
                    subject="Please confirm an encounter starting soon",
                    dedupe_key=f"confirm_reminder:{match.id}:{side}",
                    match=match,
                    starts_on=starts_on,
                    side=side,
                ):
                    confirmations += 1
    coming = db.session.scalars(
        select(Match)
        .where(
            Match.status == "accepted",
            Match.scheduled_on.between(today, today + timedelta(days=ENCOUNTER_REMINDER_DAYS)),
        )
        .order_by(Match.id)
    ).all()
    encounters = 0
    for match in coming:
        on = match.scheduled_on
        assert on is not None
        for side, users in (
            ("school", match.request.school.users),
            ("employer", match.offer.employer.users),
        ):
            for user in users:
                if user.active and _queued(
                    user,
                    "encounter_reminder",
                    subject=f"Coming up on {on:%A %d %B}: {label(match.offer.type).lower()}",
                    dedupe_key=f"encounter_reminder:{match.id}:{on.isoformat()}",
                    match=match,
                    side=side,
                    on=on,
                    days=(on - today).days,
                ):
                    encounters += 1
    vetting = 0
    soon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    risk_from = today - timedelta(days=RISK_ASSESSMENT_VALID_DAYS)
    employers = db.session.scalars(
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
        .order_by(Employer.id)
    ).all()
    for employer in employers:
        items = expiring_soon(employer, today)
        recipients: list[User | str | None] = [u for u in employer.users if u.active]
        if not recipients:
            recipients = [employer.contact_email]
        for item in items:
            for to in recipients:
                if _queued(
                    to,
                    "vetting_reminder",
                    subject=f"Your {item.name} expires on {item.valid_until:%d %B %Y}",
                    dedupe_key=f"vetting_reminder:{employer.id}:{item.key}:{item.valid_until}",
                    employer=employer,
                    item=item,
                ):
                    vetting += 1
    db.session.flush()
    log.info(
        "reminders: %d confirmations, %d encounters, %d vetting", confirmations, encounters, vetting
    )
    return {"confirmations": confirmations, "encounters": encounters, "vetting": vetting}


def _queued(to: User | str | None, template: str, **kwargs: object) -> bool:
    """Queue a notification; return whether it is new (not one queued on an earlier run)."""
    message = notify(to, template, **kwargs)  # type: ignore[arg-type]
    return message is not None and message in db.session.new


def _chunks(ids: list[int], size: int = 900) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]
