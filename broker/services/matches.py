"""The match lifecycle: propose, approve, reject, accept or decline, cancel, deliver, feedback.

request open -> proposed -> approved (coordinator) -> accepted (employer and school)
-> delivered. Once accepted, either side sets the agreed date (and may move it). A
rejection, decline or cancellation releases the capacity and demand the match held. Every
transition is recorded in the match's history and the audit log, and the people concerned
are told through the outbox.

Every change locks the rows it changes first (:func:`lock_rows`) and then checks the state
it starts from, as read under the lock: two people acting on the same match at once are
served one after the other, and the second is refused with a message (a repeated POST
changes nothing and writes no second event, audit entry or email).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy import inspect as sa_inspect

from broker import clock, wording
from broker.extensions import db
from broker.models import (
    Encounter,
    EncounterRequest,
    Feedback,
    Match,
    MatchEvent,
    Offer,
    SchoolBlackout,
    User,
)
from broker.services import audit, holds, meaningful
from broker.services import matching as adapter
from broker.services.errors import Conflict, NotAllowed, ServiceError
from broker.services.notify import Notice, notify_many
from broker.statuses import LIVE, LOCKED, MatchStatus, Response
from broker.wording import plural

# Which statuses each status may move to.
TRANSITIONS: dict[str, tuple[MatchStatus, ...]] = {
    MatchStatus.PROPOSED: (
        MatchStatus.APPROVED, MatchStatus.REJECTED, MatchStatus.SUPERSEDED, MatchStatus.CANCELLED
    ),
    MatchStatus.APPROVED: (MatchStatus.ACCEPTED, MatchStatus.DECLINED, MatchStatus.CANCELLED),
    MatchStatus.ACCEPTED: (MatchStatus.DELIVERED, MatchStatus.CANCELLED),
    MatchStatus.DELIVERED: (),
    MatchStatus.REJECTED: (),
    MatchStatus.DECLINED: (),
    MatchStatus.CANCELLED: (),
    MatchStatus.SUPERSEDED: (),
}


def offer_pupils_held(offer: Offer, *, exclude: Match | None = None) -> int:
    """Return the pupils that live matches (proposals included) hold on ``offer``."""
    return holds.on_offer(offer.id, exclude=[exclude.id] if exclude is not None else [])


def request_pupils_held(request: EncounterRequest, *, exclude: Match | None = None) -> int:
    """Return the pupils of ``request`` that live matches (proposals included) already serve."""
    return holds.on_request(request.id, exclude=[exclude.id] if exclude is not None else [])


def _check_transition(match: Match, to_status: MatchStatus) -> None:
    if match.status == to_status:
        raise Conflict(f"This match is already {to_status}.", field="status")
    if to_status not in TRANSITIONS.get(match.status, ()):
        raise Conflict(
            f"This match is {match.status}; it cannot become {to_status}.", field="status"
        )


def transition_all(
    matches: Sequence[Match], to_status: MatchStatus, *, by: User | None, reason: str = ""
) -> None:
    """Move every one of ``matches`` to ``to_status`` (each must be allowed to), writing
    their history events and audit entries in one statement each."""
    for match in matches:
        _check_transition(match, to_status)
    if not matches:
        return
    db.session.execute(
        insert(MatchEvent),
        [
            {
                "match_id": m.id,
                "from_status": m.status,
                "to_status": to_status,
                "by_id": by.id if by is not None else None,
                "reason": reason,
            }
            for m in matches
        ],
    )
    for match in matches:
        match.status = to_status
    audit.record_many(f"match.{to_status}", matches, by=by, reason=reason)


def transition(
    match: Match, to_status: MatchStatus, *, by: User | None, reason: str = ""
) -> MatchEvent:
    """Move ``match`` to ``to_status`` if the lifecycle allows it, recording who and why.

    Call with the match locked (:func:`lock_rows`), so the status checked is the current one.
    """
    _check_transition(match, to_status)
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


def active_users(matches: Sequence[Match]) -> tuple[dict[int, list[User]], dict[int, list[User]]]:
    """Return the active accounts of the matches' schools and of their employers, each by
    school or employer id, in one query (people who have left are not told)."""
    school_ids = {m.request.school_id for m in matches}
    employer_ids = {m.offer.employer_id for m in matches}
    schools: dict[int, list[User]] = {i: [] for i in school_ids}
    employers: dict[int, list[User]] = {i: [] for i in employer_ids}
    if school_ids or employer_ids:
        for user in db.session.scalars(
            select(User)
            .where(
                User.active.is_(True),
                User.school_id.in_(sorted(school_ids) or [-1])
                | User.employer_id.in_(sorted(employer_ids) or [-1]),
            )
            .order_by(User.id)
        ):
            if user.school_id in schools:
                schools[user.school_id].append(user)
            if user.employer_id in employers:
                employers[user.employer_id].append(user)
    return schools, employers


def _notices(users: list[User], template: str, subject: str, match: Match) -> list[Notice]:
    return [
        Notice(user, template, subject, f"{template}:{match.id}", {"match": match})
        for user in users
    ]


def _tell(users: list[User], template: str, subject: str, match: Match) -> None:
    notify_many(_notices(users, template, subject, match))


def _tell_both(matches: Sequence[Match], template: str, subject: str) -> None:
    """Tell the school and the employer of every match, with one look-up of who they are."""
    schools, employers = active_users(matches)
    notify_many(
        notice
        for m in matches
        for notice in _notices(
            schools[m.request.school_id] + employers[m.offer.employer_id], template, subject, m
        )
    )


def _speaks_for_school(by: User, school_id: int) -> bool:
    """Whether ``by`` acts for the school: a member of it whose membership is verified.

    A person waiting for verification is stopped before any page, and here again, so no
    other way in (a job, the API, a test) lets them act for the school.
    """
    return by.verified_member and by.school_id == school_id


def _may_coordinate(match: Match, by: User) -> bool:
    if by.role == "admin":
        return True
    return by.role == "coordinator" and match.request.school.area_id in {a.id for a in by.areas}


def _require_coordinator(match: Match, by: User) -> None:
    if not _may_coordinate(match, by):
        raise NotAllowed("Only a coordinator for this school's area can do that.")


def _take_write_lock() -> None:
    """On SQLite, take the database's write lock now (FOR UPDATE means nothing there).

    SQLite serialises writers but lets a transaction read before it writes, so two web
    workers could both read "accepted" and both write. A no-op write makes the second one
    wait here, before it reads, until the first has committed.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("UPDATE matches SET id = id WHERE id = -1"))


def _locked(model: Any, where: Sequence[Any], stale: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """SELECT ... FOR UPDATE the rows of ``model`` that ``where`` selects, in id order.

    Objects already loaded for which ``stale(state_dict)`` holds have their columns read
    again from the locked rows; their relationships stay loaded, so what was loaded with
    them is not read again (``populate_existing`` would drop them, and every later access
    would query the database once per object).
    """
    db.session.flush()
    columns: list[str] = [attr.key for attr in sa_inspect(model).column_attrs]
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, model) and stale(sa_inspect(obj).dict):
            db.session.expire(obj, columns)
    return list(
        db.session.scalars(select(model).where(*where).order_by(model.id).with_for_update())
    )


def lock_rows(
    matches: Sequence[Match] = (), requests: Sequence[int] = (), offers: Sequence[int] = ()
) -> None:
    """Lock rows with SELECT ... FOR UPDATE, always matches, then requests, then offers.

    One global order (by table, then id) means two people can never deadlock, and what is
    read after the locks (statuses, capacity sums) sees every committed change: the
    objects passed in (and any other loaded copies of the rows) are read again under the
    lock, so they show the current state. On SQLite the database's write lock is taken
    instead, which serialises writers from here on.
    """
    _take_write_lock()
    models: tuple[tuple[Any, set[int]], ...] = (
        (Match, {m.id for m in matches}),
        (EncounterRequest, set(requests)),
        (Offer, set(offers)),
    )
    for model, ids in models:
        if ids:
            _locked(model, [model.id.in_(sorted(ids))], _has_id(ids))


def _has_id(ids: set[int]) -> Callable[[dict[str, Any]], bool]:
    return lambda loaded: loaded.get("id") in ids


def lock_ids(model: Any, ids: Iterable[int]) -> None:
    """Lock the rows of ``model`` with these ids, in id order, without loading them.

    For jobs that then change the rows with UPDATE statements that check the status again.
    Call for matches, then requests, then offers, as :func:`lock_rows` does.
    """
    _take_write_lock()
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), 500):
        db.session.execute(
            select(model.id)
            .where(model.id.in_(wanted[start : start + 500]))
            .order_by(model.id)
            .with_for_update()
        ).all()


def lock_matches_of(
    *, request_id: int | None = None, offer_id: int | None = None, statuses: Iterable[str]
) -> list[Match]:
    """Lock and return (current) the matches of a request or an offer in ``statuses``.

    Call before locking the request or offer itself, to keep :func:`lock_rows`' order.
    """
    _take_write_lock()
    where: list[Any] = [Match.status.in_(sorted(statuses))]
    if request_id is not None:
        where.append(Match.request_id == request_id)
    if offer_id is not None:
        where.append(Match.offer_id == offer_id)
    return _locked(
        Match,
        where,
        lambda d: (request_id is None or d.get("request_id") == request_id)
        and (offer_id is None or d.get("offer_id") == offer_id),
    )


def withdraw_proposals_beyond(
    matches: Sequence[Match], limit: int, *, by: User | None, reason: str
) -> list[Match]:
    """Withdraw proposals, lowest score first, until ``matches`` hold at most ``limit`` pupils.

    ``matches`` are the live matches of one offer or request, locked
    (:func:`lock_matches_of`); only proposals are withdrawn (``superseded``: the matcher may
    propose the pair again), each with a history event and an audit entry. Returns them.
    """
    held = holds.pupils_in(matches)
    withdrawn: list[Match] = []
    for match in sorted(
        (m for m in matches if m.status == MatchStatus.PROPOSED), key=lambda m: (m.score, -m.id)
    ):
        if held <= limit:
            break
        transition(match, MatchStatus.SUPERSEDED, by=by, reason=reason)
        held -= match.pupils
        withdrawn.append(match)
    return withdrawn


def _room(
    offer: Offer,
    request: EncounterRequest,
    pupils: int,
    *,
    offer_held: int,
    request_held: int,
    proposals: str = "",
) -> None:
    free = offer.capacity - offer_held
    if pupils > free:
        raise Conflict(
            f"{offer.title} has only {max(free, 0)} of {plural(offer.capacity, 'place')} left"
            f"{proposals}; {plural(pupils, 'pupil')} {'does' if pupils == 1 else 'do'} not fit.",
            field="pupils",
        )
    wanted = request.pupils - request_held
    if pupils > wanted:
        raise Conflict(
            f"The school asked for {plural(request.pupils, 'pupil')} and {request_held} "
            f"{'is' if request_held == 1 else 'are'} already placed{proposals}; "
            f"{pupils} more would be too many.",
            field="pupils",
        )


def check_room(
    offer: Offer,
    request: EncounterRequest,
    pupils: int,
    *,
    exclude: Match | None = None,
    statuses: Collection[str] = LOCKED,
) -> None:
    """Raise :class:`Conflict` if ``pupils`` more would over-allocate the offer or the request.

    ``statuses`` are the matches that count as taking places: approved and later for an
    approval, every live match (proposals too) for a hand match. Call with the rows locked
    (:func:`lock_rows`) so the check holds until the commit.
    """
    skip = [exclude.id] if exclude is not None and exclude.id is not None else []
    offer_held = holds.on_offer(offer.id, statuses=statuses, exclude=skip)
    request_held = holds.on_request(request.id, statuses=statuses, exclude=skip)
    proposals = ""
    if MatchStatus.PROPOSED in statuses:
        proposed = holds.on_offer(offer.id, statuses={MatchStatus.PROPOSED}, exclude=skip)
        if proposed:
            proposals = f" ({proposed} are held by proposals a coordinator may still approve)"
    _room(
        offer, request, pupils, offer_held=offer_held, request_held=request_held,
        proposals=proposals,
    )


def approve_matches(matches: Sequence[Match], *, by: User) -> list[tuple[Match, Conflict]]:
    """Approve proposals together; return those refused, with the reason, in order.

    The rows are locked first and the places taken counted once for all of them, then
    each proposal is approved if it still is one and still fits (after those approved
    before it); everyone concerned is told with one look-up. A coordinator who may not
    approve one of them is refused as a whole (:class:`NotAllowed`).
    """
    for match in matches:
        _require_coordinator(match, by)
    lock_rows(matches, [m.request_id for m in matches], [m.offer_id for m in matches])
    offer_held = holds.by_offer({m.offer_id for m in matches}, statuses=LOCKED)
    request_held = holds.by_request({m.request_id for m in matches}, statuses=LOCKED)
    approved: list[Match] = []
    refused: list[tuple[Match, Conflict]] = []
    for match in matches:
        try:
            _check_transition(match, MatchStatus.APPROVED)
            _room(
                match.offer,
                match.request,
                match.pupils,
                offer_held=offer_held.get(match.offer_id, 0),
                request_held=request_held.get(match.request_id, 0),
            )
        except Conflict as exc:
            refused.append((match, exc))
            continue
        offer_held[match.offer_id] = offer_held.get(match.offer_id, 0) + match.pupils
        request_held[match.request_id] = request_held.get(match.request_id, 0) + match.pupils
        approved.append(match)
    transition_all(approved, MatchStatus.APPROVED, by=by)
    db.session.flush()
    _tell_both(approved, "match_approved", "A match is waiting for your answer")
    return refused


def approve_match(match: Match, *, by: User) -> Match:
    """Approve a proposal as a coordinator; both sides are then asked to accept.

    The match, request and offer rows are locked first, so two coordinators approving
    against an offer's last places never over-allocate it: the second sees the first's
    approval. An approval repeated (a double click) is refused and changes nothing.
    """
    refused = approve_matches([match], by=by)
    if refused:
        raise refused[0][1]
    return match


def hand_match_refusal(
    request: EncounterRequest, offer: Offer, *, by: User
) -> ServiceError | None:
    """Return why ``by`` may not match ``request`` with ``offer`` by hand, or None if they may.

    Coordinators act in their areas only. The request's school must be in one of their areas
    (they answer for its pupils), and the offer must be theirs to reach for: from an employer
    in one of their areas, or virtual, or close enough that the school lies within the
    distance the offer travels (as the nightly matcher would propose it to the school, for
    this coordinator to approve). An in-person offer from elsewhere that cannot reach the
    school is not theirs to place. Admins may match any pair. The engine's own rules (type,
    dates, vetting and so on) are checked after this, by :func:`hand_match`.
    """
    if by.role == "admin":
        return None
    if by.role != "coordinator":
        return ServiceError("Only coordinators and admins can make a match by hand.")
    areas = {a.id for a in by.areas}
    school = request.school
    if school.area_id is None or school.area_id not in areas:
        return ServiceError(
            f"{school.name} is not in your areas: only a coordinator for its area can "
            "match its requests by hand.",
            field="request",
        )
    if offer.employer.area_id in areas or offer.delivery == "virtual":
        return None
    km = adapter.km_to_school(request, offer)
    if km <= offer.max_km:
        return None
    return ServiceError(
        f"Offer {offer.id} is from an employer outside your areas and does not reach "
        f"{school.name}: it happens in person, up to {offer.max_km:g} km away, and the school "
        f"is {km:.0f} km away. You can match by hand an offer from an employer in your "
        "areas, a virtual offer, or one that travels as far as the school.",
        field="offer",
    )


def hand_match(
    request: EncounterRequest, offer: Offer, pupils: int, *, by: User, note: str = ""
) -> Match:
    """Make a match by hand as a coordinator; it is approved at once and both sides asked.

    Only where :func:`hand_match_refusal` finds no reason against it (the school in one of
    the coordinator's areas, the offer within their reach). The pair must pass the matching
    engine's own hard rules (type, year group, dates, distance, SEN needs, audience), the
    offer must be open and vetted, and the pupils must fit the places and demand left after
    every live match, proposals included (a proposal holds its places until it is approved,
    rejected or withdrawn).
    """
    refusal = hand_match_refusal(request, offer, by=by)
    if refusal is not None:
        raise NotAllowed(refusal.message, field=refusal.field)
    if pupils < 1:
        raise ServiceError("Match at least one pupil.", field="pupils")
    lock_rows([], [request.id], [offer.id])
    if request.status != "open":
        raise Conflict(f"This request is {request.status}.", field="request")
    same = db.session.scalar(
        select(Match.id).where(
            Match.request_id == request.id,
            Match.offer_id == offer.id,
            Match.status.in_(LIVE),
        ).limit(1)
    )
    if same is not None:
        # Also what makes a repeated form (a double click) harmless.
        raise Conflict(
            f"This request is already matched with this offer (match {same}); change that "
            "match instead of making another.",
            field="offer",
        )
    employer = offer.employer
    if employer.suspended_at is not None or employer.verified_at is None:
        state = "suspended" if employer.suspended_at is not None else "not checked yet"
        raise ServiceError(
            f"{employer.name} is {state}: its offers are not matched, by hand or by the "
            "matcher, until a coordinator of its area or an admin has checked it.",
            field="offer",
        )
    candidate = adapter.pair_allowed(request, offer, clock.today())
    if candidate is None:
        # Name the rules that block the pair, in the words the school's pages use.
        rules = adapter.pair_rules(request, offer, clock.today())
        missing = sorted(set(request.sen_needs or ()) - set(offer.sen_support or ()))
        raise ServiceError(wording.pair_refusal(rules, missing), field="offer")
    check_room(offer, request, pupils, statuses=LIVE)
    share = pupils / request.pupils
    match = Match(
        request=request,
        offer=offer,
        pupils=pupils,
        status=MatchStatus.APPROVED,
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
            to_status=MatchStatus.APPROVED,
            by_id=by.id,
            reason=note.strip() or "made by hand",
        )
    )
    db.session.flush()
    audit.record(
        "match.hand_made", match, by=by, request_id=request.id, offer_id=offer.id, pupils=pupils
    )
    _tell_both([match], "match_approved", "A match is waiting for your answer")
    return match


def reject_match(match: Match, *, by: User, reason: str) -> Match:
    """Reject a proposal as a coordinator; the matcher will not propose the pair again."""
    _require_coordinator(match, by)
    if not reason.strip():
        raise ServiceError("Say why the match is rejected.", field="reason")
    lock_rows([match])
    transition(match, MatchStatus.REJECTED, by=by, reason=reason.strip())
    db.session.flush()
    return match


def respond_to_match(match: Match, *, by: User, side: str, accept: bool, reason: str = "") -> Match:
    """Record the school's or the employer's answer to an approved match.

    When both have accepted, the match is accepted; a decline ends it and releases the
    capacity and demand it held. Each side answers once: a second answer is refused.
    """
    if side == "school":
        if not _speaks_for_school(by, match.request.school_id):
            raise NotAllowed("Only the school can answer for the school.")
    elif side == "employer":
        if by.role != "employer" or by.employer_id != match.offer.employer_id:
            raise NotAllowed("Only the employer can answer for the employer.")
    else:
        raise ServiceError(f"Unknown side {side!r}.", field="side")
    if not accept and not reason.strip():
        raise ServiceError(
            "Say why you are declining, so the coordinator can help.", field="reason"
        )
    lock_rows([match])
    answered = getattr(match, f"{side}_response")
    if match.status == MatchStatus.APPROVED and answered is not None:
        raise Conflict(f"You have already {answered} this match.")
    if match.status != MatchStatus.APPROVED:
        raise Conflict(f"This match is {match.status}; it is not waiting for an answer.")
    if accept:
        setattr(match, f"{side}_response", Response.ACCEPTED)
        audit.record(f"match.{side}_accepted", match, by=by)
        if match.school_response == match.employer_response == Response.ACCEPTED:
            transition(match, MatchStatus.ACCEPTED, by=by)
            db.session.flush()
            _tell_both([match], "match_accepted", "Confirmed: an encounter is booked")
    else:
        setattr(match, f"{side}_response", Response.DECLINED)
        match.response_reason = reason.strip()
        transition(match, MatchStatus.DECLINED, by=by, reason=reason.strip())
        db.session.flush()
        schools, employers = active_users([match])
        other = (
            employers[match.offer.employer_id]
            if side == "school"
            else schools[match.request.school_id]
        )
        _tell(other, "match_declined", "A proposed encounter was declined", match)
    db.session.flush()
    return match


def cancel_match(match: Match, *, by: User, reason: str) -> Match:
    """Cancel a match before delivery; its capacity and demand are freed for others.

    Cancelling an approved or accepted match proposes replacements at once; a cancellation
    repeated (a double click) is refused, so they are looked for once.
    """
    allowed = (
        by.role == "admin"
        or (by.role == "coordinator" and match.request.school.area_id in {a.id for a in by.areas})
        or _speaks_for_school(by, match.request.school_id)
        or (by.role == "employer" and by.employer_id == match.offer.employer_id)
    )
    if not allowed:
        raise NotAllowed("You cannot cancel this match.")
    if not reason.strip():
        raise ServiceError("Say why the encounter is cancelled.", field="reason")
    lock_rows([match])
    was_locked = match.status in LOCKED
    transition(match, MatchStatus.CANCELLED, by=by, reason=reason.strip())
    db.session.flush()
    _tell_both([match], "match_cancelled", "An encounter was cancelled")
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
    if _speaks_for_school(by, match.request.school_id):
        side = "school"
    elif by.role == "employer" and by.employer_id == match.offer.employer_id:
        side = "employer"
    elif by.role == "admin":
        side = "admin"
    else:
        raise NotAllowed("Only the school or the employer can set the date.")
    lock_rows([match])
    if match.status != MatchStatus.ACCEPTED:
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
        select(SchoolBlackout).where(
            SchoolBlackout.school_id == match.request.school_id,
            SchoolBlackout.starts_on <= on,
            SchoolBlackout.ends_on >= on,
        ).limit(1)
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
    schools, employers = active_users([match])
    school_users = schools[match.request.school_id]
    employer_users = employers[match.offer.employer_id]
    told = {"school": employer_users, "employer": school_users}.get(
        side, school_users + employer_users
    )
    notify_many(
        Notice(
            user,
            "match_scheduled",
            f"Date agreed: {on:%-d %b %Y}",
            f"match_scheduled:{match.id}:{on.isoformat()}",
            {"match": match, "moved_from": moved_from, "by_side": side},
        )
        for user in told
    )
    return match


def _day(value: date) -> str:
    return f"{value:%a} {value.day} {value:%b} {value.year}"


def record_delivery(
    match: Match,
    *,
    by: User,
    delivered_on: date,
    pupils_reached: int,
    move_date: bool = False,
    criteria: Iterable[str] | None = None,
    reflected_pct: int | None = None,
) -> Encounter:
    """Record that an accepted match was delivered: when, and how many pupils took part.

    A school or employer recording it may confirm, for its side, the meaningful-encounter
    criteria it met (:mod:`broker.services.meaningful`); the school also the share of pupils
    who reflected afterwards. The encounter's hours are the offer's duration.

    The day must lie in the window both the offer and the request allowed and not in the
    future. It must be the agreed date, unless ``move_date`` confirms that the encounter
    happened on another day: the agreed date then moves to it, in the match's history and
    the audit log. With no date agreed, the day given becomes the agreed date.
    """
    if by.role not in ("school", "admin") and not (
        by.role == "employer" and by.employer_id == match.offer.employer_id
    ):
        raise NotAllowed("Only the school or the employer can record delivery.")
    if by.role == "school" and not _speaks_for_school(by, match.request.school_id):
        raise NotAllowed("Only the school can record delivery for its own matches.")
    if pupils_reached < 0:
        raise ServiceError("Pupils who took part cannot be negative.", field="pupils_reached")
    if pupils_reached > match.pupils * 2:
        raise ServiceError(
            f"{plural(pupils_reached, 'pupil')} is far more than the {match.pupils} planned; "
            "check it.",
            field="pupils_reached",
        )
    if delivered_on > clock.today():
        raise ServiceError(
            "The delivery date cannot be in the future: record delivery after the event.",
            field="delivered_on",
        )
    meaningful.check_criteria(match.offer.type, criteria or (), reflected_pct)
    lock_rows([match])
    if match.status != MatchStatus.ACCEPTED:
        raise Conflict(
            f"This match is {match.status}; only a confirmed encounter can be "
            "recorded as delivered."
        )
    first, last = common_window(match)
    if not first <= delivered_on <= last:
        raise ServiceError(
            f"The date it happened must be from {_day(first)} to {_day(last)}, "
            "the days both the offer and the request allowed.",
            field="delivered_on",
        )
    agreed = match.scheduled_on
    if agreed is not None and delivered_on != agreed and not move_date:
        raise ServiceError(
            f"The agreed date is {_day(agreed)}. If it happened on {_day(delivered_on)} "
            "instead, tick \"It happened on another day\" to move the agreed date.",
            field="delivered_on",
        )
    reason = ""
    if agreed != delivered_on:
        match.scheduled_on = delivered_on
        audit.record(
            "match.scheduled",
            match,
            by=by,
            on=delivered_on.isoformat(),
            moved_from=agreed.isoformat() if agreed else None,
            on_delivery=True,
        )
        if agreed is not None:
            reason = f"happened on {_day(delivered_on)}, not the agreed {_day(agreed)}"
    encounter = Encounter(
        match=match, delivered_on=delivered_on, pupils_reached=pupils_reached, recorded_by_id=by.id,
        hours=match.offer.duration_hours,
    )
    db.session.add(encounter)
    transition(match, MatchStatus.DELIVERED, by=by, reason=reason)
    db.session.flush()
    if by.role in ("school", "employer") and (criteria or reflected_pct is not None):
        meaningful.confirm_criteria(
            encounter, by=by, side=by.role, criteria=criteria or (),
            reflected_pct=reflected_pct if by.role == "school" else None,
        )
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
    """Record the school's or the employer's feedback on a delivered encounter (once each).

    The match is locked first, so of two answers sent at once the second is refused with a
    message, not by the database.
    """
    match = encounter.match
    if by_role == "school":
        if not _speaks_for_school(by, match.request.school_id):
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
    lock_rows([match])
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
