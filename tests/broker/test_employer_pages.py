"""Employer journeys through the pages: profile and vetting, offers, matches, impact, access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, Encounter, Feedback, Offer, OutboxMessage
from tests.conftest import csrf_token_from
from tests.frozen import TODAY, days


@pytest.fixture
def employer(make_employer):
    return make_employer(name="Severn Engineering", contact_email="asha@severn.example",
                         contact_phone="0117 000 0000")


@pytest.fixture
def me(make_user, employer, auth):
    user = make_user(role="employer", employer_id=employer.id)
    auth.login(user)
    return user


def _profile(employer, **overrides):
    data = {
        "name": employer.name, "kind": "business", "sector": "engineering",
        "postcode": employer.postcode, "contact_name": "Asha", "contact_email": "a@s.example",
        "contact_phone": "", "website": "",
    }
    data.update(overrides)
    return data


def _offer_form(**overrides):
    data = {
        "title": "Bridge building talk", "description": "Engineers on bridges", "type": "talk",
        "sector": "engineering", "stem": "y", "year_min": "8", "year_max": "11",
        "capacity": "30", "delivery": "at_school", "max_km": "20", "audience": "mixed",
        "earliest": (TODAY + timedelta(days=30)).isoformat(),
        "latest": (TODAY + timedelta(days=90)).isoformat(), "postcode": "",
    }
    data.update(overrides)
    return data


def test_profile_saves_and_regeocodes_postcode(client, me, employer, no_csrf):
    response = client.post("/employer/profile", data=_profile(employer, postcode="bs1 4dj"))
    assert response.status_code == 302
    assert employer.postcode == "BS1 4DJ" and 51.4 < employer.lat < 51.5
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "employer.updated"))
    assert "postcode" in entry.details["fields"]


@pytest.mark.parametrize("postcode", ["ZZ99 9ZZ", "not a postcode"])
def test_profile_refuses_bad_postcode_clearly(client, me, employer, no_csrf, postcode):
    before = (employer.postcode, employer.lat)
    response = client.post("/employer/profile", data=_profile(employer, postcode=postcode))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Postcode:" in body
    db.session.refresh(employer)
    assert (employer.postcode, employer.lat) == before


def test_profile_vetting_record_and_rules(client, me, employer, no_csrf):
    response = client.post("/employer/profile", data=_profile(employer, dbs_checked="y"))
    assert response.status_code == 400
    assert "due for renewal" in response.get_data(as_text=True)
    future = (TODAY + timedelta(days=5)).isoformat()
    response = client.post("/employer/profile", data=_profile(employer, risk_assessment_on=future))
    assert response.status_code == 400
    assert "cannot be in the future" in response.get_data(as_text=True)
    response = client.post("/employer/profile", data=_profile(
        employer, dbs_checked="y", dbs_renewal_on=(TODAY + timedelta(days=400)).isoformat(),
        insurance_expires_on=(TODAY + timedelta(days=10)).isoformat(),
        risk_assessment_on=(TODAY - timedelta(days=10)).isoformat(),
    ))
    assert response.status_code == 302
    assert employer.dbs_checked and employer.insurance_expires_on == TODAY + timedelta(days=10)
    page = client.get("/employer/").get_data(as_text=True)
    assert "Expiring soon" in page and "employers&#39; liability insurance" in page


def test_dashboard_warns_of_blocked_offers(client, me, employer, make_offer):
    make_offer(employer=employer, type="work_experience")
    body = client.get("/employer/").get_data(as_text=True)
    assert "1 open offer cannot be matched" in body


def test_create_offer_through_the_page(client, me, employer):
    page = client.get("/employer/offers/new")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert 'type="date"' in body and 'name="sen_support"' in body
    assert 'name="days"' in body and 'name="hours_a_day"' in body
    data = _offer_form(sen_support=["autism", "hearing"], challenges_stereotype="y",
                       stereotype_note="female engineers", days="2", hours_a_day="3.5")
    data["csrf_token"] = csrf_token_from(body)
    response = client.post("/employer/offers/new", data=data)
    assert response.status_code == 302
    offer = db.session.scalar(select(Offer))
    assert offer.employer_id == employer.id and offer.sen_support == ["autism", "hearing"]
    assert offer.challenges_stereotype and offer.stereotype_note == "female engineers"
    assert offer.postcode == employer.postcode
    assert (offer.days, offer.hours_a_day) == (2, 3.5)
    detail = client.get(response.headers["Location"])
    assert "2 days of 3.5 hours (7 hours)" in detail.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"capacity": "0"}, "Capacity (pupils in total): give a number from 1 to 100,000"),
        ({"year_min": "12", "year_max": "9"}, "Year groups: the youngest"),
        ({"year_min": "5"}, "Youngest year group: give a number from 7 to 13"),
        ({"earliest": (TODAY + timedelta(days=60)).isoformat(),
          "latest": (TODAY + timedelta(days=30)).isoformat()}, "Dates: the last available"),
        ({"postcode": "ZZ99 9ZZ"}, "Postcode:"),
        ({"type": "work_experience"}, "needs valid employers&#39; liability insurance"),
        ({"capacity": ""}, "This field is required"),
        ({"days": "0"}, "Days: give a number from 1 to 20"),
        ({"hours_a_day": "11"}, "Hours a day: give a number from 0.5 to 10"),
    ],
)
def test_create_offer_shows_clear_errors(client, me, no_csrf, overrides, message):
    response = client.post("/employer/offers/new", data=_offer_form(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0


def test_edit_offer_refuses_capacity_below_held(client, me, employer, make_offer, make_match,
                                                 no_csrf):
    offer = make_offer(employer=employer, capacity=30)
    make_match(offer=offer, pupils=20, status="approved")
    data = _offer_form(capacity="10", earliest=offer.earliest.isoformat(),
                       latest=offer.latest.isoformat())
    response = client.post(f"/employer/offers/{offer.id}/edit", data=data)
    assert response.status_code == 400
    assert "Capacity cannot go below 20" in response.get_data(as_text=True)
    db.session.refresh(offer)
    assert offer.capacity == 30
    response = client.post(f"/employer/offers/{offer.id}/edit", data={**data, "capacity": "25"})
    assert response.status_code == 302 and offer.capacity == 25


def test_pause_close_and_copy_through_the_page(client, me, employer, make_offer, no_csrf):
    offer = make_offer(employer=employer)
    assert client.post(f"/employer/offers/{offer.id}/pause").status_code == 302
    assert offer.status == "paused"
    client.post(f"/employer/offers/{offer.id}/close")
    assert offer.status == "closed"
    response = client.post(f"/employer/offers/{offer.id}/close", follow_redirects=True)
    assert "This offer is already closed." in response.get_data(as_text=True)
    response = client.post(f"/employer/offers/{offer.id}/copy")
    copy = db.session.scalar(select(Offer).where(Offer.copied_from_id == offer.id))
    assert copy.status == "open" and copy.earliest.year == offer.earliest.year + 1
    assert response.headers["Location"].endswith(f"/employer/offers/{copy.id}")


def test_offer_list_filters_sorts_and_pages(client, me, employer, make_offer, app):
    app.config["PAGE_SIZE"] = 2
    for i in range(3):
        make_offer(employer=employer, title=f"Talk {i}")
    make_offer(employer=employer, title="Visit", type="workplace_visit", status="paused")
    make_offer(title="Not mine")
    body = client.get("/employer/offers?sort=title").get_data(as_text=True)
    assert "Page 1 of 2" in body and "Talk 0" in body and "Not mine" not in body
    body = client.get("/employer/offers?status=paused").get_data(as_text=True)
    assert "Visit" in body and "Talk 0" not in body
    body = client.get("/employer/offers?type=talk&sort=bogus&page=9").get_data(as_text=True)
    assert "Visit" not in body and "Page 2 of 2" in body


@pytest.fixture
def pair(employer, make_school, make_request, make_offer, make_match, make_user):
    school = make_school(name="Hillside Academy", careers_leader_email="lead@hillside.example",
                         careers_leader_name="Sam Lead")
    school_user = make_user(role="school", school_id=school.id)
    offer = make_offer(employer=employer, title="Bridge talk")
    match = make_match(offer=offer, request=make_request(school=school, year_group=10),
                       pupils=20, status="approved", reasons="2 km; STEM goal met")
    return match, school_user


def test_match_list_and_detail_hide_contacts_until_both_accept(client, me, pair, no_csrf):
    match, school_user = pair
    body = client.get("/employer/matches").get_data(as_text=True)
    assert "Hillside Academy" in body and "STEM goal met" in body and "Your answer needed" in body
    body = client.get(f"/employer/matches/{match.id}").get_data(as_text=True)
    assert "lead@hillside.example" not in body
    response = client.post(f"/employer/matches/{match.id}/respond", data={"answer": "accept"})
    assert response.status_code == 302
    assert match.employer_response == "accepted" and match.status == "approved"
    assert "lead@hillside.example" not in client.get(f"/employer/matches/{match.id}").text
    match.school_response = "accepted"
    match.status = "accepted"
    db.session.commit()
    assert "lead@hillside.example" in client.get(f"/employer/matches/{match.id}").text


def test_decline_needs_a_reason(client, me, pair, no_csrf):
    match, school_user = pair
    response = client.post(f"/employer/matches/{match.id}/respond", data={"answer": "decline"})
    assert response.status_code == 400
    assert "Say why you are declining" in response.get_data(as_text=True)
    assert match.status == "approved"
    response = client.post(f"/employer/matches/{match.id}/respond",
                           data={"answer": "decline", "reason": "No volunteers that week"})
    assert response.status_code == 302
    db.session.refresh(match)
    assert match.status == "declined" and match.response_reason == "No volunteers that week"
    told = db.session.scalars(select(OutboxMessage.to_email).where(
        OutboxMessage.template == "match_declined")).all()
    assert told == [school_user.email]


def test_employer_records_delivery_and_feedback(client, me, pair, no_csrf):
    match, _ = pair
    match.status = "accepted"
    match.offer.earliest = match.request.earliest = days(-7)
    db.session.commit()
    future = (TODAY + timedelta(days=2)).isoformat()
    response = client.post(f"/employer/matches/{match.id}/deliver",
                           data={"delivered_on": future, "pupils_reached": "18"})
    assert response.status_code == 400 and "cannot be in the future" in response.text
    response = client.post(f"/employer/matches/{match.id}/deliver",
                           data={"delivered_on": TODAY.isoformat(), "pupils_reached": "18"})
    assert response.status_code == 302
    assert db.session.scalar(select(Encounter.pupils_reached)) == 18
    response = client.post(f"/employer/matches/{match.id}/feedback",
                           data={"rating": "4", "would_welcome_again": "yes",
                                 "comment": "Keen group"})
    assert response.status_code == 302
    feedback = db.session.scalar(select(Feedback))
    assert (feedback.by_role, feedback.rating, feedback.would_welcome_again) == (
        "employer", 4, True)
    response = client.post(f"/employer/matches/{match.id}/feedback", data={"rating": "5"})
    assert response.status_code == 400 and "already been given" in response.text


def test_impact_page(client, me, employer, pair):
    match, _ = pair
    match.status = "delivered"
    match.request.school.fsm_pct = 35.0
    match.request.school.rural = True
    match.request.stem_goal = True
    db.session.add(Encounter(match=match, delivered_on=TODAY, pupils_reached=20))
    db.session.commit()
    body = client.get("/employer/impact").get_data(as_text=True)
    assert "pupil places" in body and "100%" in body
    assert "1 of 1 encounter where the school wanted to open STEM" in body


def test_another_employers_offers_and_matches_answer_404(client, me, make_offer, make_match,
                                                         no_csrf):
    theirs = make_offer(title="Their secret offer")
    their_match = make_match(offer=theirs, status="approved")
    for url in (f"/employer/offers/{theirs.id}", f"/employer/offers/{theirs.id}/edit",
                f"/employer/matches/{their_match.id}", "/employer/offers/99999"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Their secret offer" not in response.get_data(as_text=True)
    for url in (f"/employer/offers/{theirs.id}/pause", f"/employer/offers/{theirs.id}/close",
                f"/employer/offers/{theirs.id}/copy", f"/employer/offers/{theirs.id}/edit"):
        assert client.post(url, data=_offer_form()).status_code == 404, url
    for action in ("respond", "cancel", "deliver", "feedback"):
        response = client.post(f"/employer/matches/{their_match.id}/{action}",
                               data={"answer": "accept", "reason": "x"})
        assert response.status_code == 404, action
    assert theirs.status == "open" and their_match.employer_response is None
    assert "Their secret offer" not in client.get("/employer/offers").get_data(as_text=True)


def test_offer_actions_need_csrf(client, me, employer, make_offer):
    offer = make_offer(employer=employer)
    assert client.post(f"/employer/offers/{offer.id}/pause").status_code == 400
    assert offer.status == "open"


def test_school_user_cannot_use_employer_pages(client, auth, make_user, make_school):
    auth.login(make_user(role="school", school_id=make_school().id))
    assert client.get("/employer/offers").status_code == 403


def test_pages_render_for_a_new_employer(client, me):
    for url in ("/employer/", "/employer/profile", "/employer/offers", "/employer/offers/new",
                "/employer/matches", "/employer/impact", "/employer/calendar"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'name="viewport"' in response.get_data(as_text=True)


def test_employer_confirms_a_delivery_on_another_day(client, me, pair, no_csrf):
    match, _ = pair
    match.status = "accepted"
    match.offer.earliest = match.request.earliest = days(-7)
    match.scheduled_on = days(-1)
    db.session.commit()
    page = client.get(f"/employer/matches/{match.id}").get_data(as_text=True)
    assert 'name="move_date"' in page
    data = {"delivered_on": days(-2).isoformat(), "pupils_reached": "18"}
    response = client.post(f"/employer/matches/{match.id}/deliver", data=data)
    assert response.status_code == 400 and "The agreed date is" in response.text
    response = client.post(f"/employer/matches/{match.id}/deliver",
                           data={**data, "move_date": "y"})
    assert response.status_code == 302 and match.scheduled_on == days(-2)


def test_empty_match_lists_say_why(client, auth, make_user, make_employer, make_offer):
    """A closed offer's empty match list says it is not matched; the queue offers no bulk
    approval of nothing; the home page's title names the page once."""
    employer = make_employer()
    user = make_user(role="employer", employer=employer)
    closed = make_offer(employer=employer, status="closed", title="Old talk")
    auth.login(user)
    page = client.get(f"/employer/matches?offer={closed.id}").get_data(as_text=True)
    assert "It is closed, so the matcher does not propose it" in page
    assert "The matcher runs every night" not in page
    filtered = client.get("/employer/matches?status=delivered").get_data(as_text=True)
    assert "No matches with these filters." in filtered
    auth.logout()
    home = client.get("/").get_data(as_text=True)
    assert "<title>Every pupil meets the world of work · The broker</title>" in home
