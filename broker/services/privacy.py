"""Privacy: an organisation's own data to download, erasure on request, the outbox emptied.

- :func:`export_organisation` gathers everything the broker holds about one school or
  employer (its record, its people, its offers or requests, their matches, encounters and
  feedback, and the audit rows about any of them) as plain JSON-ready data.
- :func:`erase_user` and :func:`erase_organisation` remove personal data on request: names,
  email addresses and phone numbers are replaced or cleared, the person can no longer sign in,
  and what they said in free text is cleared. What the broker counts stays: cohort counts,
  matches and encounters, and the audit trail, whose rows keep referring to the person by id
  (with their email addresses and network addresses in those rows cleared).
- :func:`purge_outbox` empties the bodies of emails sent or given up on more than
  ``OUTBOX_RETENTION_DAYS`` ago (the nightly housekeeping calls it).

No pupil is named anywhere in the broker (cohorts only), so none can be exported or erased.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, or_, select, update

from broker import clock
from broker.extensions import db
from broker.models import (
    AuditEntry,
    Employer,
    EncounterRequest,
    Feedback,
    Match,
    Offer,
    OutboxMessage,
    School,
    User,
)
from broker.services import audit
from broker.services.accounts import end_sessions
from broker.services.errors import Conflict, ServiceError

__all__ = [
    "ERASED",
    "Organisation",
    "erase_organisation",
    "erase_user",
    "export_organisation",
    "is_erased",
    "purge_outbox",
]

#: What replaces personal text that is erased.
ERASED = "(erased)"
#: Keys in audit details that hold personal data of the person the row is about.
_PERSONAL_DETAILS = ("email", "old_email", "new_email", "name", "ip")

Organisation = School | Employer
#: Erased people's addresses: in a domain that can never receive mail (RFC 2606).
ERASED_DOMAIN = "erased.invalid"


def is_erased(user: User) -> bool:
    """Return whether ``user``'s personal data has been erased."""
    return user.email.endswith("@" + ERASED_DOMAIN)


# --------------------------------------------------------------------------- export
def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj: Any, columns: tuple[str, ...]) -> dict[str, Any]:
    return {name: _value(getattr(obj, name)) for name in columns}


_ORG_COLUMNS = {
    "School": (
        "id",
        "urn",
        "name",
        "postcode",
        "kind",
        "gender",
        "phase",
        "pupils",
        "fsm_pct",
        "la_name",
        "rural",
        "careers_leader_name",
        "careers_leader_email",
        "careers_leader_phone",
        "sen_profile",
        "updated_at",
    ),
    "Employer": (
        "id",
        "name",
        "kind",
        "sector",
        "postcode",
        "contact_name",
        "contact_email",
        "contact_phone",
        "website",
        "dbs_checked",
        "dbs_renewal_on",
        "insurance_expires_on",
        "risk_assessment_on",
        "created_at",
    ),
}
_PERSON = (
    "id",
    "email",
    "name",
    "role",
    "active",
    "created_at",
    "last_login_at",
    "email_verified_at",
    "email_opt_outs",
)
_OFFER = (
    "id",
    "title",
    "description",
    "type",
    "sector",
    "stem",
    "challenges_stereotype",
    "stereotype_note",
    "sen_support",
    "year_min",
    "year_max",
    "capacity",
    "delivery",
    "audience",
    "max_km",
    "postcode",
    "earliest",
    "latest",
    "status",
    "created_at",
)
_REQUEST = (
    "id",
    "type",
    "year_group",
    "pupils",
    "earliest",
    "latest",
    "stem_goal",
    "stereotype_goal",
    "sen_needs",
    "notes",
    "status",
    "created_at",
)
_MATCH = (
    "id",
    "request_id",
    "offer_id",
    "pupils",
    "status",
    "km",
    "reasons",
    "school_response",
    "employer_response",
    "response_reason",
    "scheduled_on",
    "created_at",
)
_FEEDBACK = (
    "id",
    "by_role",
    "rating",
    "pupil_voice_score",
    "would_welcome_again",
    "comment",
    "created_at",
)


def export_organisation(org: Organisation) -> dict[str, Any]:
    """Return everything held about ``org`` (a school or employer), as JSON-ready data.

    Other organisations appear only by name (the other side of a match); their people never.
    """
    kind = type(org).__name__
    people = list(db.session.scalars(select(User).where(User.id.in_([u.id for u in org.users]))))
    if isinstance(org, School):
        mine = select(EncounterRequest).where(EncounterRequest.school_id == org.id)
        requests = list(db.session.scalars(mine.order_by(EncounterRequest.id)))
        offers: list[Offer] = []
        matches = list(
            db.session.scalars(
                select(Match)
                .join(EncounterRequest, Match.request_id == EncounterRequest.id)
                .where(EncounterRequest.school_id == org.id)
                .order_by(Match.id)
            )
        )
    else:
        offers = list(
            db.session.scalars(select(Offer).where(Offer.employer_id == org.id).order_by(Offer.id))
        )
        requests = []
        matches = list(
            db.session.scalars(
                select(Match)
                .join(Offer, Match.offer_id == Offer.id)
                .where(Offer.employer_id == org.id)
                .order_by(Match.id)
            )
        )
    encounters = {m.id: m.encounter for m in matches if m.encounter is not None}
    about = [
        (kind, [org.id]),
        ("User", [u.id for u in people]),
        ("Offer", [o.id for o in offers]),
        ("EncounterRequest", [r.id for r in requests]),
        ("Match", [m.id for m in matches]),
    ]
    conditions: list[ColumnElement[bool]] = [
        (AuditEntry.object_type == name) & AuditEntry.object_id.in_(ids)
        for name, ids in about
        if ids
    ]
    if people:
        conditions.append(AuditEntry.user_id.in_([u.id for u in people]))
    audit_rows = list(
        db.session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.id))
    )
    data: dict[str, Any] = {
        "exported_at": clock.now().isoformat(),
        "organisation": {"type": kind.lower(), **_row(org, _ORG_COLUMNS[kind])},
        "people": [_row(u, _PERSON) for u in people],
    }
    if isinstance(org, School):
        data["year_groups"] = [
            {"year_group": y.year_group, "pupils": y.pupils} for y in org.year_groups
        ]
        data["blackouts"] = [_row(b, ("starts_on", "ends_on", "reason")) for b in org.blackouts]
        data["requests"] = [_row(r, _REQUEST) for r in requests]
    else:
        data["offers"] = [_row(o, _OFFER) for o in offers]
    data["matches"] = [
        {
            **_row(m, _MATCH),
            "school": m.request.school.name,
            "employer": m.offer.employer.name,
            "offer_title": m.offer.title,
            "encounter": (
                {
                    "delivered_on": _value(encounters[m.id].delivered_on),
                    "pupils_reached": encounters[m.id].pupils_reached,
                    "feedback": [_row(f, _FEEDBACK) for f in encounters[m.id].feedback],
                }
                if m.id in encounters
                else None
            ),
        }
        for m in matches
    ]
    data["audit"] = [
        _row(a, ("id", "at", "user_id", "action", "object_type", "object_id", "details"))
        for a in audit_rows
    ]
    return data


# --------------------------------------------------------------------------- erasure
def erase_user(user: User, *, by: User) -> User:
    """Remove ``user``'s personal data and stop them signing in; keep their id in the trail.

    Their name and email address are replaced, their password made unusable and every
    session ended; the audit rows about them or by them keep their id but lose the email
    and network addresses they held; emails to them lose their text; what they wrote as
    feedback is cleared (it may name people). Counts, matches and encounters stay.
    """
    if user.id == by.id:
        raise ServiceError("You cannot erase your own account.")
    if is_erased(user):
        raise Conflict("This person's data has been erased already.")
    old_email = user.email
    user.name = f"Erased person {user.id}"
    user.email = f"erased-{user.id}@{ERASED_DOMAIN}"
    user.set_password(secrets.token_urlsafe(32))  # known to nobody
    user.active = False
    user.email_verified_at = None
    user.email_opt_outs = []
    user.last_login_at = None
    end_sessions(user)
    # Emails not yet sent will not be: the address is gone.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.to_email == old_email, OutboxMessage.status == "pending")
        .values(status="failed", last_error="The recipient's data was erased.")
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.to_email == old_email)
        .values(to_email=user.email, body_text="", body_html="", subject=ERASED)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Feedback)
        .where(Feedback.by_id == user.id)
        .values(comment="")
        .execution_options(synchronize_session=False)
    )
    rows = db.session.scalars(
        select(AuditEntry).where(
            or_(
                AuditEntry.user_id == user.id,
                (AuditEntry.object_type == "User") & (AuditEntry.object_id == user.id),
            )
        )
    )
    for row in rows:
        if any(key in (row.details or {}) for key in _PERSONAL_DETAILS):
            row.details = {
                k: (ERASED if k in _PERSONAL_DETAILS else v) for k, v in row.details.items()
            }
    db.session.flush()
    audit.record("user.erased", user, by=by, role=user.role)
    return user


def erase_organisation(org: Organisation, *, by: User) -> Organisation:
    """Erase every person of ``org`` and its contact details; it stops taking part.

    An employer's open offers are closed (its unapproved proposals cancelled) and its name
    replaced, since a small employer's name can be a person's; a school keeps its public name
    (from GIAS) and its cohort counts, and its open requests without firm matches are
    withdrawn. Matches, encounters and their counts stay, as does the audit trail.
    """
    # Imported here: both modules import the matching services, which import this package.
    from broker.services.offers import close_offer
    from broker.services.requests import withdraw_request

    kind = type(org).__name__
    for person in list(org.users):
        if person.id == by.id:
            raise ServiceError("You cannot erase your own organisation's data.")
        if not is_erased(person):
            erase_user(person, by=by)
    if isinstance(org, Employer):
        for offer in db.session.scalars(
            select(Offer).where(Offer.employer_id == org.id, Offer.status.in_(("open", "paused")))
        ):
            close_offer(offer, by=by)
        org.name = f"Erased organisation {org.id}"
        org.contact_name = org.contact_email = org.contact_phone = org.website = None
    else:
        for request in db.session.scalars(
            select(EncounterRequest).where(
                EncounterRequest.school_id == org.id, EncounterRequest.status == "open"
            )
        ):
            try:
                with db.session.begin_nested():
                    withdraw_request(request, by=by, reason="The school's data was erased.")
            except Conflict:
                pass  # firm matches: the request stays, for them
        org.careers_leader_name = org.careers_leader_email = org.careers_leader_phone = None
    db.session.flush()
    audit.record(f"{kind.lower()}.erased", org, by=by, people=len(org.users))
    return org


# --------------------------------------------------------------------------- outbox
def purge_outbox(now: datetime, *, days: int | None = None) -> int:
    """Empty the text of emails queued more than ``days`` days before ``now`` (sent or failed).

    The rows stay (what was sent, to whom and when, for the record); their bodies, which
    repeat names and contact details, go. ``days`` defaults to ``OUTBOX_RETENTION_DAYS``.
    Returns how many messages were emptied.
    """
    if days is None:
        days = int(current_app.config["OUTBOX_RETENTION_DAYS"])
    cutoff = now - timedelta(days=days)
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status.in_(("sent", "failed")),
            OutboxMessage.created_at < cutoff,
            or_(OutboxMessage.body_text != "", OutboxMessage.body_html != ""),
        )
        .values(body_text="", body_html="")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
