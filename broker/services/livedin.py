"""A lived-in year for the demo: the matcher's proposals taken through their lifecycle.

A fresh demo has nothing approved, accepted or delivered, so pages and the nightly run
are measured on an empty queue. ``live_through_year`` plays a school year from its
first day to ``today`` on the proposals a run made on that first day: coordinators approve
most and reject some, schools and employers accept or decline, dates are agreed across
the year, encounters before ``today`` are delivered (with feedback) or cancelled. It
writes the rows the lifecycle services would (statuses, responses, history events,
encounters, feedback) in bulk, since playing tens of thousands of web requests one by one
would take hours; the shares are in ``SHARES``. The same seed gives the same year.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import insert, select, update

from broker.extensions import db
from broker.models import Encounter, EncounterRequest, Feedback, Match, MatchEvent, Offer
from broker.statuses import MatchStatus, Response

# What happens to a proposal (shares of all proposals), then to an agreed encounter.
SHARES = {
    "coordinator refuses": 0.08,
    "left proposed": 0.30,  # still waiting in the queue
    "a side says no": 0.07,  # approved, then declined by the school or the employer
    "left approved": 0.10,  # approved, an answer still awaited
    # the rest is accepted by both sides
    "cancelled before": 0.06,  # of accepted encounters dated before today
    "cancelled after": 0.03,  # of accepted encounters still to come
    "school feedback": 0.75,  # of delivered encounters
    "employer feedback": 0.6,
}
DECLINE_REASONS = ("The date no longer suits us.", "We could not staff it this term.")
CANCEL_REASONS = ("Snow closed the school.", "Our volunteer fell ill.", "Exam timetable clash.")


@dataclass
class LivedYear:
    """How many matches ended where, for the demo's summary line."""

    counts: dict[MatchStatus, int]

    def summary(self) -> str:
        return ", ".join(f"{n:,} {status.value}" for status, n in self.counts.items())


def _moment(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def live_through_year(first_day: date, today: date, *, seed: int) -> LivedYear:
    """Take every proposal through a believable lifecycle from ``first_day`` to ``today``.

    Each match's steps are dated in order between its proposal and ``today``; delivered
    encounters lie in the window both sides allowed and before ``today``.
    """
    rng = np.random.default_rng(seed + 1)
    rows = db.session.execute(
        select(
            Match.id,
            Match.pupils,
            EncounterRequest.earliest,
            EncounterRequest.latest,
            Offer.earliest,
            Offer.latest,
        )
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .where(Match.status == MatchStatus.PROPOSED)
        .order_by(Match.id)
    ).all()
    span = max(1, (today - first_day).days)
    # Every step is dated yesterday at the latest, so none lies in the future.
    yesterday = max(first_day, today - timedelta(days=1))
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    delivered: list[tuple[int, date, int]] = []
    counts = {s: 0 for s in MatchStatus if s != MatchStatus.SUPERSEDED}

    def event(
        match_id: int, frm: MatchStatus, to: MatchStatus, at: datetime, reason: str = ""
    ) -> None:
        events.append(
            {"match_id": match_id, "from_status": frm, "to_status": to, "reason": reason, "at": at}
        )

    cut_rejected = SHARES["coordinator refuses"]
    cut_proposed = cut_rejected + SHARES["left proposed"]
    cut_declined = cut_proposed + SHARES["a side says no"]
    cut_approved = cut_declined + SHARES["left approved"]
    for match_id, pupils, r_first, r_last, o_first, o_last in rows:
        fate = rng.random()
        decided = first_day + timedelta(days=int(rng.integers(1, min(span, 30) + 1)))
        decided = min(decided, yesterday)
        if fate < cut_proposed:
            if fate < cut_rejected:
                updates.append({"id": match_id, "status": MatchStatus.REJECTED})
                event(
                    match_id,
                    MatchStatus.PROPOSED,
                    MatchStatus.REJECTED,
                    _moment(decided, 10),
                    "Not a good fit.",
                )
                counts[MatchStatus.REJECTED] += 1
            else:
                counts[MatchStatus.PROPOSED] += 1
            continue
        event(match_id, MatchStatus.PROPOSED, MatchStatus.APPROVED, _moment(decided, 10))
        answered = min(decided + timedelta(days=int(rng.integers(1, 15))), yesterday)
        if fate < cut_declined:
            side = "school" if rng.random() < 0.5 else "employer"
            reason = DECLINE_REASONS[int(rng.integers(len(DECLINE_REASONS)))]
            updates.append(
                {
                    "id": match_id,
                    "status": MatchStatus.DECLINED,
                    f"{side}_response": Response.DECLINED,
                    "response_reason": reason,
                }
            )
            event(
                match_id, MatchStatus.APPROVED, MatchStatus.DECLINED, _moment(answered, 14), reason
            )
            counts[MatchStatus.DECLINED] += 1
            continue
        if fate < cut_approved:
            updates.append({"id": match_id, "status": MatchStatus.APPROVED})
            counts[MatchStatus.APPROVED] += 1
            continue
        first, last = max(r_first, o_first), min(r_last, o_last)
        # The date is agreed after both have accepted, a week ahead at the soonest.
        first = (
            max(first, answered + timedelta(days=7))
            if answered + timedelta(days=7) <= last
            else first
        )
        on = first + timedelta(days=int(rng.integers(0, max(1, (last - first).days + 1))))
        event(match_id, MatchStatus.APPROVED, MatchStatus.ACCEPTED, _moment(answered, 15))
        change: dict[str, Any] = {
            "id": match_id,
            "status": MatchStatus.ACCEPTED,
            "school_response": Response.ACCEPTED,
            "employer_response": Response.ACCEPTED,
            "scheduled_on": on,
        }
        past = on < today
        if rng.random() < SHARES["cancelled before" if past else "cancelled after"]:
            reason = CANCEL_REASONS[int(rng.integers(len(CANCEL_REASONS)))]
            when = min(max(answered, on - timedelta(days=2)), yesterday)
            change |= {"status": MatchStatus.CANCELLED, "response_reason": reason}
            event(match_id, MatchStatus.ACCEPTED, MatchStatus.CANCELLED, _moment(when, 9), reason)
            counts[MatchStatus.CANCELLED] += 1
        elif past:
            change["status"] = MatchStatus.DELIVERED
            event(match_id, MatchStatus.ACCEPTED, MatchStatus.DELIVERED, _moment(on, 17))
            reached = max(1, int(round(pupils * rng.uniform(0.85, 1.0))))
            delivered.append((match_id, on, reached))
            counts[MatchStatus.DELIVERED] += 1
        else:
            counts[MatchStatus.ACCEPTED] += 1
        updates.append(change)
    _write(updates, events, delivered, rng)
    return LivedYear(counts={k: v for k, v in counts.items() if v})


def _write(
    updates: list[dict[str, Any]],
    events: list[dict[str, Any]],
    delivered: list[tuple[int, date, int]],
    rng: np.random.Generator,
) -> None:
    keys = ("status", "school_response", "employer_response", "response_reason", "scheduled_on")
    # Bulk UPDATE by primary key needs the same columns in every row of one statement.
    for start in range(0, len(updates), 2000):
        batch = [
            {"id": u["id"], **{k: u.get(k) for k in keys}} for u in updates[start : start + 2000]
        ]
        db.session.execute(update(Match), batch)
    for start in range(0, len(events), 5000):
        db.session.execute(insert(MatchEvent), events[start : start + 5000])
    encounters = [
        {"match_id": m, "delivered_on": on, "pupils_reached": n, "created_at": _moment(on, 18)}
        for m, on, n in delivered
    ]
    for start in range(0, len(encounters), 5000):
        db.session.execute(insert(Encounter), encounters[start : start + 5000])
    ids = {m: e for m, e in db.session.execute(select(Encounter.match_id, Encounter.id))}
    feedback: list[dict[str, Any]] = []
    for match_id, on, _ in delivered:
        for role, share in (("school", "school feedback"), ("employer", "employer feedback")):
            if rng.random() >= SHARES[share]:
                continue
            feedback.append(
                {
                    "encounter_id": ids[match_id],
                    "by_role": role,
                    "rating": int(rng.choice([3, 4, 4, 5, 5, 5])),
                    "pupil_voice_score": int(rng.integers(2, 6)) if role == "school" else None,
                    "would_welcome_again": bool(rng.random() < 0.9),
                    "comment": "",
                    "created_at": _moment(on, 19),
                }
            )
    for start in range(0, len(feedback), 5000):
        db.session.execute(insert(Feedback), feedback[start : start + 5000])
    db.session.flush()
