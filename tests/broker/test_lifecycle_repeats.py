"""A change made twice (a double click, a resent form) changes nothing the second time.

The second call is refused with a message, and writes no second history event, audit entry
or email; through the pages the user sees that message, never an error page.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, Encounter, Feedback, MatchEvent, MatchRun, OutboxMessage
from broker.services import matches as svc
from broker.services import offers, requests
from broker.services.errors import Conflict
from tests.frozen import days


@pytest.fixture
def people(make_user, make_school, make_employer, make_area):
    area = make_area()
    school = make_school(area=area)
    employer = make_employer()
    return {
        "school": school,
        "employer": employer,
        "coordinator": make_user(role="coordinator", areas=[area]),
        "school_user": make_user(role="school", school_id=school.id),
        "employer_user": make_user(role="employer", employer_id=employer.id),
    }


@pytest.fixture
def make(people, make_match, make_request, make_offer):
    """A match in a given status, whose window runs from 20 days ago to 30 days on."""

    def make_one(status: str, **values):
        return make_match(
            request=make_request(school=people["school"], earliest=days(-20), latest=days(30)),
            offer=make_offer(employer=people["employer"], earliest=days(-20), latest=days(30)),
            status=status,
            **values,
        )

    return make_one


def _written() -> tuple[int, int, int, int]:
    """Everything a change writes: events, audit entries, emails and replacement runs."""
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model))
        for model in (MatchEvent, AuditEntry, OutboxMessage, MatchRun)
    )


def twice(action: Callable[[], object], words: str) -> None:
    """Do ``action``, commit; do it again: refused with ``words``, and nothing written."""
    action()
    db.session.commit()
    before = _written()
    with pytest.raises(Conflict, match=words):
        action()
    db.session.rollback()
    assert _written() == before


def test_approve_twice(people, make):
    match = make("proposed")
    twice(lambda: svc.approve_match(match, by=people["coordinator"]), "already approved")


def test_reject_twice(people, make):
    match = make("proposed")
    twice(lambda: svc.reject_match(match, by=people["coordinator"], reason="Too far"),
          "already rejected")


def test_accept_twice(people, make):
    match = make("approved")
    twice(lambda: svc.respond_to_match(match, by=people["school_user"], side="school",
                                       accept=True), "You have already accepted this match")
    assert match.status == "approved"


def test_confirming_accept_twice(people, make):
    match = make("approved", school_response="accepted")
    twice(lambda: svc.respond_to_match(match, by=people["employer_user"], side="employer",
                                       accept=True), "not waiting for an answer")
    assert match.status == "accepted"


def test_decline_twice(people, make):
    match = make("approved")
    twice(lambda: svc.respond_to_match(match, by=people["employer_user"], side="employer",
                                       accept=False, reason="No volunteers"),
          "declined")


def test_cancel_twice_finds_replacements_once(people, make):
    match = make("accepted")
    twice(lambda: svc.cancel_match(match, by=people["school_user"], reason="Trip"),
          "already cancelled")
    assert db.session.scalar(select(func.count()).select_from(MatchRun)) == 1


def test_deliver_twice(people, make):
    match = make("accepted")
    twice(lambda: svc.record_delivery(match, by=people["school_user"], delivered_on=days(-1),
                                      pupils_reached=18), "only a confirmed encounter")
    assert db.session.scalar(select(func.count()).select_from(Encounter)) == 1


def test_feedback_twice(people, make):
    match = make("delivered")
    encounter = Encounter(match=match, delivered_on=days(-1), pupils_reached=18)
    db.session.add(encounter)
    db.session.commit()
    twice(lambda: svc.give_feedback(encounter, by=people["school_user"], by_role="school",
                                    rating=4), "already been given")
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 1


def test_withdraw_twice(people, make):
    match = make("proposed")
    twice(lambda: requests.withdraw_request(match.request, by=people["school_user"]),
          "withdrawn already")


def test_pause_twice(people, make):
    match = make("proposed")
    twice(lambda: offers.pause_offer(match.offer, by=people["employer_user"]),
          "already paused")


def test_close_twice(people, make):
    match = make("proposed")
    twice(lambda: offers.close_offer(match.offer, by=people["employer_user"]),
          "already closed")
    assert match.status == "cancelled"


# ------------------------------------------------------------------ through the pages
@pytest.mark.parametrize("side", ["school", "employer"])
@pytest.mark.parametrize(
    ("status", "action", "data", "words"),
    [
        ("approved", "respond", {"answer": "accept"}, "You have already accepted this match."),
        ("approved", "respond", {"answer": "decline", "reason": "Exams"},
         "This match is declined; it is not waiting for an answer."),
        ("accepted", "cancel", {"reason": "Snow"}, "This match is already cancelled."),
        ("accepted", "deliver", {"delivered_on": days(-1).isoformat(), "pupils_reached": "9"},
         "This match is delivered; only a confirmed encounter can be recorded as delivered."),
    ],
)
def test_a_repeated_post_shows_a_message(client, auth, people, make, no_csrf, side, status,
                                         action, data, words):
    match = make(status)
    auth.login(people[f"{side}_user"])
    url = f"/{side}/matches/{match.id}/{action}"
    first = client.post(url, data=data)
    assert first.status_code == 302
    before = _written()
    again = client.post(url, data=data)
    assert again.status_code == 400
    assert words in again.get_data(as_text=True)
    assert _written() == before


def test_a_repeated_feedback_post_shows_a_message(client, auth, people, make, no_csrf):
    match = make("delivered")
    db.session.add(Encounter(match=match, delivered_on=days(-1), pupils_reached=18))
    db.session.commit()
    auth.login(people["employer_user"])
    url = f"/employer/matches/{match.id}/feedback"
    assert client.post(url, data={"rating": "4"}).status_code == 302
    again = client.post(url, data={"rating": "2"})
    assert again.status_code == 400
    assert "Feedback has already been given" in again.get_data(as_text=True)
    assert db.session.scalars(select(Feedback.rating)).all() == [4]


def test_a_repeated_offer_close_shows_a_message(client, auth, people, make, no_csrf):
    match = make("proposed")
    auth.login(people["employer_user"])
    url = f"/employer/offers/{match.offer_id}/close"
    assert client.post(url).status_code == 302
    before = _written()
    again = client.post(url, follow_redirects=True)
    assert again.status_code == 200
    assert "This offer is already closed." in again.get_data(as_text=True)
    assert _written() == before


def test_a_repeated_withdrawal_shows_a_message(client, auth, people, make, no_csrf):
    match = make("proposed")
    auth.login(people["school_user"])
    url = f"/school/requests/{match.request_id}/withdraw"
    assert client.post(url, data={"reason": "Clash"}).status_code == 302
    before = _written()
    again = client.post(url, data={"reason": "Clash"}, follow_redirects=True)
    assert again.status_code == 200
    assert "This request is withdrawn already." in again.get_data(as_text=True)
    assert _written() == before


def test_hand_match_twice(people, make_offer, make_employer, make_request):
    employer = make_employer(insurance_expires_on=days(396), risk_assessment_on=days(-61),
                             dbs_checked=True, dbs_renewal_on=days(396))
    offer = make_offer(employer=employer, capacity=100)
    wanted = make_request(school=people["school"], pupils=30)
    twice(lambda: svc.hand_match(wanted, offer, 10, by=people["coordinator"]),
          "already matched with this offer")
