"""Request service: validation of every field, limits once matched, withdrawal."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import AuditEntry, SchoolYearGroup
from broker.services import requests
from broker.services.errors import ServiceError
from tests.frozen import days

TODAY = days(-30)


@pytest.fixture
def school(make_school):
    school = make_school()
    db.session.add(SchoolYearGroup(school_id=school.id, year_group=9, pupils=120))
    db.session.commit()
    return school


@pytest.fixture
def user(make_user, school):
    return make_user(role="school", school_id=school.id)


def _data(**overrides):
    values = dict(type="talk", year_group=9, pupils=60, earliest=days(31),
                  latest=days(89))
    values.update(overrides)
    return requests.RequestData(**values)


def test_create_request(school, user):
    req = requests.create_request(school, _data(stem_goal=True, sen_needs=["semh", "autism"]),
                                  by=user, today=TODAY)
    assert req.status == "open" and req.stem_goal
    assert req.sen_needs == ["autism", "semh"]  # vocabulary order
    assert db.session.scalar(select(AuditEntry.action)) == "request.created"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"pupils": 0}, "pupils", "at least 1"),
        ({"pupils": 121}, "pupils", "year 9 has 120 pupils"),
        ({"year_group": 6}, "year_group", "between 7 and 13"),
        ({"year_group": 14}, "year_group", "between 7 and 13"),
        ({"earliest": days(90)}, "latest", "Window"),
        ({"earliest": days(-91), "latest": days(-61)}, "latest",
         "already passed"),
        ({"type": "party"}, "type", "party"),
        ({"sen_needs": ["x"]}, "sen_needs", "x"),
    ],
)
def test_create_request_validation_names_the_field(school, user, overrides, field, words):
    with pytest.raises(ServiceError) as err:
        requests.create_request(school, _data(**overrides), by=user, today=TODAY)
    assert err.value.field == field
    assert words in err.value.message


def test_pupils_unchecked_when_year_group_size_unknown(school, user):
    req = requests.create_request(school, _data(year_group=10, pupils=500), by=user, today=TODAY)
    assert req.pupils == 500


def test_edit_with_live_matches_is_limited(school, user, make_request, make_match):
    req = make_request(school=school, pupils=60)
    make_match(request=req, pupils=25, status="approved")
    make_match(request=req, pupils=10, status="proposed")
    with pytest.raises(ServiceError) as err:
        requests.update_request(req, _data(pupils=24), by=user)
    assert err.value.field == "pupils" and "below 25" in err.value.message
    with pytest.raises(ServiceError) as err:
        requests.update_request(req, _data(year_group=10), by=user)
    assert err.value.field == "year_group" and "cannot change" in err.value.message
    with pytest.raises(ServiceError) as err:
        requests.update_request(req, _data(type="mentoring"), by=user)
    assert err.value.field == "type"
    saved = requests.update_request(
        req, _data(pupils=35, stereotype_goal=True, notes="Bring hard hats"), by=user
    )
    assert set(saved.changed) == {"pupils", "stereotype_goal", "notes"}
    assert req.pupils == 35 and saved.withdrawn == []


def test_fewer_pupils_withdraw_the_proposals_beyond_them(school, user, make_request,
                                                        make_match):
    req = make_request(school=school, pupils=60)
    firm = make_match(request=req, pupils=25, status="approved")
    kept = make_match(request=req, pupils=10, status="proposed", score=5.0)
    dropped = make_match(request=req, pupils=15, status="proposed", score=3.0)
    saved = requests.update_request(req, _data(pupils=40), by=user)
    assert saved.withdrawn == [dropped] and req.pupils == 40
    assert (firm.status, kept.status, dropped.status) == ("approved", "proposed", "superseded")
    assert saved.message.startswith("Request saved. 1 proposed match for 15 pupils")
    assert requests.pupils_held_by_request([req.id]) == {req.id: 35}


def test_edit_without_matches_may_change_anything(school, user, make_request):
    req = make_request(school=school)
    requests.update_request(req, _data(type="mentoring", year_group=12), by=user)
    assert (req.type, req.year_group) == ("mentoring", 12)


def test_withdraw_cancels_proposals_and_refuses_locked(school, user, make_request,
                                                      make_match):
    req = make_request(school=school)
    proposal = make_match(request=req, status="proposed")
    requests.withdraw_request(req, by=user, reason="Trip clash")
    assert req.status == "withdrawn" and proposal.status == "cancelled"
    with pytest.raises(ServiceError):
        requests.update_request(req, _data(), by=user)
    with pytest.raises(ServiceError):
        requests.withdraw_request(req, by=user)
    locked = make_request(school=school)
    make_match(request=locked, status="accepted")
    with pytest.raises(ServiceError, match="Decline or cancel"):
        requests.withdraw_request(locked, by=user)
    assert locked.status == "open"


def test_requests_query_filters(school, make_request):
    a = make_request(school=school, year_group=9, type="talk")
    b = make_request(school=school, year_group=11, type="mentoring", status="withdrawn")
    make_request()
    assert db.session.scalars(requests.requests_query(school, year=11)).all() == [b]
    assert db.session.scalars(requests.requests_query(school, status="open")).all() == [a]
    assert db.session.scalars(requests.requests_query(school, sort="year")).all() == [a, b]
    assert requests.pupils_held_by_request([a.id]) == {}
