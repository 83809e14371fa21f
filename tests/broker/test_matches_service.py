"""The match lifecycle service: who may move a match, and where it may go."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, MatchEvent, OutboxMessage, SchoolBlackout
from broker.services import matches as svc
from broker.services.errors import Conflict, NotAllowed, ServiceError
from tests.frozen import TODAY, days


@pytest.fixture
def people(make_user, make_school, make_employer, make_area):
    area = make_area()
    school = make_school(area=area)
    employer = make_employer()
    return {
        "area": area,
        "school": school,
        "employer": employer,
        "coordinator": make_user(role="coordinator", areas=[area]),
        "other_coordinator": make_user(role="coordinator", areas=[make_area()]),
        "school_user": make_user(role="school", school_id=school.id),
        "employer_user": make_user(role="employer", employer_id=employer.id),
        "other_employer_user": make_user(role="employer", employer_id=make_employer().id),
    }


def _window_from(match, first):
    """Open the match's window (offer and request) from ``first``, so it can be delivered."""
    match.offer.earliest = match.request.earliest = first
    db.session.commit()


@pytest.fixture
def match(people, make_match, make_request, make_offer):
    return make_match(
        request=make_request(school=people["school"]),
        offer=make_offer(employer=people["employer"]),
        pupils=20,
    )


def test_full_lifecycle_to_feedback(people, match):
    svc.approve_match(match, by=people["coordinator"])
    assert match.status == "approved"
    svc.respond_to_match(match, by=people["school_user"], side="school", accept=True)
    assert match.status == "approved"  # waiting for the employer still
    svc.respond_to_match(match, by=people["employer_user"], side="employer", accept=True)
    assert match.status == "accepted"
    _window_from(match, days(-40))
    encounter = svc.record_delivery(
        match, by=people["school_user"], delivered_on=days(-29), pupils_reached=18
    )
    assert match.status == "delivered" and encounter.pupils_reached == 18
    feedback = svc.give_feedback(
        encounter,
        by=people["school_user"],
        by_role="school",
        rating=5,
        pupil_voice_score=4,
        would_welcome_again=True,
    )
    assert feedback.pupil_voice_score == 4
    db.session.commit()
    history = [
        e.to_status
        for e in db.session.scalars(
            select(MatchEvent).where(MatchEvent.match_id == match.id).order_by(MatchEvent.id)
        )
    ]
    assert history == ["approved", "accepted", "delivered"]
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {
        "match.approved",
        "match.school_accepted",
        "match.accepted",
        "match.delivered",
        "encounter.feedback",
    } <= actions
    templates = sorted(db.session.scalars(select(OutboxMessage.template)))
    assert templates.count("match_approved") == 2 and templates.count("match_accepted") == 2


def test_only_a_coordinator_of_the_area_may_approve(people, match):
    with pytest.raises(NotAllowed):
        svc.approve_match(match, by=people["other_coordinator"])
    with pytest.raises(NotAllowed):
        svc.approve_match(match, by=people["employer_user"])
    assert match.status == "proposed"


def test_sides_cannot_answer_for_each_other_or_before_approval(people, match):
    with pytest.raises(Conflict):
        svc.respond_to_match(match, by=people["school_user"], side="school", accept=True)
    svc.approve_match(match, by=people["coordinator"])
    with pytest.raises(NotAllowed):
        svc.respond_to_match(match, by=people["other_employer_user"], side="employer", accept=True)
    with pytest.raises(NotAllowed):
        svc.respond_to_match(match, by=people["school_user"], side="employer", accept=True)


def test_decline_needs_a_reason_and_releases_capacity(people, match):
    svc.approve_match(match, by=people["coordinator"])
    assert svc.offer_pupils_held(match.offer) == 20
    with pytest.raises(ServiceError):
        svc.respond_to_match(match, by=people["employer_user"], side="employer", accept=False)
    svc.respond_to_match(
        match,
        by=people["employer_user"],
        side="employer",
        accept=False,
        reason="Our volunteers are off that week",
    )
    assert match.status == "declined"
    assert svc.offer_pupils_held(match.offer) == 0
    assert svc.request_pupils_held(match.request) == 0


def test_reject_needs_reason_and_terminal_states_stay_put(people, match):
    with pytest.raises(ServiceError):
        svc.reject_match(match, by=people["coordinator"], reason="  ")
    svc.reject_match(match, by=people["coordinator"], reason="Too far for this cohort")
    with pytest.raises(Conflict):
        svc.approve_match(match, by=people["coordinator"])


def test_delivery_only_after_acceptance_and_feedback_once(people, match):
    with pytest.raises(Conflict):
        svc.record_delivery(
            match, by=people["school_user"], delivered_on=days(-29), pupils_reached=10
        )
    svc.approve_match(match, by=people["coordinator"])
    svc.respond_to_match(match, by=people["school_user"], side="school", accept=True)
    svc.respond_to_match(match, by=people["employer_user"], side="employer", accept=True)
    _window_from(match, days(-40))
    with pytest.raises(ServiceError):
        svc.record_delivery(
            match, by=people["school_user"], delivered_on=days(-29), pupils_reached=-1
        )
    with pytest.raises(ServiceError, match="in the future"):
        svc.record_delivery(
            match, by=people["school_user"], delivered_on=days(26329), pupils_reached=5
        )
    encounter = svc.record_delivery(
        match, by=people["employer_user"], delivered_on=days(-29), pupils_reached=20
    )
    svc.give_feedback(encounter, by=people["employer_user"], by_role="employer", rating=4)
    with pytest.raises(Conflict):
        svc.give_feedback(encounter, by=people["employer_user"], by_role="employer", rating=3)
    with pytest.raises(ServiceError):
        svc.give_feedback(encounter, by=people["school_user"], by_role="school", rating=6)
    assert db.session.scalar(select(func.count()).select_from(MatchEvent)) == 3


@pytest.fixture
def accepted(people, make_match, make_request, make_offer):
    today = TODAY
    return make_match(
        request=make_request(
            school=people["school"],
            earliest=today + timedelta(days=10),
            latest=today + timedelta(days=60),
        ),
        offer=make_offer(
            employer=people["employer"],
            earliest=today + timedelta(days=20),
            latest=today + timedelta(days=90),
        ),
        pupils=20,
        status="accepted",
    )


def _scheduled_mail():
    return list(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "match_scheduled")
            .order_by(OutboxMessage.id)
        )
    )


def test_either_side_sets_and_moves_the_date_and_the_other_side_is_told(people, accepted):
    first, last = svc.common_window(accepted)
    assert (last - first).days == 40
    svc.schedule_match(accepted, by=people["school_user"], on=first + timedelta(days=5))
    assert accepted.scheduled_on == first + timedelta(days=5)
    mail = _scheduled_mail()
    assert [m.to_email for m in mail] == [people["employer_user"].email]
    assert "A date is agreed" in mail[0].body_text
    svc.schedule_match(accepted, by=people["employer_user"], on=last)
    assert accepted.scheduled_on == last
    mail = _scheduled_mail()
    assert [m.to_email for m in mail][1:] == [people["school_user"].email]
    assert "has moved from" in mail[1].body_text
    svc.schedule_match(accepted, by=people["employer_user"], on=last)  # same day: nothing new
    assert len(_scheduled_mail()) == 2
    audit_rows = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "match.scheduled").order_by(AuditEntry.id)
    ).all()
    assert [row.details["on"] for row in audit_rows] == [
        (first + timedelta(days=5)).isoformat(),
        last.isoformat(),
    ]


def test_date_rules(people, accepted, match):
    first, last = svc.common_window(accepted)
    with pytest.raises(Conflict):
        svc.schedule_match(match, by=people["school_user"], on=first)  # only proposed
    for by in (people["other_employer_user"], people["coordinator"]):
        with pytest.raises(NotAllowed):
            svc.schedule_match(accepted, by=by, on=first)
    with pytest.raises(ServiceError, match="has passed") as caught:
        svc.schedule_match(accepted, by=people["school_user"], on=days(-1))
    assert caught.value.field == "on"
    for outside in (first - timedelta(days=1), last + timedelta(days=1)):
        with pytest.raises(ServiceError, match="both the offer and the request"):
            svc.schedule_match(accepted, by=people["school_user"], on=outside)
    db.session.add(
        SchoolBlackout(
            school_id=people["school"].id,
            starts_on=first + timedelta(days=2),
            ends_on=first + timedelta(days=4),
            reason="Mock exams",
        )
    )
    db.session.flush()
    with pytest.raises(ServiceError, match="dates to avoid \\(Mock exams\\)"):
        svc.schedule_match(accepted, by=people["employer_user"], on=first + timedelta(days=3))
    assert accepted.scheduled_on is None and _scheduled_mail() == []
    svc.schedule_match(accepted, by=people["employer_user"], on=first + timedelta(days=5))
    assert accepted.scheduled_on == first + timedelta(days=5)


def test_people_who_left_are_not_told(people, match, make_user):
    gone = make_user(role="school", school_id=people["school"].id, active=False)
    svc.approve_match(match, by=people["coordinator"])
    recipients = set(db.session.scalars(select(OutboxMessage.to_email)))
    assert people["school_user"].email in recipients and gone.email not in recipients


@pytest.fixture
def held(people, make_match, make_request, make_offer):
    """An accepted match whose window (from both sides) ran from 20 days ago to 10 days on."""
    return make_match(
        request=make_request(school=people["school"], earliest=days(-25), latest=days(10)),
        offer=make_offer(employer=people["employer"], earliest=days(-20), latest=days(30)),
        pupils=20,
        status="accepted",
    )


def test_delivery_date_lies_in_the_window_and_not_ahead(people, held):
    school_user = people["school_user"]
    for day, words in (
        (date.min, "must be from"),  # 0001-01-01, typed by mistake
        (days(-21), "must be from"),  # the day before the window opened
        (days(1), "cannot be in the future"),
        (days(5), "cannot be in the future"),  # inside the window, but still to come
    ):
        with pytest.raises(ServiceError, match=words) as caught:
            svc.record_delivery(held, by=school_user, delivered_on=day, pupils_reached=18)
        assert caught.value.field == "delivered_on"
    assert held.status == "accepted" and held.encounter is None
    encounter = svc.record_delivery(held, by=school_user, delivered_on=days(-20),
                                    pupils_reached=18)
    assert encounter.delivered_on == days(-20) and held.scheduled_on == days(-20)


def test_delivery_on_another_day_than_agreed_needs_confirming_and_moves_the_date(people,
                                                                                  held):
    held.scheduled_on = days(-3)
    db.session.commit()
    with pytest.raises(ServiceError, match="tick") as caught:
        svc.record_delivery(held, by=people["employer_user"], delivered_on=days(-4),
                            pupils_reached=18)
    assert "The agreed date is" in caught.value.message
    assert caught.value.field == "delivered_on"
    assert held.scheduled_on == days(-3) and held.status == "accepted"
    svc.record_delivery(held, by=people["employer_user"], delivered_on=days(-4),
                        pupils_reached=18, move_date=True)
    db.session.commit()
    assert held.scheduled_on == days(-4) and held.encounter.delivered_on == days(-4)
    event = db.session.scalars(select(MatchEvent).where(MatchEvent.to_status == "delivered")).one()
    assert "not the agreed" in event.reason
    moved = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "match.scheduled")
    ).one()
    assert moved.details["moved_from"] == days(-3).isoformat()
    assert moved.details["on"] == days(-4).isoformat()


def test_delivery_on_the_agreed_date_needs_no_confirmation(people, held):
    held.scheduled_on = days(-3)
    db.session.commit()
    svc.record_delivery(held, by=people["school_user"], delivered_on=days(-3), pupils_reached=20)
    assert held.status == "delivered" and held.scheduled_on == days(-3)
    assert db.session.scalar(
        select(func.count()).where(AuditEntry.action == "match.scheduled")
    ) == 0


def _vetted_offer(make_offer, make_employer, **values):
    employer = make_employer(insurance_expires_on=days(396), risk_assessment_on=days(-61),
                             dbs_checked=True, dbs_renewal_on=days(396))
    return make_offer(employer=employer, **values)


def test_a_hand_match_leaves_room_for_proposals(people, make_offer, make_employer,
                                               make_request, make_match):
    """310 places: 200 approved and 110 proposed. A hand match for 37 used to pass (it
    counted only the 200 approved) and commit 347 pupils on 310 places."""
    offer = _vetted_offer(make_offer, make_employer, capacity=310)
    school = people["school"]
    make_match(offer=offer, request=make_request(school=school, pupils=200), pupils=200,
               status="approved")
    big = make_match(offer=offer, request=make_request(school=school, pupils=70), pupils=70,
                     status="proposed")
    make_match(offer=offer, request=make_request(school=school, pupils=40), pupils=40,
               status="proposed")
    wanted = make_request(school=school, pupils=37)
    with pytest.raises(Conflict) as caught:
        svc.hand_match(wanted, offer, 37, by=people["coordinator"])
    assert caught.value.field == "pupils"
    assert caught.value.message == (
        "Engineering talk has only 0 of 310 places left (110 are held by proposals a "
        "coordinator may still approve); 37 pupils do not fit."
    )
    svc.reject_match(big, by=people["coordinator"], reason="Wrong year group")
    made = svc.hand_match(wanted, offer, 37, by=people["coordinator"])
    assert made.status == "approved"
    assert svc.offer_pupils_held(offer) == 277 <= offer.capacity


def test_a_hand_match_leaves_room_for_proposals_on_the_request(people, make_offer,
                                                               make_employer, make_request,
                                                               make_match):
    offer = _vetted_offer(make_offer, make_employer, capacity=100)
    wanted = make_request(school=people["school"], pupils=30)
    make_match(offer=_vetted_offer(make_offer, make_employer), request=wanted, pupils=20,
               status="proposed")
    with pytest.raises(Conflict, match="asked for 30 pupils and 20 are already placed"):
        svc.hand_match(wanted, offer, 15, by=people["coordinator"])
    svc.hand_match(wanted, offer, 10, by=people["coordinator"])
    assert svc.request_pupils_held(wanted) == 30
