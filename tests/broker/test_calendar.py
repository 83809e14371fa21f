"""Calendar feeds: signed tokens, no session needed, and RFC 5545 output."""

from __future__ import annotations

import re
from datetime import date

import pytest

from broker.extensions import db
from broker.models import Encounter
from broker.services import calendar
from tests.frozen import at, days


@pytest.fixture
def booked(make_school, make_employer, make_offer, make_request, make_match):
    school = make_school(name="Hillside; Academy, North")
    employer = make_employer(name="Severn Engineering")
    offer = make_offer(employer=employer, title="Bridges", earliest=days(34),
                       latest=days(120), delivery="at_workplace")
    accepted = make_match(offer=offer, request=make_request(
        school=school, earliest=days(62), latest=days(89)), status="accepted")
    delivered = make_match(offer=offer, request=make_request(school=school), status="delivered")
    db.session.add(Encounter(match=delivered, delivered_on=days(50), pupils_reached=18))
    proposed = make_match(offer=offer, request=make_request(school=school), status="proposed")
    db.session.commit()
    return school, employer, accepted, delivered, proposed


def _token(app, kind, org_id):
    return calendar.feed_token(app.config["SECRET_KEY"], kind, org_id)


def test_school_feed_without_login(app, client, booked):
    school, _, accepted, delivered, proposed = booked
    response = client.get(f"/school/calendar/{_token(app, 'school', school.id)}.ics")
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    raw = response.get_data()
    text = raw.decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")  # every line ends in CRLF
    assert text.count("BEGIN:VEVENT") == 2
    assert f"UID:match-{accepted.id}@" in text and f"UID:match-{delivered.id}@" in text
    assert f"match-{proposed.id}@" not in text
    unfolded = text.replace("\r\n ", "")
    # An accepted match without a date spans the overlap of both windows (DTEND exclusive).
    assert f"DTSTART;VALUE=DATE:{days(62):%Y%m%d}\r\nDTEND;VALUE=DATE:{days(90):%Y%m%d}" in unfolded
    assert f"DTSTART;VALUE=DATE:{days(50):%Y%m%d}\r\nDTEND;VALUE=DATE:{days(51):%Y%m%d}" in unfolded
    assert "Severn Engineering" in unfolded and "date to agree" in unfolded
    assert "DTSTAMP:" in text
    for line in raw.split(b"\r\n"):
        assert len(line) <= 75


def test_employer_feed_escapes_the_school_name(app, client, booked):
    _, employer, *_ = booked
    response = client.get(f"/employer/calendar/{_token(app, 'employer', employer.id)}.ics")
    assert response.status_code == 200
    unfolded = response.get_data(as_text=True).replace("\r\n ", "")
    assert "Hillside\\; Academy\\, North" in unfolded
    assert unfolded.count("BEGIN:VEVENT") == 2


def test_forged_or_crossed_tokens_are_refused(app, client, booked):
    school, employer, *_ = booked
    assert client.get("/school/calendar/forged.ics").status_code == 404
    token = _token(app, "school", school.id)
    assert client.get(f"/school/calendar/{token[:-2]}xx.ics").status_code == 404
    # A school's token does not open the employer feed with the same id, nor the reverse.
    assert client.get(f"/employer/calendar/{token}.ics").status_code == 404
    other = calendar.feed_token("another secret", "school", school.id)
    assert client.get(f"/school/calendar/{other}.ics").status_code == 404
    assert client.get(f"/school/calendar/{_token(app, 'school', 99999)}.ics").status_code == 404
    assert calendar.read_feed_token(app.config["SECRET_KEY"], _token(app, "employer", 3),
                                    "employer") == (3, 0)


def test_calendar_page_shows_the_feed_address(app, client, auth, make_user, booked):
    school, *_ = booked
    auth.login(make_user(role="school", school_id=school.id))
    body = client.get("/school/calendar").get_data(as_text=True)
    assert _token(app, "school", school.id) in body
    assert "Severn Engineering" in body


def test_fold_respects_octets_and_characters():
    line = "SUMMARY:" + "é" * 80
    folded = calendar.fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line
    assert calendar.fold("short") == "short"


def test_escape_text():
    assert calendar.escape_text("a\\b;c,d\ne") == "a\\\\b\\;c\\,d\\ne"


def test_render_ics_is_stable_for_a_given_time():
    event = calendar.Event("match-1", "Talk", "Line one\nLine two", "Online",
                           days(35), days(35), "accepted")
    text = calendar.render_ics("Cal", [event], now=at(31, 9, 30),
                               host="broker.example")
    assert f"DTSTAMP:{days(31):%Y%m%d}T093000Z\r\n" in text
    assert "UID:match-1@broker.example\r\n" in text
    assert "DESCRIPTION:Line one\\nLine two\r\n" in text
    assert "STATUS:CONFIRMED" in text


def test_a_new_address_revokes_the_old_one(app, client, auth, make_user, booked):
    from itsdangerous import URLSafeSerializer
    from sqlalchemy import select

    from broker.models import AuditEntry
    from tests.conftest import csrf_token_from

    school, employer, *_ = booked
    # An address made before keys existed ([kind, id]) still works until a new one is made.
    legacy = URLSafeSerializer(app.config["SECRET_KEY"], salt="broker.calendar-feed").dumps(
        ["school", school.id]
    )
    assert client.get(f"/school/calendar/{legacy}.ics").status_code == 200
    user = make_user(role="school", school_id=school.id)
    auth.login(user)
    page = client.get("/school/calendar").get_data(as_text=True)
    old_url = page.split('id="feed" type="text" readonly value="')[1].split('"')[0]
    old_path = old_url.split("localhost", 1)[1]
    assert client.get(old_path).status_code == 200
    # Without the form's CSRF token nothing changes.
    assert client.post("/school/calendar/new-address").status_code == 400
    response = client.post(
        "/school/calendar/new-address", data={"csrf_token": csrf_token_from(page)}
    )
    assert response.status_code == 302
    assert "The old one no longer works" in client.get("/school/calendar").text
    new_page = client.get("/school/calendar").get_data(as_text=True)
    new_url = new_page.split('id="feed" type="text" readonly value="')[1].split('"')[0]
    assert new_url != old_url
    assert client.get(old_path).status_code == 404
    assert client.get(f"/school/calendar/{legacy}.ics").status_code == 404
    assert client.get(new_url.split("localhost", 1)[1]).status_code == 200
    actions = list(db.session.scalars(select(AuditEntry.action)))
    assert "calendar.new_address" in actions
    # The employer's address is untouched.
    token = _token(app, "employer", employer.id)
    assert client.get(f"/employer/calendar/{token}.ics").status_code == 200


def test_dates_at_the_ends_of_the_calendar_keep_the_feed_readable(
    app, client, make_school, make_offer, make_request, make_match
):
    """A delivery once recorded as 0001-01-01, and a window open until 9999-12-31, each
    still give valid DATE values (eight digits) and never break the rest of the feed."""
    school = make_school()
    old = make_match(request=make_request(school=school), status="delivered")
    db.session.add(Encounter(match=old, delivered_on=date.min, pupils_reached=5))
    endless = make_match(
        request=make_request(school=school, earliest=days(31), latest=date.max),
        offer=make_offer(earliest=date.max, latest=date.max),
        status="accepted",
    )
    normal = make_match(request=make_request(school=school), status="accepted",
                        scheduled_on=days(40))
    db.session.commit()
    response = client.get(f"/school/calendar/{_token(app, 'school', school.id)}.ics")
    assert response.status_code == 200
    text = response.get_data(as_text=True).replace("\r\n ", "")
    assert text.count("BEGIN:VEVENT") == 3
    assert "DTSTART;VALUE=DATE:00010101\r\nDTEND;VALUE=DATE:00010102\r\n" in text
    assert "DTSTART;VALUE=DATE:99991231\r\nSUMMARY:" in text
    assert f"DTSTART;VALUE=DATE:{days(40):%Y%m%d}\r\nDTEND;VALUE=DATE:{days(41):%Y%m%d}" in text
    assert f"UID:match-{endless.id}@" in text and f"UID:match-{normal.id}@" in text
    for value in re.findall(r"DT(?:START|END);VALUE=DATE:(\S+)", text):
        assert re.fullmatch(r"\d{8}", value), value
