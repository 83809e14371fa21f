"""Bad input never gives a 500: each cause a fuzzer found, with the message a person sees.

Huge ids in addresses, forms and the school look-up API; years no date can hold; ``sNaN`` in
decimal fields; numbers beyond an integer column; NUL characters; copying an offer that ends
on 9999-12-31; a ``next`` address with CR/LF or another site; text longer than its column.
Every form field is bounded (checked over every form class at the end).
"""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter
from wtforms import DateField, DecimalField, IntegerField, StringField, TextAreaField

from broker import formutil
from broker.auth.access import get_or_404
from broker.extensions import db
from broker.models import Employer, EncounterRequest, Match, Offer, School
from broker.web import IdConverter
from tests.frozen import days

HUGE = [str(2**31), str(2**63), str(2**64), "9" * 30]


def _count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def employer(make_employer):
    return make_employer(insurance_expires_on=days(400), risk_assessment_on=days(-30),
                         dbs_checked=True, dbs_renewal_on=days(400))


@pytest.fixture
def as_employer(make_user, employer, auth, no_csrf):
    auth.login(make_user(role="employer", employer_id=employer.id))


@pytest.fixture
def school(make_school):
    return make_school()


@pytest.fixture
def as_school(make_user, school, auth, no_csrf):
    auth.login(make_user(role="school", school_id=school.id))


@pytest.fixture
def as_coordinator(make_user, school, auth, no_csrf):
    auth.login(make_user(role="coordinator", areas=[school.area]))


def _offer_form(**overrides):
    data = {
        "title": "Bridge building talk", "type": "talk", "sector": "engineering",
        "year_min": "8", "year_max": "11", "capacity": "30", "delivery": "at_school",
        "max_km": "20", "audience": "mixed", "earliest": days(30).isoformat(),
        "latest": days(90).isoformat(),
    }
    return {**data, **overrides}


def _school_profile(**overrides):
    return {"postcode": "SW1A 1AA", "gender": "mixed", **overrides}


# --- ids of 2**31 and more: 404 in addresses, a message in forms and query strings ---------


@pytest.mark.parametrize("bad", HUGE)
def test_huge_ids_in_addresses_are_not_found(client, as_employer, bad):
    for url in (f"/employer/offers/{bad}", f"/employer/offers/{bad}/edit",
                f"/employer/matches/{bad}", f"/api/schools/{bad}"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/employer/offers/{bad}/pause").status_code == 404


@pytest.mark.parametrize("bad", HUGE)
def test_huge_ids_in_query_strings_are_ignored(client, as_employer, bad):
    for url in (f"/employer/matches?offer={bad}", f"/employer/offers?page={bad}"):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("bad", HUGE)
def test_huge_ids_for_coordinators(client, as_coordinator, bad):
    for url in (f"/coordinator/queue?area={bad}&run={bad}", f"/coordinator/gaps?area={bad}",
                f"/coordinator/hand-match?request_id={bad}&offer_id={bad}",
                f"/coordinator/runs?page={bad}"):
        assert client.get(url).status_code == 200, url
    assert client.get(f"/coordinator/runs/{bad}").status_code == 404
    response = client.post("/coordinator/hand-match",
                           data={"request_id": bad, "offer_id": "1", "pupils": "3"})
    assert response.status_code == 400
    assert "Request number: give a number from 1 to 2,147,483,647." in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("bad", [0, -1, 2**31, 2**63])
def test_loading_by_an_id_no_row_can_have_is_not_found(app, bad):
    with pytest.raises(NotFound):
        get_or_404(Offer, bad, lambda offer: True)


# --- years no date can hold ---------------------------------------------------------------


@pytest.mark.parametrize("year", ["0", "-1", "10000", str(2**63)])
def test_years_out_of_range_show_the_page(client, as_employer, year):
    response = client.get(f"/employer/impact?year={year}")
    assert response.status_code == 200
    assert "<strong>All time</strong>" in response.get_data(as_text=True)


@pytest.mark.parametrize("year", ["0", "-1", "10000", str(2**63)])
def test_years_out_of_range_on_plan_and_report(client, as_school, year):
    for url in (f"/school/plan?year={year}", f"/school/report?year={year}",
                f"/school/requests?year={year}", f"/school/matches?year={year}"):
        assert client.get(url).status_code == 200, url


# --- numbers: sNaN, NaN, infinities, beyond the column ------------------------------------


NOT_NUMBERS = ["sNaN", "NaN", "-sNaN", "Infinity", "-inf"]


@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_not_a_number_in_a_school_decimal_field(client, as_school, school, bad):
    response = client.post("/school/profile", data=_school_profile(fsm_pct=bad))
    assert response.status_code == 400
    assert "Pupils eligible for free school meals (%): give a number" in response.get_data(
        as_text=True
    )
    assert db.session.get(School, school.id).fsm_pct == 20.0


@pytest.mark.parametrize("bad", NOT_NUMBERS)
def test_not_a_number_in_an_offer_decimal_field(client, as_employer, bad):
    response = client.post("/employer/offers/new", data=_offer_form(max_km=bad))
    assert response.status_code == 400
    assert "How far it travels (km): give a number" in response.get_data(as_text=True)
    assert _count(Offer) == 0


@pytest.mark.parametrize("bad", [*HUGE, "-" + str(2**31 + 1)])
def test_numbers_beyond_the_column(client, as_employer, bad):
    response = client.post("/employer/offers/new", data=_offer_form(capacity=bad))
    assert response.status_code == 400
    assert "Capacity (pupils in total): give a number from 1 to 100,000." in response.get_data(
        as_text=True
    )
    assert _count(Offer) == 0


@pytest.mark.parametrize("bad", HUGE)
def test_numbers_beyond_the_column_for_schools(client, as_school, school, bad):
    response = client.post("/school/profile", data=_school_profile(pupils=bad))
    assert response.status_code == 400
    assert "Pupils on roll: give a number from 0 to 20,000." in response.get_data(as_text=True)
    response = client.post("/school/requests/new", data={
        "type": "talk", "year_group": "9", "pupils": bad,
        "earliest": days(30).isoformat(), "latest": days(60).isoformat()})
    assert response.status_code == 400
    assert "Pupils: give a number from 1 to 2,000." in response.get_data(as_text=True)
    assert _count(EncounterRequest) == 0


# --- NUL characters (PostgreSQL cannot store them) -----------------------------------------


def test_nul_in_text_is_refused_naming_the_field(client, as_employer, employer):
    response = client.post("/employer/offers/new", data=_offer_form(title="Bridges\x00"))
    assert response.status_code == 400
    assert "“title” contains a NUL character" in response.get_data(as_text=True)
    response = client.post("/employer/profile", data={"name": "\x00", "kind": "business",
                                                      "sector": "x", "postcode": "SW1A 2AA"})
    assert response.status_code == 400
    assert _count(Offer) == 0
    assert db.session.get(Employer, employer.id).name != "\x00"


def test_nul_in_a_query_is_refused_naming_it(client, as_coordinator):
    response = client.get("/coordinator/queue?school=Hill%00side")
    assert response.status_code == 400
    assert "“school” contains a NUL character" in response.get_data(as_text=True)


# --- dates: forms take 2000 to 2099; copying a far offer is refused ------------------------


@pytest.mark.parametrize("bad", ["0001-01-01", "9999-12-31", "1999-12-31", "2100-01-01"])
def test_dates_no_encounter_has_are_refused_naming_the_field(client, as_employer, bad):
    response = client.post("/employer/offers/new", data=_offer_form(latest=bad))
    assert response.status_code == 400
    assert "Available until: give a date from 2000 to 2099." in response.get_data(as_text=True)
    assert _count(Offer) == 0


def test_copying_an_offer_that_ends_in_9999_is_refused(client, as_employer, employer,
                                                       make_offer):
    offer = make_offer(employer=employer, earliest=date(9999, 1, 1), latest=date(9999, 12, 31))
    response = client.post(f"/employer/offers/{offer.id}/copy")
    assert response.status_code == 302
    assert response.location.endswith(f"/employer/offers/{offer.id}")
    page = client.get(response.location).get_data(as_text=True)
    assert "Dates: this offer runs too far ahead to copy a year on" in page
    assert _count(Offer) == 1


# --- next addresses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_", ["/x\r\nSet-Cookie: a=b", "https://evil.example/", "//evil.example/", "/\\evil"]
)
def test_approve_goes_back_only_to_this_site(client, as_coordinator, school, make_request,
                                            make_offer, make_employer, make_match, next_):
    employer = make_employer(area_id=school.area_id, insurance_expires_on=days(400),
                             risk_assessment_on=days(-30))
    match = make_match(request=make_request(school=school), offer=make_offer(employer=employer))
    response = client.post(f"/coordinator/matches/{match.id}/approve", data={"next": next_})
    assert response.status_code == 302
    assert response.location == "/coordinator/queue"
    assert db.session.get(Match, match.id).status == "approved"
    ok = client.post(f"/coordinator/matches/{match.id}/approve",
                     data={"next": "/coordinator/queue?type=talk"})
    assert ok.location == "/coordinator/queue?type=talk"  # refused (approved already), back


# --- text longer than its column ------------------------------------------------------------


def test_a_100000_character_name_is_refused_naming_the_field(client, as_employer, employer):
    response = client.post("/employer/profile", data={
        "name": "N" * 100_000, "kind": "business", "sector": "x", "postcode": "SW1A 2AA"})
    assert response.status_code == 400
    assert "Organisation name: use at most 200 characters (this has 100,000)." in (
        response.get_data(as_text=True)
    )
    assert len(db.session.get(Employer, employer.id).name) <= 200


def test_text_one_beyond_its_column_is_refused(client, as_school, school):
    response = client.post("/school/profile", data=_school_profile(careers_leader_name="N" * 121))
    assert response.status_code == 400
    assert "Careers leader: use at most 120 characters" in response.get_data(as_text=True)
    assert len(db.session.get(School, school.id).careers_leader_name or "") <= 120


# --- every form, every route ----------------------------------------------------------------


def _form_classes() -> list[type[formutil.Form]]:
    import broker.admin.forms  # noqa: F401 - each blueprint's forms register as subclasses
    import broker.auth.forms  # noqa: F401
    import broker.coordinator.forms  # noqa: F401
    import broker.employer.forms  # noqa: F401
    import broker.matchpages  # noqa: F401
    import broker.school.forms  # noqa: F401

    found, todo = [], [formutil.Form]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_field_of_every_form_is_bounded(app):
    unbounded = []
    with app.test_request_context():
        for cls in _form_classes():
            for field in cls(formdata=None):
                kinds = {type(v) for v in field.validators}
                ranges = [v for v in field.validators if isinstance(v, formutil.InRange)]
                if isinstance(field, StringField | TextAreaField) and field.type not in (
                    "CSRFTokenField", "HiddenField", "SelectField", "RadioField",
                ) and formutil.MaxLength not in kinds:
                    unbounded.append(f"{cls.__name__}.{field.name}: no MaxLength")
                if isinstance(field, IntegerField | DecimalField) and not ranges:
                    unbounded.append(f"{cls.__name__}.{field.name}: no InRange")
                if isinstance(field, IntegerField) and not isinstance(
                    field, formutil.IntegerField
                ):
                    unbounded.append(f"{cls.__name__}.{field.name}: not formutil's IntegerField")
                if isinstance(field, DecimalField) and not isinstance(
                    field, formutil.DecimalField
                ):
                    unbounded.append(f"{cls.__name__}.{field.name}: takes sNaN")
                if isinstance(field, DateField) and not isinstance(field, formutil.DateField):
                    unbounded.append(f"{cls.__name__}.{field.name}: takes any date")
    assert len(_form_classes()) > 10
    assert unbounded == []


def test_every_id_in_a_route_is_bounded(app: Flask):
    unbounded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        for converter in (rule._converters or {}).values()
        if isinstance(converter, IntegerConverter) and not isinstance(converter, IdConverter)
    ]
    assert unbounded == []
