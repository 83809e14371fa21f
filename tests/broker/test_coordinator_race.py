"""Two coordinators approving against an offer's last places never over-allocate it.

Real transactions on PostgreSQL (committing_db): each thread has its own app context,
session and connection, approves at the same moment and holds its transaction open a little
before committing, as two people clicking at once would.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import Area, Employer, EncounterRequest, Match, Offer, School, User
from broker.services.errors import Conflict
from broker.services.matches import approve_match
from tests.frozen import at, days

WAIT = 10.0


def _setup() -> tuple[list[int], int, list[int], int]:
    area = Area(name="Race area")
    db.session.add(area)
    school = School(urn=990001, name="Race School", lat=51.5, lon=-0.14, area=area)
    employer = Employer(
        name="Race Ltd",
        kind="business",
        sector="engineering",
        postcode="SW1A 2AA",
        lat=51.5,
        lon=-0.13,
        verified_at=at(0, 9),
    )
    offer = Offer(
        employer=employer,
        title="Last places",
        type="talk",
        sector="engineering",
        year_min=8,
        year_max=13,
        capacity=30,
        postcode="SW1A 2AA",
        lat=51.5,
        lon=-0.13,
        earliest=days(34),
        latest=days(120),
    )
    requests = [
        EncounterRequest(
            school=school,
            type="talk",
            year_group=9,
            pupils=20,
            earliest=days(31),
            latest=days(89),
        )
        for _ in range(2)
    ]
    matches = [Match(request=r, offer=offer, pupils=20, status="proposed") for r in requests]
    users = []
    for i in range(2):
        user = User(email=f"coord{i}@race.test", name=f"Coordinator {i}", role="coordinator")
        user.set_password("x" * 12)
        user.areas = [area]
        users.append(user)
    db.session.add_all([school, employer, offer, *requests, *matches, *users])
    db.session.commit()
    return [m.id for m in matches], offer.id, [u.id for u in users], offer.capacity


def test_racing_approvals_never_over_allocate(committing_db):
    match_ids, offer_id, user_ids, capacity = _setup()
    barrier = threading.Barrier(2, timeout=WAIT)
    results: list[str] = []
    errors: list[BaseException] = []

    def coordinator(i: int) -> None:
        try:
            with committing_db.app_context():
                match = db.session.get(Match, match_ids[i])
                user = db.session.get(User, user_ids[i])
                assert match is not None and user is not None
                barrier.wait()
                try:
                    approve_match(match, by=user)
                    time.sleep(0.3)  # keep the transaction open while the other tries
                    db.session.commit()
                    results.append("approved")
                except Conflict:
                    db.session.rollback()
                    results.append("conflict")
                finally:
                    db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=coordinator, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads), "an approval hung"
    assert not errors, errors
    assert sorted(results) == ["approved", "conflict"]
    held = db.session.scalar(
        select(func.sum(Match.pupils)).where(Match.offer_id == offer_id, Match.status == "approved")
    )
    assert held == 20 <= capacity
    assert db.session.get(Offer, offer_id).capacity == capacity
