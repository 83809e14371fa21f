"""The match lifecycle: propose, approve, reject, accept or decline, cancel, deliver, feedback.

request open -> proposed -> approved (coordinator) -> accepted (employer and school)
-> delivered. Once accepted, either side sets the agreed date (and may move it). A
rejection, decline or cancellation releases the capacity and demand the match held. Every
transition is recorded in the match's history and the audit log, and the people concerned
are told through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select

from broker import clock
from broker.extensions import db
from broker.models import (
    LIVE_MATCH_STATUSES,
    LOCKED_MATCH_STATUSES,
    Encounter,
    EncounterRequest,
    Feedback,
    Match,
    MatchEvent,
    Offer,
    SchoolBlackout,
    User,
)
from broker.services import audit
from broker.services import matching as adapter
from broker.services.errors import Conflict, NotAllowed, ServiceError
from broker.services.notify import notify

# Which statuses each status may move to.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "proposed": ("approved", "rejected", "superseded", "cancelled"),
    "approved": ("accepted", "declined", "cancelled"),
    "accepted": ("delivered", "cancelled"),
    "delivered": (),
    "rejected": (),
    "declined": (),
    "cancelled": (),
    "superseded": (),
}


def offer_pupils_held(offer: Offer, *, exclude: Match | None = None) -> int:
    """Return the pupils that live matches (proposals included) hold on ``offer``."""
    query = select(func.coalesce(func.sum(Match.pupils), 0)).where(
        Match.offer_id == offer.id, Match.status.in_(LIVE_MATCH_STATUSES)
    )
    if exclude is not None and exclude.id is not None:
        query = query.where(Match.id != exclude.id)
    return int(db.session.scalar(query) or 0)


def request_pupils_held(request: EncounterRequest, *, exclude: Match | None = None) -> int:
    """Return the pupils of ``request`` that live matches (proposals included) already serve."""
    query = select(func.coalesce(func.sum(Match.pupils), 0)).where(
        Match.request_id == request.id, Match.status.in_(LIVE_MATCH_STATUSES)
    )
    if exclude is not None and exclude.id is not None:
        query = query.where(Match.id != exclude.id)
    return int(db.session.scalar(query) or 0)


def transition(match: Match, to_status: str, *, by: User | None, reason: str = "") -> MatchEvent:
    """Move ``match`` to ``to_status`` if the lifecycle allows it, recording who and why."""
    if to_status not in TRANSITIONS.get(match.status, ()):
        raise Conflict(
            f"This match is {match.status}; it cannot become {to_status}.", field="status"
        )
    event = MatchEvent(
        match=match,
        from_status=match.status,
        to_status=to_status,
        by_id=by.id if by is not None else None,
        reason=reason,
    )
    db.session.add(event)
    match.status = to_status
    audit.record(f"match.{to_status}", match, by=by, reason=reason)
    return event


def _school_users(match: Match) -> list[User]:
    """The school's active accounts (people who have left are not told)."""
    return [u for u in match.request.school.users if u.active]


def _employer_users(match: Match) -> list[User]:
    """The employer's active accounts."""
    return [u for u in match.offer.employer.users if u.active]


def _tell(users: list[User], template: str, subject: str, match: Match) -> None:
    for user in users:
        notify(user, template, subject=subject, dedupe_key=f"{template}:{match.id}", match=match)


def _require_coordinator(match: Match, by: User) -> None:
    if by.role == "admin":
        return
    area_id = match.request.school.area_id
    if by.role != "coordinator" or area_id not in {a.id for a in by.areas}:
        raise NotAllowed("Only a coordinator for this school's area can do that.")


def locked_pupils(
    *, offer_id: int | None = None, request_id: int | None = None, exclude: Match | None = None
) -> int:
    """Return the pupils that locked matches (approved and later) hold on an offer or request."""
    query = select(func.coalesce(func.sum(Match.pupils), 0)).where(
        Match.status.in_(LOCKED_MATCH_STATUSES)
    )
    if offer_id is not None:
        query = query.where(Match.offer_id == offer_id)
    if request_id is not None:
        query = query.where(Match.request_id == request_id)
    if exclude is not None and exclude.id is not None:
        query = query.where(Match.id != exclude.id)
    return int(db.session.scalar(query) or 0)


def lock_rows(
    matches: Sequence[Match] = (), requests: Sequence[int] = (), offers: Sequence[int] = ()
) -> None:
    """Lock rows with SELECT ... FOR UPDATE, always matches, then requests, then offers.

    One global order (by table, then id) means two coordinators can never deadlock, and the
    capacity sums read after the locks see every committed approval. SQLite serialises
    writers anyway and ignores FOR UPDATE.
    """
    match_ids = sorted({m.id for m in matches})
    if match_ids:
        db.session.scalars(
            select(Match)
            .where(Match.id.in_(match_ids))
            .order_by(Match.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
    for model, ids in ((EncounterRequest, requests), (Offer, offers)):
        wanted = sorted(set(ids))
        if wanted:
            db.session.scalars(
                select(model)
                .where(model.id.in_(wanted))
                .order_by(model.id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).all()


def check_room(
    offer: Offer, request: EncounterRequest, pupils: int, *, exclude: Match | None = None
) -> None:
    """Raise :class:`Conflict` if ``pupils`` more would over-allocate the offer or the request.

    Call with the rows locked (:func:`lock_rows`) so the check holds until the commit.
    """
    free = offer.capacity - locked_pupils(offer_id=offer.id, exclude=exclude)
    if pupils > free:
        raise Conflict(
            f"{offer.title} has only {max(free, 0)} of {offer.capacity} places left; "
            f"{pupils} pupils do not fit.",
            field="pupils",
        )
    wanted = request.pupils - locked_pupils(request_id=request.id, exclude=exclude)
    if pupils > wanted:
        raise Conflict(
            f"The school asked for {request.pupils} pupils and {request.pupils - wanted} are "
            f"already placed; {pupils} more would be too many.",
            field="pupils",
        )


def approve_match(match: Match, *, by: User) -> Match:
    """Approve a proposal as a coordinator; both sides are then asked to accept.

    The offer and request rows are locked first, so two coordinators approving against an
    offer's last places never over-allocate it: the second sees the first's approval.
    """
    _require_coordinator(match, by)
    lock_rows([match], [match.request_id], [match.offer_id])
    if match.status == "proposed":
        check_room(match.offer, match.request, match.pupils, exclude=match)
    transition(match, "approved", by=by)
    db.session.flush()
    _tell(
        _school_users(match) + _employer_users(match),
        "match_approved",
        "A match is waiting for your answer",
        match,
    )
    return match


def hand_match(
    request: EncounterRequest, offer: Offer, pupils: int, *, by: User, note: str = ""
) -> Match:
    """Make a match by hand as a coordinator; it is approved at once and both sides asked.

    The pair must pass the matching engine's own hard rules (type, year group, dates,
    distance, SEN needs, audience), the offer must be open and vetted, and the pupils must
    fit the places and demand left after other approved matches.
    """
    if by.role != "admin" and (
        by.role != "coordinator" or request.school.area_id not in {a.id for a in by.areas}
    ):
        raise NotAllowed("Only a coordinator for this school's area can match it by hand.")
    if pupils < 1:
        raise ServiceError("Match at least one pupil.", field="pupils")
    lock_rows([], [request.id], [offer.id])
    if request.status != "open":
        raise Conflict(f"This request is {request.status}.", field="request")
    candidate = adapter.pair_allowed(request, offer, clock.today())
    if candidate is None:
        raise ServiceError(
            "This offer cannot serve this request under the matching rules (type, year group, "
            "dates and blackouts, distance, SEN needs, audience, vetting, or it is not open).",
            field="offer",
        )
    check_room(offer, request, pupils)
    share = pupils / request.pupils
    match = Match(
        request=request,
        offer=offer,
        pupils=pupils,
        status="approved",
        score=round(candidate.score * share, 3),
        km=round(candidate.km, 1),
        reasons=f"made by hand by {by.name}"
        + (f": {note.strip()}" if note.strip() else "")
        + f"; {candidate.reasons}",
        terms={k: round(v * share, 3) for k, v in candidate.terms.items()},
        created_by_id=by.id,
    )
    db.session.add(match)
    db.session.add(
        MatchEvent(
            match=match,
            from_status=None,
            to_status="approved",
            by_id=by.id,
            reason=note.strip() or "made by hand",
        )
    )
    db.session.flush()
    audit.record(
        "match.hand_made", match, by=by, request_id=request.id, offer_id=offer.id, pupils=pupils
    )
    _tell(
        _school_users(match) + _employer_users(match),
        "match_approved",
        "A match is waiting for your answer",
        match,
    )
    return match


def reject_match(match: Match, *, by: User, reason: str) -> Match:
    """Reject a proposal as a coordinator; the matcher will not propose the pair again."""
    _require_coordinator(match, by)
    if not reason.strip():
        raise ServiceError("Say why the match is rejected.", field="reason")
    transition(match, "rejected", by=by, reason=reason.strip())
    db.session.flush()
    return match


def respond_to_match(match: Match, *, by: User, side: str, accept: bool, reason: str = "") -> Match:
    """Record the school's or the employer's answer to an approved match.

    When both have accepted, the match is accepted; a decline ends it and releases the
    capacity and demand it held.
    """
    if side == "school":
        if by.role != "school" or by.school_id != match.request.school_id:
            raise NotAllowed("Only the school can answer for the school.")
    elif side == "employer":
        if by.role != "employer" or by.employer_id != match.offer.employer_id:
            raise NotAllowed("Only the employer can answer for the employer.")
    else:
        raise ServiceError(f"Unknown side {side!r}.", field="side")
    if match.status != "approved":
        raise Conflict(f"This match is {match.status}; it is not waiting for an answer.")
    if accept:
        setattr(match, f"{side}_response", "accepted")
        audit.record(f"match.{side}_accepted", match, by=by)
        if match.school_response == "accepted" and match.employer_response == "accepted":
            transition(match, "accepted", by=by)
            db.session.flush()
            _tell(
                _school_users(match) + _employer_users(match),
                "match_accepted",
                "Confirmed: an encounter is booked",
                match,
            )
    else:
        if not reason.strip():
            raise ServiceError(
                "Say why you are declining, so the coordinator can help.", field="reason"
            )
        setattr(match, f"{side}_response", "declined")
        match.response_reason = reason.strip()
        transition(match, "declined", by=by, reason=reason.strip())
        db.session.flush()
        other = _employer_users(match) if side == "school" else _school_users(match)
        _tell(other, "match_declined", "A proposed encounter was declined", match)
    db.session.flush()
    return match


def cancel_match(match: Match, *, by: User, reason: str) -> Match:
    """Cancel a match before delivery; its capacity and demand are freed for others."""
    allowed = (
        by.role == "admin"
        or (by.role == "coordinator" and match.request.school.area_id in {a.id for a in by.areas})
        or (by.role == "school" and by.school_id == match.request.school_id)
        or (by.role == "employer" and by.employer_id == match.offer.employer_id)
    )
    if not allowed:
        raise NotAllowed("You cannot cancel this match.")
    if not reason.strip():
        raise ServiceError("Say why the encounter is cancelled.", field="reason")
    was_locked = match.status in LOCKED_MATCH_STATUSES
    transition(match, "cancelled", by=by, reason=reason.strip())
    db.session.flush()
    _tell(
        _school_users(match) + _employer_users(match),
        "match_cancelled",
        "An encounter was cancelled",
        match,
    )
    if was_locked:
        # A late drop-out: propose replacements now, not the next night.
        adapter.propose_replacements(match, by=by)
    return match


def common_window(match: Match) -> tuple[date, date]:
    """The dates both the offer and the request allow, first and last (inclusive)."""
    return (
        max(match.offer.earliest, match.request.earliest),
        min(match.offer.latest, match.request.latest),
    )


def schedule_match(match: Match, *, by: User, on: date) -> Match:
    """Set (or move) the agreed date of an accepted encounter; the other side is told.

    The date must be today or later, inside the window both sides gave, and not on one of the
    school's dates to avoid.
    """
    if by.role == "school" and by.school_id == match.request.school_id:
        side = "school"
    elif by.role == "employer" and by.employer_id == match.offer.employer_id:
        side = "employer"
    elif by.role == "admin":
        side = "admin"
    else:
        raise NotAllowed("Only the school or the employer can set the date.")
    if match.status != "accepted":
        raise Conflict(
            f"This match is {match.status}; a date is agreed once both sides have accepted."
        )
    if on < clock.today():
        raise ServiceError("The date has passed: choose today or a later day.", field="on")
    first, last = common_window(match)
    if not first <= on <= last:
        raise ServiceError(
            f"Choose a day from {first:%-d %b %Y} to {last:%-d %b %Y}, "
            "when both the offer and the request allow it.",
            field="on",
        )
    clash = db.session.scalar(
        select(SchoolBlackout)
        .where(
            SchoolBlackout.school_id == match.request.school_id,
            SchoolBlackout.starts_on <= on,
            SchoolBlackout.ends_on >= on,
        )
        .limit(1)
    )
    if clash is not None:
        why = f" ({clash.reason})" if clash.reason else ""
        raise ServiceError(
            f"The school cannot do {on:%-d %b %Y}: it is one of its dates to avoid{why}.",
            field="on",
        )
    if match.scheduled_on == on:
        return match
    moved_from = match.scheduled_on
    match.scheduled_on = on
    audit.record(
        "match.scheduled",
        match,
        by=by,
        on=on.isoformat(),
        moved_from=moved_from.isoformat() if moved_from else None,
    )
    db.session.flush()
    told = {"school": _employer_users(match), "employer": _school_users(match)}.get(
        side, _school_users(match) + _employer_users(match)
    )
    for user in told:
        notify(
            user,
            "match_scheduled",
            subject=f"Date agreed: {on:%-d %b %Y}",
            dedupe_key=f"match_scheduled:{match.id}:{on.isoformat()}",
            match=match,
            moved_from=moved_from,
            by_side=side,
        )
    return match


def record_delivery(
    match: Match, *, by: User, delivered_on: date, pupils_reached: int
) -> Encounter:
    """Record that an accepted match was delivered: when, and how many pupils took part."""
    if by.role not in ("school", "admin") and not (
        by.role == "employer" and by.employer_id == match.offer.employer_id
    ):
        raise NotAllowed("Only the school or the employer can record delivery.")
    if by.role == "school" and by.school_id != match.request.school_id:
        raise NotAllowed("Only the school can record delivery for its own matches.")
    if match.status != "accepted":
        raise Conflict(
            f"This match is {match.status}; only a confirmed encounter can be "
            "recorded as delivered."
        )
    if delivered_on > clock.today():
        raise ServiceError(
            "The delivery date cannot be in the future: record delivery after the event.",
            field="delivered_on",
        )
    if pupils_reached < 0:
        raise ServiceError("Pupils who took part cannot be negative.", field="pupils_reached")
    if pupils_reached > match.pupils * 2:
        raise ServiceError(
            f"{pupils_reached} pupils is far more than the {match.pupils} planned; check it.",
            field="pupils_reached",
        )
    encounter = Encounter(
        match=match, delivered_on=delivered_on, pupils_reached=pupils_reached, recorded_by_id=by.id
    )
    db.session.add(encounter)
    transition(match, "delivered", by=by)
    db.session.flush()
    return encounter


def give_feedback(
    encounter: Encounter,
    *,
    by: User,
    by_role: str,
    rating: int,
    pupil_voice_score: int | None = None,
    would_welcome_again: bool | None = None,
    comment: str = "",
) -> Feedback:
    """Record the school's or the employer's feedback on a delivered encounter (once each)."""
    match = encounter.match
    if by_role == "school":
        if by.role != "school" or by.school_id != match.request.school_id:
            raise NotAllowed("Only the school can give the school's feedback.")
    elif by_role == "employer":
        if by.role != "employer" or by.employer_id != match.offer.employer_id:
            raise NotAllowed("Only the employer can give the employer's feedback.")
        pupil_voice_score = None
    else:
        raise ServiceError(f"Unknown role {by_role!r}.", field="by_role")
    if not 1 <= rating <= 5:
        raise ServiceError("Give a rating from 1 to 5.", field="rating")
    if pupil_voice_score is not None and not 1 <= pupil_voice_score <= 5:
        raise ServiceError("Give the pupils' score from 1 to 5.", field="pupil_voice_score")
    exists = db.session.scalar(
        select(Feedback.id).where(
            Feedback.encounter_id == encounter.id, Feedback.by_role == by_role
        )
    )
    if exists is not None:
        raise Conflict("Feedback has already been given for this encounter.")
    feedback = Feedback(
        encounter=encounter,
        by_role=by_role,
        rating=rating,
        pupil_voice_score=pupil_voice_score,
        would_welcome_again=would_welcome_again,
        comment=comment.strip(),
        by_id=by.id,
    )
    db.session.add(feedback)
    db.session.flush()
    audit.record("encounter.feedback", encounter, by=by, by_role=by_role, rating=rating)
    return feedback
