"""Two people changing the same match, request or offer at once never corrupt it.

Each racer is a real transaction with its own app context, session and connection: it loads
what it acts on (as a view would), waits for the other at a barrier, acts, and holds its
transaction open a little before committing, as two people clicking at once would. On
PostgreSQL (``TEST_DATABASE_URL``) the races run there; otherwise on an SQLite file, which
has the same problem when several web workers share it.

The rule checked every time: exactly one of two conflicting changes happens, with one
history event, one audit entry and one email per person; the other is refused with a
message (a :class:`ServiceError`), never a database error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
from flask import Flask
from sqlalchemy import func, select

from broker import create_app
from broker.extensions import db
from broker.models import (
    Area,
    AuditEntry,
    Employer,
    Encounter,
    EncounterRequest,
    Feedback,
    Match,
    MatchEvent,
    MatchRun,
    Offer,
    OutboxMessage,
    School,
    User,
)
from broker.services import matches as svc
from broker.services import offers, requests
from broker.services.errors import ServiceError
from broker.services.housekeeping import expire_stale
from config import TestConfig
from tests.conftest import ON_POSTGRES
from tests.frozen import NOW, TODAY, days

WAIT = 15.0
HOLD = 0.3  # seconds the first racer keeps its transaction open

Racer = Callable[[], Callable[[], object]]


@pytest.fixture
def racing_app(request: pytest.FixtureRequest, tmp_path) -> Iterator[Flask]:
    """An app whose commits are real: PostgreSQL when the suite runs there, else an SQLite file."""
    if ON_POSTGRES:
        yield request.getfixturevalue("committing_db")
        return
    config = type(
        "SqliteFileConfig",
        (TestConfig,),
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'race.sqlite'}"},
    )
    app = create_app(config)
    with app.app_context():
        db.create_all()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@dataclass
class World:
    match: int
    request: int
    offer: int
    coordinator: int
    school_user: int
    employer_user: int


def _world(status: str, *, pupils: int = 20, capacity: int = 30, **match_values) -> World:
    """One school, one employer, an offer and a request whose window holds today, a match."""
    area = Area(name="Race area")
    school = School(urn=990001, name="Race School", postcode="SW1A 1AA", lat=51.5, lon=-0.14,
                    area=area)
    employer = Employer(name="Race Ltd", kind="business", sector="engineering",
                        postcode="SW1A 2AA", lat=51.5, lon=-0.13, verified_at=NOW)
    offer = Offer(employer=employer, title="Race talk", type="talk", sector="engineering",
                  year_min=8, year_max=13, capacity=capacity, postcode="SW1A 2AA", lat=51.5,
                  lon=-0.13, delivery="at_school", earliest=days(-30), latest=days(60))
    req = EncounterRequest(school=school, type="talk", year_group=9, pupils=30,
                           earliest=days(-20), latest=days(40))
    match = Match(request=req, offer=offer, pupils=pupils, status=status, score=5.0,
                  **match_values)
    users = {
        "coordinator": User(email="coord@race.test", name="Coordinator", role="coordinator",
                            areas=[area]),
        "school_user": User(email="school@race.test", name="Careers lead", role="school",
                            school=school, school_status="verified"),
        "employer_user": User(email="employer@race.test", name="Volunteer lead",
                              role="employer", employer=employer),
    }
    for user in users.values():
        user.set_password("x" * 12)
        user.email_verified_at = NOW  # confirmed addresses: they get match emails
    db.session.add_all([area, school, employer, offer, req, match, *users.values()])
    db.session.commit()
    return World(match.id, req.id, offer.id, **{k: u.id for k, u in users.items()})


def race(app: Flask, *racers: Racer) -> list[str]:
    """Run the racers at once; return "ok" or "refused: <message>" for each, in order."""
    barrier = threading.Barrier(len(racers), timeout=WAIT)
    results: list[str] = [""] * len(racers)
    errors: list[BaseException] = []

    def run(i: int, racer: Racer) -> None:
        try:
            with app.app_context():
                try:
                    act = racer()
                    barrier.wait()
                    try:
                        act()
                        time.sleep(HOLD)
                        db.session.commit()
                        results[i] = "ok"
                    except ServiceError as exc:
                        db.session.rollback()
                        results[i] = f"refused: {exc.message}"
                finally:
                    db.session.rollback()
                    db.session.remove()
        except BaseException as exc:  # reported below, with the test's failure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    assert not errors, errors
    db.session.expire_all()
    return results


def _get(model, ident):
    found = db.session.get(model, ident)
    assert found is not None
    return found


def _count(model, *where) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _events(match_id: int, to_status: str) -> int:
    return _count(MatchEvent, MatchEvent.match_id == match_id, MatchEvent.to_status == to_status)


def _audits(action: str) -> int:
    return _count(AuditEntry, AuditEntry.action == action)


def _outcomes(results: list[str]) -> list[str]:
    return sorted(r.split(":")[0] for r in results)


# ---------------------------------------------------------------------------- racers
def cancel(w: World, user: str) -> Racer:
    def load():
        match, by = _get(Match, w.match), _get(User, getattr(w, user))
        return lambda: svc.cancel_match(match, by=by, reason="Clicked twice")
    return load


def respond(w: World, side: str, *, accept: bool = True) -> Racer:
    def load():
        match, by = _get(Match, w.match), _get(User, getattr(w, f"{side}_user"))
        return lambda: svc.respond_to_match(match, by=by, side=side, accept=accept,
                                            reason="" if accept else "No volunteers")
    return load


def deliver(w: World, user: str = "school_user") -> Racer:
    def load():
        match, by = _get(Match, w.match), _get(User, getattr(w, user))
        return lambda: svc.record_delivery(match, by=by, delivered_on=days(-1),
                                           pupils_reached=18)
    return load


def feedback(w: World, side: str, rating: int) -> Racer:
    def load():
        match, by = _get(Match, w.match), _get(User, getattr(w, f"{side}_user"))
        encounter = match.encounter
        return lambda: svc.give_feedback(encounter, by=by, by_role=side, rating=rating)
    return load


def approve(w: World, match_id: int | None = None) -> Racer:
    def load():
        match, by = _get(Match, match_id or w.match), _get(User, w.coordinator)
        return lambda: svc.approve_match(match, by=by)
    return load


def reject(w: World) -> Racer:
    def load():
        match, by = _get(Match, w.match), _get(User, w.coordinator)
        return lambda: svc.reject_match(match, by=by, reason="Too far")
    return load


def withdraw(w: World) -> Racer:
    def load():
        req, by = _get(EncounterRequest, w.request), _get(User, w.school_user)
        return lambda: requests.withdraw_request(req, by=by, reason="Trip cancelled")
    return load


def close(w: World) -> Racer:
    def load():
        offer, by = _get(Offer, w.offer), _get(User, w.employer_user)
        return lambda: offers.close_offer(offer, by=by)
    return load


def pause(w: World) -> Racer:
    def load():
        offer, by = _get(Offer, w.offer), _get(User, w.employer_user)
        return lambda: offers.pause_offer(offer, by=by)
    return load


def set_capacity(w: World, capacity: int) -> Racer:
    def load():
        offer, by = _get(Offer, w.offer), _get(User, w.employer_user)
        data = replace(offers.OfferData.from_offer(offer), capacity=capacity)
        return lambda: offers.update_offer(offer, data, by=by, today=TODAY)
    return load


# ----------------------------------------------------------------------------- tests
def test_a_double_click_cancels_once_and_finds_replacements_once(racing_app):
    w = _world("accepted")
    results = race(racing_app, cancel(w, "school_user"), cancel(w, "school_user"))
    assert _outcomes(results) == ["ok", "refused"]
    assert "cancelled" in next(r for r in results if r.startswith("refused"))
    assert _get(Match, w.match).status == "cancelled"
    assert _events(w.match, "cancelled") == 1 and _audits("match.cancelled") == 1
    assert _count(MatchRun, MatchRun.kind == "replacement") == 1
    assert _count(OutboxMessage, OutboxMessage.template == "match_cancelled") == 2


def test_cancel_and_delivery_at_once_never_both(racing_app):
    w = _world("accepted", scheduled_on=days(-1))
    results = race(racing_app, cancel(w, "employer_user"), deliver(w))
    assert _outcomes(results) == ["ok", "refused"]
    match = _get(Match, w.match)
    delivered = _count(Encounter, Encounter.match_id == w.match)
    if results[0] == "ok":
        assert match.status == "cancelled" and delivered == 0
    else:
        assert match.status == "delivered" and delivered == 1
    assert _count(MatchEvent, MatchEvent.match_id == w.match) == 1


def test_both_sides_accepting_at_once_confirm_the_match(racing_app):
    w = _world("approved")
    assert race(racing_app, respond(w, "school"), respond(w, "employer")) == ["ok", "ok"]
    match = _get(Match, w.match)
    assert (match.school_response, match.employer_response) == ("accepted", "accepted")
    assert match.status == "accepted"
    assert _events(w.match, "accepted") == 1
    assert _count(OutboxMessage, OutboxMessage.template == "match_accepted") == 2


def test_a_double_accept_is_recorded_once(racing_app):
    w = _world("approved")
    results = race(racing_app, respond(w, "school"), respond(w, "school"))
    assert _outcomes(results) == ["ok", "refused"]
    assert _audits("match.school_accepted") == 1


def test_accept_and_decline_from_one_side_at_once(racing_app):
    w = _world("approved")
    results = race(racing_app, respond(w, "employer"), respond(w, "employer", accept=False))
    assert _outcomes(results) == ["ok", "refused"]
    match = _get(Match, w.match)
    assert match.employer_response == ("accepted" if results[0] == "ok" else "declined")
    assert match.status == ("approved" if results[0] == "ok" else "declined")


def test_two_deliveries_at_once_record_one_encounter(racing_app):
    w = _world("accepted", scheduled_on=days(-1))
    results = race(racing_app, deliver(w, "school_user"), deliver(w, "employer_user"))
    assert _outcomes(results) == ["ok", "refused"]
    assert _count(Encounter) == 1 and _events(w.match, "delivered") == 1
    assert _audits("match.delivered") == 1


def test_two_feedbacks_at_once_keep_the_first_and_refuse_the_second(racing_app):
    w = _world("delivered")
    db.session.add(Encounter(match_id=w.match, delivered_on=days(-1), pupils_reached=18))
    db.session.commit()
    results = race(racing_app, feedback(w, "school", 4), feedback(w, "school", 2))
    assert _outcomes(results) == ["ok", "refused"]
    assert "already" in next(r for r in results if r.startswith("refused"))
    kept = db.session.scalars(select(Feedback.rating)).all()
    assert kept == [4 if results[0] == "ok" else 2]
    assert _audits("encounter.feedback") == 1


def test_both_sides_giving_feedback_at_once_both_count(racing_app):
    w = _world("delivered")
    db.session.add(Encounter(match_id=w.match, delivered_on=days(-1), pupils_reached=18))
    db.session.commit()
    assert race(racing_app, feedback(w, "school", 4), feedback(w, "employer", 5)) == ["ok", "ok"]
    assert sorted(db.session.scalars(select(Feedback.by_role))) == ["employer", "school"]


def test_approve_and_reject_at_once(racing_app):
    w = _world("proposed")
    results = race(racing_app, approve(w), reject(w))
    assert _outcomes(results) == ["ok", "refused"]
    assert _count(MatchEvent, MatchEvent.match_id == w.match) == 1


def test_withdrawal_and_approval_at_once_never_leave_an_approved_match_on_a_withdrawn_request(
    racing_app,
):
    w = _world("proposed")
    results = race(racing_app, withdraw(w), approve(w))
    assert _outcomes(results) == ["ok", "refused"]
    req, match = _get(EncounterRequest, w.request), _get(Match, w.match)
    if results[0] == "ok":
        assert (req.status, match.status) == ("withdrawn", "cancelled")
    else:
        assert (req.status, match.status) == ("open", "approved")
    assert _count(MatchEvent, MatchEvent.match_id == w.match) == 1


def test_a_double_withdrawal_is_recorded_once(racing_app):
    w = _world("proposed")
    results = race(racing_app, withdraw(w), withdraw(w))
    assert _outcomes(results) == ["ok", "refused"]
    assert _audits("request.withdrawn") == 1 and _events(w.match, "cancelled") == 1


def test_a_double_close_is_recorded_once(racing_app):
    w = _world("proposed")
    results = race(racing_app, close(w), close(w))
    assert _outcomes(results) == ["ok", "refused"]
    assert _audits("offer.closed") == 1 and _events(w.match, "cancelled") == 1


def test_pause_and_close_at_once_end_closed(racing_app):
    w = _world("proposed")
    results = race(racing_app, pause(w), close(w))
    # Pausing then closing are both allowed; once closed, an offer cannot be paused.
    assert results in (["ok", "ok"], ["refused: This offer is closed; it cannot be paused now.",
                                      "ok"])
    assert _get(Offer, w.offer).status == "closed"
    assert _audits("offer.paused") + _audits("offer.closed") == results.count("ok")


def test_lowering_capacity_while_a_proposal_is_approved_never_over_allocates(racing_app):
    w = _world("proposed", pupils=20, capacity=30)
    results = race(racing_app, set_capacity(w, 10), approve(w))
    offer = _get(Offer, w.offer)
    approved = db.session.scalar(
        select(func.coalesce(func.sum(Match.pupils), 0)).where(
            Match.offer_id == w.offer, Match.status.in_(("approved", "accepted", "delivered"))
        )
    )
    live = db.session.scalar(
        select(func.coalesce(func.sum(Match.pupils), 0)).where(
            Match.offer_id == w.offer,
            Match.status.in_(("proposed", "approved", "accepted", "delivered")),
        )
    )
    assert live <= offer.capacity and approved <= offer.capacity
    assert _outcomes(results) == ["ok", "refused"]


def test_expiry_never_overwrites_an_approval_made_meanwhile(racing_app):
    w = _world("proposed")
    offer = _get(Offer, w.offer)
    offer.earliest, offer.latest = days(-30), days(-1)  # its dates have passed
    db.session.commit()

    def expire() -> Callable[[], object]:
        return lambda: expire_stale(NOW)

    results = race(racing_app, approve(w), expire)
    match = _get(Match, w.match)
    assert _get(Offer, w.offer).status == "expired"
    if results[0] == "ok":
        assert match.status == "approved" and _events(w.match, "superseded") == 0
    else:
        assert match.status == "superseded" and _events(w.match, "approved") == 0
    assert _count(MatchEvent, MatchEvent.match_id == w.match) == 1
