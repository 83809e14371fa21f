"""Coordinators act in their areas only, matches by hand included.

Leeds and York are neighbours; Newcastle is far from both. The Leeds coordinator may match
a Leeds school's request by hand with an offer from a Leeds employer, a virtual offer from
anywhere, or an in-person offer from elsewhere that travels as far as the school; not with
an in-person offer from elsewhere that cannot reach it, and never for a York school.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import Match
from broker.services import matches as svc
from broker.services.errors import NotAllowed
from tests.conftest import csrf_token_from
from tests.frozen import days

LEEDS = dict(lat=53.7997, lon=-1.5492, postcode="LS1 1UR")
YORK = dict(lat=53.9590, lon=-1.0815, postcode="YO1 7HH")  # about 35 km from Leeds
NEWCASTLE = dict(lat=54.9783, lon=-1.6178, postcode="NE1 7RU")  # about 130 km from Leeds


@pytest.fixture
def place(make_area, make_school, make_employer, make_user, make_request, make_offer):
    leeds, york, tyneside = (make_area(name=n) for n in ("Leeds", "York", "Tyneside"))

    def employer(area, where):
        return make_employer(
            area_id=area.id, insurance_expires_on=days(396), risk_assessment_on=days(-61),
            dbs_checked=True, dbs_renewal_on=days(396), **where,
        )

    def offer(area, where, **kw):
        return make_offer(employer=employer(area, where), capacity=60, **{**where, **kw})

    leeds_school = make_school(area=leeds, name="Moor Academy", **LEEDS)
    york_school = make_school(area=york, name="Minster School", **YORK)
    return dict(
        leeds_coordinator=make_user(role="coordinator", areas=[leeds]),
        york_coordinator=make_user(role="coordinator", areas=[york]),
        admin=make_user(role="admin"),
        leeds_request=make_request(school=leeds_school, pupils=20),
        york_request=make_request(school=york_school, pupils=20),
        leeds_offer=offer(leeds, LEEDS),
        # From York, in person, travelling 50 km: it reaches Leeds.
        york_offer_reaching_leeds=offer(york, YORK, max_km=50.0),
        # From York, in person, travelling 10 km: it does not reach Leeds.
        york_offer_staying_home=offer(york, YORK, max_km=10.0),
        newcastle_offer=offer(tyneside, NEWCASTLE, max_km=25.0),
        newcastle_virtual=offer(tyneside, NEWCASTLE, max_km=25.0, delivery="virtual"),
    )


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Match)) or 0


def test_the_wrong_coordinator_cannot_match_another_areas_school(place):
    for offer in ("leeds_offer", "york_offer_staying_home"):
        with pytest.raises(NotAllowed, match="Minster School is not in your areas"):
            svc.hand_match(place["york_request"], place[offer], 10, by=place["leeds_coordinator"])
    assert _count() == 0


@pytest.mark.parametrize(
    ("offer", "km"), [("york_offer_staying_home", "10 km"), ("newcastle_offer", "25 km")]
)
def test_an_in_person_offer_from_elsewhere_that_cannot_reach_the_school_is_refused(
    place, offer, km
):
    with pytest.raises(NotAllowed) as refused:
        svc.hand_match(place["leeds_request"], place[offer], 10, by=place["leeds_coordinator"])
    message = refused.value.message
    assert "from an employer outside your areas and does not reach Moor Academy" in message
    assert f"up to {km} away" in message
    assert "an offer from an employer in your areas, a virtual offer" in message
    assert refused.value.field == "offer"
    assert _count() == 0


@pytest.mark.parametrize(
    "offer", ["leeds_offer", "york_offer_reaching_leeds", "newcastle_virtual"]
)
def test_the_right_coordinator_matches_offers_within_reach(place, offer):
    made = svc.hand_match(place["leeds_request"], place[offer], 10, by=place["leeds_coordinator"])
    assert made.status == "approved" and made.offer_id == place[offer].id


def test_the_other_areas_coordinator_matches_its_own_school_with_its_own_offer(place):
    made = svc.hand_match(
        place["york_request"], place["york_offer_staying_home"], 10, by=place["york_coordinator"]
    )
    assert made.status == "approved"


def test_an_admin_may_match_any_pair_the_engine_allows(place):
    made = svc.hand_match(place["york_request"], place["newcastle_virtual"], 10, by=place["admin"])
    assert made.status == "approved"


def test_the_rule_answers_without_matching(place):
    refusal = svc.hand_match_refusal(
        place["leeds_request"], place["newcastle_offer"], by=place["leeds_coordinator"]
    )
    assert refusal is not None and "the school is 131 km away" in refusal.message
    for offer in ("leeds_offer", "york_offer_reaching_leeds", "newcastle_virtual"):
        assert (
            svc.hand_match_refusal(place["leeds_request"], place[offer],
                                   by=place["leeds_coordinator"])
            is None
        )


def test_the_hand_match_page_says_why_beside_the_offer(client, auth, place):
    auth.login(place["leeds_coordinator"])
    url = "/coordinator/hand-match"
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    far = place["newcastle_offer"]
    response = client.post(
        url,
        data={"csrf_token": token, "request_id": place["leeds_request"].id,
              "offer_id": far.id, "pupils": 10},
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert f"Offer {far.id} is from an employer outside your areas" in html
    assert _count() == 0
    # Another area's school's request is not found at all (its existence is not confirmed).
    response = client.post(
        url,
        data={"csrf_token": token, "request_id": place["york_request"].id,
              "offer_id": place["leeds_offer"].id, "pupils": 10},
    )
    assert response.status_code == 404
    assert _count() == 0
