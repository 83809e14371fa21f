"""One school, the same figures: every run and page explains a school with the same counts."""

from __future__ import annotations

import re

from sqlalchemy import select

from broker.extensions import db
from broker.models import Match
from broker.services import matching as adapter
from broker.services.matches import approve_match, cancel_match
from tests.frozen import at, days

NOW = at(0, 2)
COLD = re.compile(r"cold spot: (\d+) in-person offers? with places within 25 km")
ENCOUNTERS = re.compile(r"school has (no|\d+) encounters? accepted or delivered this school year")


def _vetted(make_employer, **kw):
    return make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
        **kw,
    )


def figures(reasons: str) -> tuple[int | None, int]:
    """(in-person offers with places nearby, encounters this year) as a reason states them."""
    cold = COLD.search(reasons)
    encounters = ENCOUNTERS.search(reasons)
    assert encounters is not None, reasons
    return (
        int(cold[1]) if cold else None,
        0 if encounters[1] == "no" else int(encounters[1]),
    )


def test_nightly_replacement_alternatives_and_hand_checks_give_a_school_the_same_figures(
    app, make_school, make_request, make_offer, make_employer, make_user, make_match
):
    school = make_school()
    coordinator = make_user(role="coordinator", areas=[school.area])
    admin = make_user(role="admin")
    employer = _vetted(make_employer)
    # One encounter this year: a request whose 10 pupils an accepted match holds, on an
    # offer it fills (a full offer is not an offer with places).
    done = make_request(school=school, pupils=10)
    full = make_offer(employer=employer, capacity=10)
    make_match(request=done, offer=full, pupils=10, status="accepted")
    talk = make_request(school=school, pupils=20)
    mentoring = make_request(school=school, pupils=20, type="mentoring")
    near = make_offer(employer=employer, capacity=20)
    further = make_offer(employer=employer, capacity=20, lat=51.55, lon=-0.13)
    make_offer(employer=employer, capacity=20, type="mentoring")
    # Not counted: virtual, or beyond 25 km.
    make_offer(employer=employer, capacity=20, delivery="virtual")
    make_offer(employer=_vetted(make_employer, lat=52.2, lon=0.12), capacity=20, max_km=200.0)
    expected = (3, 1)  # two talks and the mentoring offer with places; one accepted request

    run = adapter.run_matching(NOW)
    db.session.commit()
    proposed = db.session.scalars(select(Match).where(Match.run_id == run.id)).all()
    assert {m.request_id for m in proposed} == {talk.id, mentoring.id}
    seen = {"nightly": {figures(m.reasons) for m in proposed}}
    cold_term = {"nightly": {round(m.terms["cold_spot"], 3) for m in proposed}}

    today = days(0)
    alternatives = adapter.alternatives_for(talk, today)
    assert {o.id for _c, o in alternatives} >= {near.id, further.id}
    seen["alternatives"] = {figures(c.reasons) for c, _o in alternatives}
    cold_term["alternatives"] = {round(c.terms["cold_spot"], 3) for c, _o in alternatives}
    candidate = adapter.pair_allowed(talk, further, today)
    assert candidate is not None
    seen["pair_allowed"] = {figures(candidate.reasons)}
    cold_term["pair_allowed"] = {round(candidate.terms["cold_spot"], 3)}

    # The talk's proposal is approved, then cancelled: a replacement is proposed at once.
    (first,) = [m for m in proposed if m.request_id == talk.id]
    approve_match(first, by=coordinator)
    cancel_match(first, by=admin, reason="speaker ill")
    db.session.commit()
    replacements = db.session.scalars(
        select(Match).where(Match.request_id == talk.id, Match.status == "proposed")
    ).all()
    assert [m.pupils for m in replacements] == [20]
    assert replacements[0].run.kind == "replacement"
    seen["replacement"] = {figures(m.reasons) for m in replacements}
    cold_term["replacement"] = {round(m.terms["cold_spot"], 3) for m in replacements}

    assert seen == {name: {expected} for name in seen}
    # The cold spot term itself: full points less 3 of the 50 offers that end it.
    assert cold_term == {name: {9.4} for name in cold_term}


def test_encounters_this_year_are_accepted_or_delivered_requests(
    app, make_school, make_request, make_offer, make_match
):
    school = make_school()
    offer = make_offer(capacity=200)
    for status in ("proposed", "approved", "declined", "cancelled", "rejected", "superseded"):
        make_match(request=make_request(school=school), offer=offer, status=status)
    twice = make_request(school=school)
    make_match(request=twice, offer=offer, status="accepted", pupils=10)
    make_match(request=twice, offer=make_offer(), status="delivered", pupils=10)
    make_match(request=make_request(school=school), offer=offer, status="delivered")
    # Last school year's encounter does not count.
    last_year = make_request(school=school, earliest=days(-500), latest=days(-400))
    make_match(request=last_year, offer=offer, status="delivered")
    idle = make_school()

    assert adapter.encounters_this_year([school.id, idle.id], days(0)) == {
        school.id: 2,
        idle.id: 0,
    }
    # Proposals and approvals do not make "encounters" in the reasons either.
    (built,) = adapter.engine_schools([school.id], days(0))
    assert built.encounters_reported == 2


def test_offers_nearby_stop_counting_where_a_school_stops_being_a_cold_spot(
    app, make_school, make_request, make_offer, make_employer, make_match
):
    # 55 in-person offers with places around a city school: the term ends at 50 (the
    # default cold_spot_offers), so the page reads a few dozen offers and says 50...
    school = make_school()
    employer = _vetted(make_employer)
    offers = [make_offer(employer=employer, capacity=5) for _ in range(55)]
    point = {school.id: (school.lat, school.lon)}
    assert adapter.offers_nearby(point, days(0)) == {school.id: 50}
    # ...as the nightly run does when it counts them all.
    make_request(school=school, pupils=5)
    (built,) = adapter.load_inputs(days(0)).schools
    assert built.offers_nearby == 50
    # Ten of them filled by approved matches: 45 with places, counted exactly.
    for offer in offers[:10]:
        make_match(request=make_request(), offer=offer, pupils=5, status="approved")
    assert adapter.offers_nearby(point, days(0)) == {school.id: 45}
    (built,) = [s for s in adapter.load_inputs(days(0)).schools if s.school_id == school.id]
    assert built.offers_nearby == 45
