"""The hand-match picker: find a request by school and type, then pick an allowed offer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import Match
from tests.conftest import csrf_token_from
from tests.frozen import days
from tests.pagetext import parse, table, text


def _vetted(make_employer, **kw):
    return make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
        **kw,
    )


@pytest.fixture
def world(make_area, make_school, make_user, make_request, make_offer, make_employer, make_match):
    mine, theirs = make_area(name="Leeds"), make_area(name="York")
    school = make_school(area=mine, name="Moor Academy")
    neighbour = make_school(area=mine, name="Beck Primary Free School")
    other = make_school(area=theirs, name="Minster School")
    coordinator = make_user(role="coordinator", areas=[mine])

    def offer(name, **kw):
        return make_offer(employer=_vetted(make_employer, name=name), **kw)

    offers = {
        "good": offer("Good Engineers", capacity=40),
        "better_far": offer("Far Away Ltd", lat=55.9533, lon=-3.1883),
        "year": offer("Sixth Form Only", year_min=12, year_max=13),
        "full": offer("Fully Booked", capacity=20),
        "visit": offer("Visits Co", type="workplace_visit"),
    }
    # An employer in the coordinator's own area, so the area rule lets the pair through and
    # the engine's distance rule is what refuses it.
    offers["better_far"].employer.area_id = mine.id
    req = make_request(school=school, pupils=20, type="talk", year_group=9)
    visit_req = make_request(school=neighbour, pupils=10, type="workplace_visit")
    far_req = make_request(school=other, pupils=20)
    # A live proposal holds the places of "Fully Booked" (a hand match counts proposals).
    make_match(request=visit_req, offer=offers["full"], pupils=20, status="proposed")
    return dict(
        coordinator=coordinator,
        req=req,
        visit_req=visit_req,
        far_req=far_req,
        offers=offers,
        school=school,
    )


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def test_requests_are_found_by_school_name_and_type_in_my_areas_only(client, auth, world):
    auth.login(world["coordinator"])
    rows = table(_page(client, "/coordinator/hand-match"), "picker-requests")
    schools = [row["School"] for row in rows]
    assert sorted(schools) == ["Beck Primary Free School", "Moor Academy"]  # not Minster
    rows = table(_page(client, "/coordinator/hand-match?school=moor"), "picker-requests")
    assert [row["School"] for row in rows] == ["Moor Academy"]
    rows = table(_page(client, "/coordinator/hand-match?type=workplace_visit"), "picker-requests")
    assert [row["School"] for row in rows] == ["Beck Primary Free School"]
    # Another area's school is not found, even by name.
    page = text(parse(_page(client, "/coordinator/hand-match?school=Minster")))
    assert "No open requests in your areas match." in page


def test_the_picker_lists_only_offers_the_rules_allow(client, auth, world):
    auth.login(world["coordinator"])
    html = _page(client, f"/coordinator/hand-match?request_id={world['req'].id}")
    rows = table(html, "picker-offers")
    # Too far, wrong year group, no places left, another type: none of them is offered.
    assert [row["Offer"].split(":")[0] for row in rows] == ["Good Engineers"]
    assert rows[0]["Places left"] == "40"
    page = text(parse(html))
    assert "Offers the rules allow (1)" in page
    # The engine's view counts "Fully Booked" too: only a proposal holds its places.
    assert "2 open offers of this type (Employer talk) could serve this request" in page
    assert "1 more offer the rules allow has every place held by proposals" in page
    # The picker's own form makes the match: no numbers typed.
    response = client.post(
        "/coordinator/hand-match",
        data={
            "csrf_token": csrf_token_from(html),
            "request_id": world["req"].id,
            "offer_id": world["offers"]["good"].id,
            "pupils": 20,
        },
    )
    assert response.status_code == 302
    made = db.session.scalars(select(Match).where(Match.status == "approved")).one()
    assert (made.request_id, made.offer_id, made.pupils) == (
        world["req"].id,
        world["offers"]["good"].id,
        20,
    )


def test_a_long_list_of_offers_is_paginated(client, auth, world, make_offer, make_employer):
    for n in range(21):
        make_offer(employer=_vetted(make_employer, name=f"Extra {n:02d}"))
    auth.login(world["coordinator"])
    url = f"/coordinator/hand-match?request_id={world['req'].id}"
    first = table(_page(client, url), "picker-offers")
    second = table(_page(client, url + "&page=2"), "picker-offers")
    assert len(first) == 20 and len(second) == 2
    names = {row["Offer"] for row in first} | {row["Offer"] for row in second}
    assert len(names) == 22
    only = table(_page(client, url + "&employer=extra+07"), "picker-offers")
    assert [row["Offer"].split(":")[0] for row in only] == ["Extra 07"]


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("better_far", "it is too far (over its travel limit)"),
        ("year", "it is for other year groups"),
        ("visit", "it is another type of encounter"),
    ],
)
def test_a_blocked_pair_is_refused_naming_its_rule(client, auth, world, name, words):
    auth.login(world["coordinator"])
    html = _page(client, f"/coordinator/hand-match?request_id={world['req'].id}")
    response = client.post(
        "/coordinator/hand-match",
        data={
            "csrf_token": csrf_token_from(html),
            "request_id": world["req"].id,
            "offer_id": world["offers"][name].id,
            "pupils": 5,
        },
    )
    assert response.status_code == 400
    page = text(parse(response.get_data(as_text=True)))
    assert "This offer cannot serve this request under the matching rules: " + words in page
    # The page shows the request again with the offers that would do.
    assert "Offers the rules allow (1)" in page
    assert db.session.scalar(select(Match).where(Match.status == "approved")) is None


def test_another_areas_request_is_refused(client, auth, world):
    auth.login(world["coordinator"])
    assert (
        client.get(f"/coordinator/hand-match?request_id={world['far_req'].id}").status_code == 404
    )
    html = _page(client, "/coordinator/hand-match")
    response = client.post(
        "/coordinator/hand-match",
        data={
            "csrf_token": csrf_token_from(html),
            "request_id": world["far_req"].id,
            "offer_id": world["offers"]["good"].id,
            "pupils": 5,
        },
    )
    assert response.status_code == 404
    assert db.session.scalar(select(Match).where(Match.status == "approved")) is None


def test_the_coordinator_sees_why_nothing_matched_a_request(client, auth, world, make_request):
    cold = make_request(school=world["school"], type="talk", year_group=9, sen_needs=["autism"])
    auth.login(world["coordinator"])
    page = text(parse(_page(client, f"/coordinator/hand-match?request_id={cold.id}")))
    assert "No offer fits: of 4 open offers of this type (Employer talk)," in page
    assert "1 is too far (over its travel limit)" in page
    assert "1 is for other year groups" in page
    assert "2 do not support Autism" in page
    assert "Offers the rules allow (0)" in page


def test_the_school_search_takes_a_urn_too_large_as_no_school(client, auth, world):
    """A number past the URN column (2^31) finds nothing, on PostgreSQL too, instead of a
    database error; a name with % in it is taken literally."""
    auth.login(world["coordinator"])
    for term in ("2147483648", "99999999999999999999", "100%"):
        response = client.get(f"/coordinator/hand-match?school={term}")
        assert response.status_code == 200
        assert "Moor Academy" not in response.get_data(as_text=True)
    assert "Moor Academy" in client.get("/coordinator/hand-match?school=Moor").get_data(
        as_text=True
    )
