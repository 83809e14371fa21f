"""School journeys through the pages: profile, year groups, dates to avoid, requests, matches,
delivery and feedback, and object-level access."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import (
    AuditEntry,
    Encounter,
    EncounterRequest,
    Feedback,
    SchoolBlackout,
    SchoolYearGroup,
)
from broker.services.profiles import avoid_dates
from tests.conftest import csrf_token_from
from tests.frozen import TODAY, days


@pytest.fixture
def school(make_school):
    return make_school(name="Hillside Academy", postcode="SW1A 1AA")


@pytest.fixture
def me(make_user, school, auth):
    user = make_user(role="school", school_id=school.id)
    auth.login(user)
    return user


def _profile(**overrides):
    data = {"postcode": "SW1A 1AA", "gender": "mixed", "pupils": "950", "fsm_pct": "31.5",
            "careers_leader_name": "Sam Lead", "careers_leader_email": "Sam@Hillside.example",
            "careers_leader_phone": "", "sen_profile": ["autism", "semh"]}
    data.update(overrides)
    return data


def _request_form(**overrides):
    data = {"type": "workplace_visit", "year_group": "10", "pupils": "30",
            "earliest": (TODAY + timedelta(days=20)).isoformat(),
            "latest": (TODAY + timedelta(days=80)).isoformat(), "notes": ""}
    data.update(overrides)
    return data


def test_profile_corrections_are_saved_and_postcode_regeocoded(client, me, school, no_csrf):
    response = client.post("/school/profile", data=_profile(postcode="bs1 4dj"))
    assert response.status_code == 302
    assert school.postcode == "BS1 4DJ" and 51.4 < school.lat < 51.5
    assert (school.pupils, school.fsm_pct) == (950, 31.5)
    assert school.careers_leader_email == "sam@hillside.example"
    assert school.sen_profile == ["autism", "semh"]
    last = db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()))
    assert last == "school.updated"  # after the sign-in's own entry


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"postcode": "ZZ99 9ZZ"}, "Postcode:"),
        ({"postcode": "nonsense"}, "not a valid UK postcode"),
        ({"fsm_pct": "140"}, "free school meals (%): give a number from 0 to 100"),
        ({"careers_leader_email": "not-an-email"}, "Invalid email address"),
    ],
)
def test_profile_errors_are_clear(client, me, school, no_csrf, overrides, message):
    response = client.post("/school/profile", data=_profile(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.refresh(school)
    assert school.postcode == "SW1A 1AA"


def test_year_groups_set_change_and_clear(client, me, school, no_csrf):
    client.post("/school/profile/year-groups", data={"y9": "150", "y10": "140"})
    rows = dict(db.session.execute(select(SchoolYearGroup.year_group,
                                           SchoolYearGroup.pupils)).all())
    assert rows == {9: 150, 10: 140}
    client.post("/school/profile/year-groups", data={"y9": "155", "y10": ""})
    rows = dict(db.session.execute(select(SchoolYearGroup.year_group,
                                           SchoolYearGroup.pupils)).all())
    assert rows == {9: 155}
    response = client.post("/school/profile/year-groups", data={"y9": "-3"})
    assert response.status_code == 400
    assert 'value="155"' in client.get("/school/profile").get_data(as_text=True)


def test_dates_to_avoid_added_listed_and_removed(client, me, school, no_csrf):
    response = client.post("/school/profile/blackouts", data={
        "starts_on": days(160).isoformat(), "ends_on": days(201).isoformat(),
        "reason": "Exam season"})
    assert response.status_code == 302
    assert "Exam season" in client.get("/school/profile").get_data(as_text=True)
    assert avoid_dates([school.id]) == {school.id: [(days(160), days(201))]}
    response = client.post("/school/profile/blackouts", data={
        "starts_on": days(160).isoformat(), "ends_on": days(151).isoformat(), "reason": "INSET"})
    assert response.status_code == 400
    assert "The last day comes before the first day" in response.get_data(as_text=True)
    blackout = db.session.scalar(select(SchoolBlackout))
    client.post(f"/school/profile/blackouts/{blackout.id}/delete")
    assert db.session.scalar(select(func.count()).select_from(SchoolBlackout)) == 0


def test_create_request_through_the_page(client, me, school):
    page = client.get("/school/requests/new").get_data(as_text=True)
    data = _request_form(stem_goal="y", sen_needs=["mobility"], notes="Step-free access")
    data["csrf_token"] = csrf_token_from(page)
    response = client.post("/school/requests/new", data=data)
    assert response.status_code == 302
    req = db.session.scalar(select(EncounterRequest))
    assert (req.school_id, req.type, req.year_group, req.pupils) == (
        school.id, "workplace_visit", 10, 30)
    assert req.stem_goal and req.sen_needs == ["mobility"]
    body = client.get("/school/requests").get_data(as_text=True)
    assert "Workplace visit" in body and "0 / 30" in body


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pupils": "0"}, "Pupils: give a number from 1 to 2,000"),
        ({"pupils": "200"}, "year 10 has 150 pupils"),
        ({"year_group": "6"}, "Year group: give a number from 7 to 13"),
        ({"earliest": (TODAY + timedelta(days=50)).isoformat(),
          "latest": (TODAY + timedelta(days=10)).isoformat()}, "Window: the last date"),
        ({"earliest": ""}, "This field is required"),
    ],
)
def test_request_errors_are_clear(client, me, school, no_csrf, overrides, message):
    db.session.add(SchoolYearGroup(school_id=school.id, year_group=10, pupils=150))
    db.session.commit()
    response = client.post("/school/requests/new", data=_request_form(**overrides))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(EncounterRequest)) == 0


def test_edit_request_limited_by_matches(client, me, school, make_request, make_match,
                                         no_csrf):
    req = make_request(school=school, pupils=40, year_group=9)
    make_match(request=req, pupils=25, status="approved")
    form = _request_form(type=req.type, year_group="9", pupils="20",
                         earliest=req.earliest.isoformat(), latest=req.latest.isoformat())
    page = client.get(f"/school/requests/{req.id}/edit").get_data(as_text=True)
    assert "Matches already hold 25 pupils" in page
    response = client.post(f"/school/requests/{req.id}/edit", data=form)
    assert response.status_code == 400 and "Pupils cannot go below 25" in response.text
    response = client.post(f"/school/requests/{req.id}/edit", data={**form, "year_group": "11"})
    assert response.status_code == 400 and "year group cannot change" in response.text
    response = client.post(f"/school/requests/{req.id}/edit", data={**form, "pupils": "30"})
    assert response.status_code == 302 and req.pupils == 30


def test_withdraw_request(client, me, school, make_request, make_match, no_csrf):
    req = make_request(school=school)
    locked = make_match(request=req, status="accepted")
    response = client.post(f"/school/requests/{req.id}/withdraw", follow_redirects=True)
    assert "Decline or cancel them" in response.get_data(as_text=True)
    assert req.status == "open"
    locked.status = "cancelled"
    db.session.commit()
    client.post(f"/school/requests/{req.id}/withdraw", data={"reason": "Clash"})
    assert req.status == "withdrawn"


def test_request_list_filters_and_sorts(client, me, school, make_request):
    make_request(school=school, year_group=8, type="talk")
    make_request(school=school, year_group=12, type="mentoring")
    make_request(type="cv_workshop")
    body = client.get("/school/requests?year=12").get_data(as_text=True)
    assert "Mentoring</a>" in body and "Employer talk</a>" not in body
    body = client.get("/school/requests?sort=year").get_data(as_text=True)
    assert body.index("Employer talk</a>") < body.index("Mentoring</a>")
    assert "CV workshop</a>" not in body


@pytest.fixture
def approved(school, make_employer, make_offer, make_request, make_match, make_user):
    employer = make_employer(name="Severn Engineering", contact_email="asha@severn.example")
    employer_user = make_user(role="employer", employer_id=employer.id)
    match = make_match(offer=make_offer(employer=employer, title="Bridge talk"),
                       request=make_request(school=school, year_group=10), pupils=20,
                       status="approved", reasons="3 km; stereotype challenged")
    return match, employer_user


def test_accept_both_sides_then_contacts_then_deliver_and_feedback(client, me, approved, auth,
                                                                   no_csrf):
    match, employer_user = approved
    body = client.get("/school/matches").get_data(as_text=True)
    assert "Severn Engineering" in body and "stereotype challenged" in body
    assert "asha@severn.example" not in client.get(f"/school/matches/{match.id}").text
    client.post(f"/school/matches/{match.id}/respond", data={"answer": "accept"})
    assert match.school_response == "accepted" and match.status == "approved"
    auth.logout()
    auth.login(employer_user)
    client.post(f"/employer/matches/{match.id}/respond", data={"answer": "accept"})
    assert match.status == "accepted"
    auth.logout()
    auth.login(me)
    assert "asha@severn.example" in client.get(f"/school/matches/{match.id}").text
    match.offer.earliest = match.request.earliest = days(-7)
    db.session.commit()
    response = client.post(f"/school/matches/{match.id}/deliver",
                           data={"delivered_on": TODAY.isoformat(), "pupils_reached": "19"})
    assert response.status_code == 302 and match.status == "delivered"
    response = client.post(f"/school/matches/{match.id}/feedback", data={
        "rating": "5", "pupil_voice_score": "4", "would_welcome_again": "yes",
        "comment": "Brilliant"})
    assert response.status_code == 302
    feedback = db.session.scalar(select(Feedback))
    assert (feedback.by_role, feedback.rating, feedback.pupil_voice_score,
            feedback.would_welcome_again) == ("school", 5, 4, True)
    body = client.get(f"/school/matches/{match.id}").get_data(as_text=True)
    assert "Your feedback: 5/5, pupils' score 4/5" in body


def test_school_declines_with_reason(client, me, approved, no_csrf):
    match, _ = approved
    response = client.post(f"/school/matches/{match.id}/respond",
                           data={"answer": "decline", "reason": ""})
    assert response.status_code == 400 and "Say why you are declining" in response.text
    client.post(f"/school/matches/{match.id}/respond",
                data={"answer": "decline", "reason": "Mock exams that week"})
    assert match.status == "declined"


def test_delivery_checks(client, me, approved, no_csrf):
    match, _ = approved
    response = client.post(f"/school/matches/{match.id}/deliver",
                           data={"delivered_on": TODAY.isoformat(), "pupils_reached": "19"})
    assert response.status_code == 400 and "only a confirmed encounter" in response.text
    match.status = "accepted"
    db.session.commit()
    response = client.post(f"/school/matches/{match.id}/deliver",
                           data={"delivered_on": TODAY.isoformat(), "pupils_reached": "-1"})
    assert response.status_code == 400
    response = client.post(f"/school/matches/{match.id}/feedback", data={"rating": "5"})
    assert response.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Encounter)) == 0
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 0


def test_another_schools_requests_and_matches_answer_404(client, me, make_request, make_match,
                                                         make_school, no_csrf):
    other = make_school(name="Other School")
    their_request = make_request(school=other, notes="Their private notes")
    their_match = make_match(request=their_request, status="approved")
    blackout = SchoolBlackout(school_id=other.id, starts_on=days(31),
                              ends_on=days(32), reason="Trip")
    db.session.add(blackout)
    db.session.commit()
    for url in (f"/school/requests/{their_request.id}/edit", f"/school/matches/{their_match.id}"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Their private notes" not in response.get_data(as_text=True)
    posts = [f"/school/requests/{their_request.id}/edit",
             f"/school/requests/{their_request.id}/withdraw",
             f"/school/profile/blackouts/{blackout.id}/delete"]
    posts += [f"/school/matches/{their_match.id}/{a}"
              for a in ("respond", "cancel", "deliver", "feedback")]
    for url in posts:
        assert client.post(url, data=_request_form(answer="accept")).status_code == 404, url
    assert their_request.status == "open" and their_match.school_response is None
    assert db.session.get(SchoolBlackout, blackout.id) is not None
    assert "Other School" not in client.get("/school/matches").get_data(as_text=True)


def test_pages_render_for_a_new_school(client, me):
    for url in ("/school/", "/school/profile", "/school/requests", "/school/requests/new",
                "/school/matches", "/school/plan", "/school/report", "/school/calendar",
                "/school/plan?year=1900"):
        response = client.get(url)
        assert response.status_code == 200, url


def test_agree_a_date_then_it_shows_on_both_pages_and_in_the_calendar(
    app, client, me, school, approved, auth, no_csrf
):
    from broker.services import calendar

    match, employer_user = approved
    match.request.earliest, match.request.latest = TODAY + timedelta(5), TODAY + timedelta(40)
    match.offer.earliest, match.offer.latest = TODAY + timedelta(10), TODAY + timedelta(50)
    match.status = "accepted"
    db.session.commit()
    page = client.get(f"/school/matches/{match.id}").text
    assert "No date yet" in page and 'type="date"' in page
    assert f'min="{(TODAY + timedelta(10)).isoformat()}"' in page
    day = TODAY + timedelta(41)
    response = client.post(f"/school/matches/{match.id}/schedule", data={"on": day.isoformat()})
    assert response.status_code == 400 and "when both the offer and the request" in response.text
    day = TODAY + timedelta(30)
    response = client.post(f"/school/matches/{match.id}/schedule", data={"on": day.isoformat()})
    assert response.status_code == 302 and match.scheduled_on == day
    assert "Agreed for" in client.get(f"/school/matches/{match.id}").text
    token = calendar.feed_token(app.config["SECRET_KEY"], "school", school.id)
    feed = client.get(f"/school/calendar/{token}.ics").get_data(as_text=True).replace("\r\n ", "")
    assert f"DTSTART;VALUE=DATE:{day:%Y%m%d}" in feed and "date to agree" not in feed
    auth.logout()
    auth.login(employer_user)
    page = client.get(f"/employer/matches/{match.id}").text
    assert day.strftime("%-d %B %Y") in page and "Move the date" in page


def test_delivery_on_another_day_is_confirmed_on_the_form(client, me, approved):
    match, _ = approved
    match.status = "accepted"
    match.offer.earliest = match.request.earliest = days(-14)
    match.scheduled_on = days(-2)
    db.session.commit()
    page = client.get(f"/school/matches/{match.id}").get_data(as_text=True)
    # The form offers the agreed date first, and the box to tick if it moved.
    assert f'type="date" value="{days(-2).isoformat()}"' in page
    assert 'name="move_date"' in page and "It happened on another day" in page
    assert f'max="{TODAY.isoformat()}" min="{days(-14).isoformat()}"' in page
    token = csrf_token_from(page)
    other_day = {"csrf_token": token, "delivered_on": days(-3).isoformat(),
                 "pupils_reached": "19"}
    response = client.post(f"/school/matches/{match.id}/deliver", data=other_day)
    assert response.status_code == 400
    assert "The agreed date is" in response.text and "tick" in response.text
    assert match.status == "accepted" and match.scheduled_on == days(-2)
    response = client.post(f"/school/matches/{match.id}/deliver",
                           data={**other_day, "move_date": "y"})
    assert response.status_code == 302
    assert match.status == "delivered" and match.scheduled_on == days(-3)
    assert match.encounter.delivered_on == days(-3)


def test_delivery_dates_outside_the_window_are_refused_on_the_form(client, me, approved,
                                                                   no_csrf):
    match, _ = approved
    match.status = "accepted"
    match.offer.earliest = match.request.earliest = days(-14)
    db.session.commit()
    for day, message in (("0001-01-01", "Date it happened: give a date from 2000 to 2099"),
                         (days(-15).isoformat(), "The date it happened must be from")):
        response = client.post(f"/school/matches/{match.id}/deliver",
                               data={"delivered_on": day, "pupils_reached": "19"})
        assert response.status_code == 400
        assert message in response.text
    assert match.status == "accepted"
