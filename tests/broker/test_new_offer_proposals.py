"""A new or reopened offer is proposed to unmet demand at once, not the next night."""

from __future__ import annotations

from sqlalchemy import select

from broker.extensions import db
from broker.models import Match
from broker.services import offers
from tests.frozen import days


def _data(**overrides):
    values = dict(
        title="Engineering talk",
        type="talk",
        sector="engineering",
        year_min=8,
        year_max=11,
        capacity=60,
        earliest=days(34),
        latest=days(120),
        delivery="at_school",
        max_km=25.0,
        stem=True,
    )
    values.update(overrides)
    return offers.OfferData(**values)


def test_new_offer_gets_proposals_for_nearby_unmet_requests(
    app, make_employer, make_user, make_request, make_school
):
    employer = make_employer()
    user = make_user(role="employer", employer_id=employer.id)
    near = make_request(school=make_school(), pupils=25, stem_goal=True)
    make_request(school=make_school(), type="mentoring")  # wrong type
    make_request(school=make_school(lat=54.97, lon=-1.61, postcode="NE1 4ST"))  # too far
    offer = offers.create_offer(employer, _data(), by=user, today=days(-8))
    db.session.commit()
    proposed = db.session.scalars(select(Match).where(Match.offer_id == offer.id)).all()
    assert [(m.request_id, m.pupils, m.status) for m in proposed] == [(near.id, 25, "proposed")]
    assert "STEM goal met" in proposed[0].reasons


def test_reopened_offer_is_proposed_again(app, make_employer, make_user, make_request):
    employer = make_employer()
    user = make_user(role="employer", employer_id=employer.id)
    offer = offers.create_offer(employer, _data(), by=user, today=days(-8))
    offers.pause_offer(offer, by=user)
    db.session.commit()
    request = make_request(pupils=10)
    offers.reopen_offer(offer, by=user, today=days(-8))
    db.session.commit()
    match = db.session.scalar(select(Match).where(Match.offer_id == offer.id))
    assert match is not None and match.request_id == request.id and match.pupils == 10
