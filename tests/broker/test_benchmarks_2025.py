"""The 2025 benchmarks on a small hand-made school: work experience hours against 50 per pupil,
meaningful encounters for benchmarks 5 and 6, and provider encounters (Provider Access
Legislation). Every figure is worked out by hand in the comments."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker import clock
from broker.extensions import db
from broker.models import PROVIDER_TOPICS, Encounter, EncounterRequest, Match, SchoolYearGroup
from broker.services import impact, matches, meaningful, offers
from broker.services import matching as adapter
from broker.services.errors import NotAllowed, ServiceError
from tests.conftest import csrf_token_from
from tests.frozen import TODAY, days
from tests.pagetext import table, text_by_id

YEAR = clock.school_year_of(TODAY)
IN_YEAR = {"earliest": days(-40), "latest": days(-1)}
LAST_YEAR = {"earliest": days(-330), "latest": days(-300)}


def _deliver(match, on, pupils, **extra):
    match.status = "delivered"
    encounter = Encounter(match=match, delivered_on=on, pupils_reached=pupils, **extra)
    db.session.add(encounter)
    db.session.commit()
    return encounter


def _cohorts(school, **pupils):
    db.session.add_all(
        SchoolYearGroup(school_id=school.id, year_group=int(y[1:]), pupils=n)
        for y, n in pupils.items()
    )
    db.session.commit()


# ---------------------------------------------------------------- work experience hours
@pytest.fixture
def hours_school(make_school, make_request, make_match, make_offer):
    """Year 10: 30 pupils; Year 9: 60 pupils.

    - Year 10, this year: one delivered placement of 5 days x 6 h for 30 pupils
      (900 pupil-hours: 30 h per pupil); an accepted placement of 5 x 6 h for 10 pupils
      (300 pupil-hours agreed: 10 h per pupil); a delivered talk (not a placement: no hours).
    - Year 9, this year: a delivered workplace visit of 4 h for 60 pupils (4 h per pupil).
    - Year 8 last year (this year's Year 9): a talk held at the workplace, 2 h, 60 pupils
      (2 h per pupil), and a talk at school (not work experience: no hours).
    """
    school = make_school()
    _cohorts(school, y9=60, y10=30)
    placement = make_offer(type="work_experience", delivery="at_workplace", days=5,
                           hours_a_day=6.0)
    delivered = make_match(request=make_request(school=school, year_group=10,
                                                type="work_experience", pupils=30, **IN_YEAR),
                           offer=placement, pupils=30, status="accepted")
    _deliver(delivered, days(-10), 30, hours=30.0)
    make_match(request=make_request(school=school, year_group=10, type="work_experience",
                                    pupils=10, **IN_YEAR),
               offer=placement, pupils=10, status="accepted")
    make_match(request=make_request(school=school, year_group=10, type="work_experience",
                                    pupils=10, **IN_YEAR),
               offer=placement, pupils=10, status="proposed")  # not agreed: not counted
    talk = make_match(request=make_request(school=school, year_group=10, type="talk",
                                           pupils=30, **IN_YEAR),
                      offer=make_offer(hours_a_day=1.0), pupils=30, status="accepted")
    _deliver(talk, days(-5), 30, hours=1.0)
    visit = make_match(request=make_request(school=school, year_group=9, type="workplace_visit",
                                            pupils=60, **IN_YEAR),
                       offer=make_offer(type="workplace_visit", delivery="at_workplace",
                                        hours_a_day=4.0), pupils=60, status="accepted")
    _deliver(visit, days(-8), 60, hours=4.0)
    on_site = make_match(request=make_request(school=school, year_group=8, type="talk",
                                              pupils=60, **LAST_YEAR),
                         offer=make_offer(delivery="at_workplace", hours_a_day=2.0),
                         pupils=60, status="accepted")
    _deliver(on_site, days(-310), 60)  # no hours recorded: the offer's 2 h
    at_school = make_match(request=make_request(school=school, year_group=8, type="talk",
                                                pupils=60, **LAST_YEAR),
                           offer=make_offer(delivery="at_school", hours_a_day=1.0),
                           pupils=60, status="accepted")
    _deliver(at_school, days(-305), 60)
    return school


def test_hours_per_pupil_against_the_aim(hours_school):
    lines = {h.year_group: h for h in impact.school_hours(hours_school, YEAR)}
    assert list(lines) == [7, 8, 9, 10, 11]
    y10 = lines[10]
    assert (y10.delivered_per_pupil, y10.agreed_per_pupil) == (30.0, 10.0)
    assert y10.phase_delivered_per_pupil == 30.0 and y10.missing_per_pupil == 10.0
    y9 = lines[9]
    assert y9.delivered_per_pupil == 4.0 and y9.agreed_per_pupil == 0.0
    # This year's Year 9 had 2 h in Year 8 last year: 6 h so far in years 7-9.
    assert y9.phase_delivered_per_pupil == 6.0 and y9.missing_per_pupil == 44.0
    # No cohort entered: no figure per pupil, only pupil-hours.
    assert lines[11].cohort is None and lines[11].missing_per_pupil is None
    assert lines[7].phase_delivered == 0.0


def test_hours_last_year_for_the_cohort_then(hours_school):
    lines = {h.year_group: h for h in impact.school_hours(hours_school, YEAR - 1)}
    assert lines[8].delivered == 120.0  # 60 pupils x 2 h at the workplace; the school talk not
    assert lines[10].delivered == 0.0


def test_plan_page_shows_hours_delivered_and_agreed(client, auth, make_user, hours_school):
    auth.login(make_user(role="school", school_id=hours_school.id))
    html = client.get(f"/school/plan?year={YEAR}").get_data(as_text=True)
    # A year group without its pupils entered has one cell across the figures.
    rows = {row.get("Year") or row["0"]: row for row in table(html, "hours")}
    assert rows["10"]["Counts"] == "Placements" and rows["9"]["Counts"] == "Activities"
    assert rows["10"]["This year: delivered"] == "30 hours per pupil"
    assert rows["10"]["This year: agreed"] == "10 hours per pupil"
    assert rows["10"]["Against 50 hours"] == "10 hours per pupil to find"
    assert rows["9"]["Phase so far: delivered"] == "6 hours per pupil"
    assert rows["9"]["Against 50 hours"] == "44 hours per pupil to find"
    assert rows["11"]["2"].startswith("Enter the pupils in Year 11 on your profile")


def test_a_full_week_meets_the_aim(make_school, make_request, make_match, make_offer):
    school = make_school()
    _cohorts(school, y10=30)
    week = make_offer(type="work_experience", delivery="at_workplace", days=5, hours_a_day=10.0)
    match = make_match(request=make_request(school=school, year_group=10, type="work_experience",
                                            pupils=30, **IN_YEAR),
                       offer=week, pupils=30, status="accepted")
    _deliver(match, days(-3), 30)  # 5 x 10 h = 50 h each
    y10 = impact.school_hours(school, YEAR)[3]
    assert y10.delivered_per_pupil == 50.0 and y10.missing_per_pupil == 0.0


# ---------------------------------------------------------------- meaningful encounters
B5_ALL = [code for code, _ in meaningful.B5_CRITERIA]
B6_ALL = [code for code, _ in meaningful.B6_CRITERIA]
WINDOW = {"earliest": days(-20), "latest": days(5)}


@pytest.fixture
def sides(make_school, make_employer, make_user):
    school, employer = make_school(), make_employer()
    return (school, employer, make_user(role="school", school_id=school.id),
            make_user(role="employer", employer_id=employer.id))


def _accepted(make_match, make_request, make_offer, school, employer, type_="talk", pupils=30,
              year_group=9):
    delivery = "at_workplace" if type_ in meaningful.WORKPLACE_TYPES else "at_school"
    return make_match(
        request=make_request(school=school, type=type_, year_group=year_group, pupils=pupils,
                             **WINDOW),
        offer=make_offer(employer=employer, type=type_, delivery=delivery, **WINDOW),
        pupils=pupils, status="accepted",
    )


def test_benchmark_5_counts_only_what_both_sides_confirm(sides, make_match, make_request,
                                                         make_offer):
    school, employer, teacher, host = sides
    match = _accepted(make_match, make_request, make_offer, school, employer)
    encounter = matches.record_delivery(match, by=teacher, delivered_on=days(-1),
                                        pupils_reached=28, criteria=B5_ALL, reflected_pct=75)
    assert encounter.school_criteria == B5_ALL and encounter.reflected_pct == 75
    assert encounter.employer_criteria == [] and encounter.hours == 1.0
    year9 = impact.school_plan(school, YEAR)[2]
    # Delivered: activity (D 1, 28 pupils) but not yet benchmark 5.
    assert year9.cells["talk"].delivered == 1 and year9.pupil_places == 28
    assert year9.cells["talk"].meaningful == 0 and year9.b5 == "unconfirmed"
    # The employer confirms three of the four: still not meaningful.
    meaningful.confirm_criteria(encounter, by=host, side="employer", criteria=B5_ALL[:3])
    assert impact.school_plan(school, YEAR)[2].b5 == "unconfirmed"
    meaningful.confirm_criteria(encounter, by=host, side="employer", criteria=B5_ALL)
    assert impact.school_plan(school, YEAR)[2].b5 == "delivered"


def test_benchmark_6_needs_its_seven_criteria(sides, make_match, make_request, make_offer):
    school, employer, teacher, host = sides
    match = _accepted(make_match, make_request, make_offer, school, employer,
                      type_="work_experience", pupils=4, year_group=10)
    # The four criteria of benchmark 5 are not enough for a workplace.
    with pytest.raises(ServiceError) as err:
        matches.record_delivery(match, by=host, delivered_on=days(-1), pupils_reached=4,
                                criteria=B5_ALL)
    assert err.value.field == "criteria" and "benchmark 6" in err.value.message
    encounter = matches.record_delivery(match, by=host, delivered_on=days(-1), pupils_reached=4,
                                        criteria=B6_ALL)
    meaningful.confirm_criteria(encounter, by=teacher, side="school", criteria=B6_ALL[:-1])
    year10 = impact.school_plan(school, YEAR)[3]
    assert year10.b6 == "unconfirmed" and year10.b5 == "unconfirmed"
    meaningful.confirm_criteria(encounter, by=teacher, side="school", criteria=B6_ALL,
                                reflected_pct=100)
    year10 = impact.school_plan(school, YEAR)[3]
    assert year10.b6 == "delivered" and year10.b5 == "delivered"
    # Only the school gives the share who reflected; each side confirms only its own list.
    with pytest.raises(ServiceError):
        meaningful.confirm_criteria(encounter, by=host, side="employer", criteria=B6_ALL,
                                    reflected_pct=50)
    with pytest.raises(NotAllowed):
        meaningful.confirm_criteria(encounter, by=host, side="school", criteria=B6_ALL)


def test_an_unconfirmed_year_10_placement_does_not_meet_year_11s_benchmark_6(
        make_school, make_request, make_match, make_offer):
    school = make_school()
    match = make_match(request=make_request(school=school, year_group=10,
                                            type="work_experience", **LAST_YEAR),
                       offer=make_offer(type="work_experience"), status="accepted")
    encounter = _deliver(match, days(-310), 20)  # no criteria confirmed
    assert impact.school_plan(school, YEAR)[4].b6 == "gap"
    encounter.school_criteria = encounter.employer_criteria = B6_ALL
    db.session.commit()
    year11 = impact.school_plan(school, YEAR)[4]
    assert year11.b6 == "delivered" and year11.b6_last_year


def test_match_pages_take_each_sides_checklist(client, auth, sides, make_match, make_request,
                                               make_offer):
    school, employer, teacher, host = sides
    match = _accepted(make_match, make_request, make_offer, school, employer)
    auth.login(teacher)
    page = client.get(f"/school/matches/{match.id}").get_data(as_text=True)
    assert "Two-way interaction between the pupils and the employer" in page
    assert "A task or piece of work set by the employer" not in page  # benchmark 6 only
    response = client.post(f"/school/matches/{match.id}/deliver", data={
        "csrf_token": csrf_token_from(page), "delivered_on": days(-1).isoformat(),
        "pupils_reached": "30", "criteria": B5_ALL, "reflected_pct": "60",
    })
    assert response.status_code == 302
    page = client.get(f"/school/matches/{match.id}").get_data(as_text=True)
    assert text_by_id(page, "meaningful").startswith("Not confirmed meaningful")
    assert "60% of the pupils reflected afterwards" in text_by_id(page, "meaningful")
    auth.logout()
    auth.login(host)
    page = client.get(f"/employer/matches/{match.id}").get_data(as_text=True)
    assert "Pupils who reflected afterwards" not in page  # the school's figure
    response = client.post(f"/employer/matches/{match.id}/criteria", data={
        "csrf_token": csrf_token_from(page), "criteria": B5_ALL,
    })
    assert response.status_code == 302
    page = client.get(f"/employer/matches/{match.id}").get_data(as_text=True)
    assert text_by_id(page, "meaningful").startswith("Meaningful Both sides confirmed")
    response = client.post(f"/employer/matches/{match.id}/criteria", data={
        "csrf_token": csrf_token_from(page), "criteria": ["task"],
    })
    assert response.status_code == 400
    assert db.session.get(Encounter, match.encounter.id).employer_criteria == B5_ALL


# ---------------------------------------------------------------- provider encounters
ALL_TOPICS = list(PROVIDER_TOPICS)


def _vetted(make_employer, **kw):
    return make_employer(dbs_checked=True, dbs_renewal_on=days(400),
                         insurance_expires_on=days(400), risk_assessment_on=days(-30), **kw)


def _offer_data(**overrides):
    values = dict(title="Apprenticeships in engineering", type="talk", sector="engineering",
                  year_min=8, year_max=13, capacity=60, earliest=days(10), latest=days(90),
                  delivery="at_school", max_km=20.0)
    values.update(overrides)
    return offers.OfferData(**values)


def test_only_providers_mark_provider_encounters_covering_four_topics(make_employer, make_user):
    college = _vetted(make_employer, kind="college")
    business = _vetted(make_employer, kind="business")
    by = make_user(role="employer", employer_id=college.id)
    with pytest.raises(ServiceError) as err:
        offers.create_offer(business, _offer_data(provider_encounter=True,
                                                  provider_topics=ALL_TOPICS),
                            by=by, today=TODAY)
    assert err.value.field == "provider_encounter"
    with pytest.raises(ServiceError) as err:
        offers.create_offer(college, _offer_data(provider_encounter=True,
                                                 provider_topics=ALL_TOPICS[:3]),
                            by=by, today=TODAY)
    assert err.value.field == "provider_topics" and "What learning" in err.value.message
    offer = offers.create_offer(college, _offer_data(provider_encounter=True,
                                                     provider_topics=ALL_TOPICS),
                                by=by, today=TODAY)
    assert offer.provider_encounter and offer.provider_topics == ALL_TOPICS
    assert offers.copy_offer(offer, by=by, today=days(100)).provider_encounter


@pytest.fixture
def provider_school(make_school, make_employer, make_offer, make_request, make_match):
    """This school year (deadline 28 February):

    - Years 8-9: one delivered provider talk in Year 8 and one accepted for Year 9 before the
      deadline (2 offered, 1 attended); an ordinary employer's talk does not count.
    - Years 10-11: one delivered before the deadline, one booked after it (not counted):
      1 offered, 1 missing.
    - Years 12-13: nothing; a proposal (not booked) does not count: 2 missing.
    """
    school = make_school(careers_leader_name="A. Leader", careers_leader_email="cl@school.test")
    college = make_employer(kind="college", name="Northgate College")
    provider = make_offer(employer=college, provider_encounter=True, title="T levels")
    deadline = clock.provider_deadline(YEAR)
    before = {"earliest": days(-30), "latest": days(-1)}

    def booked(year_group, status, offer=provider, **window):
        return make_match(request=make_request(school=school, year_group=year_group,
                                               **(window or before)),
                          offer=offer, status=status)

    _deliver(booked(8, "accepted"), days(-3), 25)
    booked(9, "accepted", earliest=days(20), latest=days(40))
    _deliver(booked(10, "accepted", offer=make_offer()), days(-4), 25)  # not a provider
    _deliver(booked(10, "accepted"), days(-2), 25)
    late = (deadline - TODAY).days + 5
    booked(11, "approved", earliest=days(late), latest=days(late + 10))
    booked(12, "proposed")
    return school


def test_provider_phases_against_two_by_the_deadline(provider_school):
    phases = {p.years: p for p in impact.provider_phases(provider_school, YEAR)}
    assert phases[(8, 9)].deadline == clock.provider_deadline(YEAR)
    assert (phases[(8, 9)].offered, phases[(8, 9)].attended, phases[(8, 9)].missing) == (2, 1, 0)
    assert phases[(8, 9)].state == "booked"
    ph = phases[(10, 11)]
    assert (ph.offered, ph.attended, ph.missing, ph.after_deadline) == (1, 1, 1, 1)
    assert ph.state == "gap" and ph.mandatory
    assert (phases[(12, 13)].offered, phases[(12, 13)].missing) == (0, 2)
    assert not phases[(12, 13)].mandatory


def test_plan_page_shows_provider_encounters_and_what_is_missing(client, auth, make_user,
                                                                 provider_school):
    auth.login(make_user(role="school", school_id=provider_school.id))
    html = client.get(f"/school/plan?year={YEAR}").get_data(as_text=True)
    rows = {row["Years"]: row for row in table(html, "provider")}
    deadline = clock.provider_deadline(YEAR)
    against = f"Against 2 by {deadline.day} {deadline:%b %Y}"
    assert (rows["8–9"]["Offered"], rows["8–9"]["Attended"]) == ("2", "1")
    assert rows["8–9"][against] == "Booked, 1 still to happen"
    assert rows["10–11"][against] == "1 missing 1 more after the deadline, not counted"
    assert rows["12–13"][against] == "2 missing (attendance optional)"
    assert text_by_id(html, "provider-missing").startswith(
        "Missing: 1 provider encounter for years 10–11; 2 provider encounters for years 12–13."
    )


def test_governors_report_shows_provider_encounters_and_hours(client, auth, make_user,
                                                              provider_school):
    auth.login(make_user(role="school", school_id=provider_school.id))
    html = client.get(f"/school/report?year={YEAR}").get_data(as_text=True)
    rows = {row["Years"]: row for row in table(html, "provider")}
    assert (rows["10–11"]["Offered"], rows["10–11"]["Attended"]) == ("1", "1")
    assert [row.get("Year") or row["0"] for row in table(html, "hours")] == [
        "7", "8", "9", "10", "11"
    ]


def test_public_provider_access_statement_needs_no_sign_in(client, provider_school):
    html = client.get(f"/school/{provider_school.urn}/provider-access").get_data(as_text=True)
    assert "provider access policy statement" in html
    lines = table(html, "provider-lines")
    assert [(line["Year"], line["Status"]) for line in lines] == [
        ("8", "Delivered"), ("10", "Delivered"), ("9", "Booked"),
        ("11", "Booked, after 28 February"),
    ]
    assert all(line["Provider"] == "Northgate College (College)" for line in lines)
    summary = text_by_id(html, "provider-summary")
    assert "Years 10–11: 1 of 2 booked or delivered" in summary and "1 still to arrange" in summary
    # The careers leader is named, but their own address is not published to the world.
    assert "A. Leader" in html and "cl@school.test" not in html
    assert client.get("/school/999999999/provider-access").status_code == 404


def test_a_college_marks_a_provider_encounter_on_the_offer_form(client, auth, make_employer,
                                                                make_user):
    college = _vetted(make_employer, kind="college")
    auth.login(make_user(role="employer", employer_id=college.id))
    page = client.get("/employer/offers/new").get_data(as_text=True)
    assert "A provider encounter (Provider Access Legislation)" in page
    data = {
        "csrf_token": csrf_token_from(page), "title": "T levels in engineering", "type": "talk",
        "sector": "engineering", "year_min": "8", "year_max": "13", "capacity": "60",
        "delivery": "at_school", "max_km": "20", "audience": "mixed",
        "earliest": days(10).isoformat(), "latest": days(90).isoformat(),
        "provider_encounter": "y", "provider_topics": ALL_TOPICS,
    }
    response = client.post("/employer/offers/new", data=data)
    assert response.status_code == 302
    detail = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Provider encounter" in detail


def test_a_business_is_not_offered_the_provider_box(client, auth, make_employer, make_user):
    business = _vetted(make_employer, kind="business")
    auth.login(make_user(role="employer", employer_id=business.id))
    page = client.get("/employer/offers/new").get_data(as_text=True)
    assert "Provider Access Legislation" not in page


# ---------------------------------------------------------------- provider requests, matched
def test_a_request_for_a_provider_encounter_is_matched_only_to_providers(
        make_school, make_request, make_offer, make_employer):
    school = make_school()
    wants_provider = make_request(school=school, pupils=20, provider_only=True)
    business = make_offer(capacity=20, employer=_vetted(make_employer, kind="business"))
    college = make_offer(capacity=20, provider_encounter=True,
                         employer=_vetted(make_employer, kind="college"))
    assert adapter.pair_allowed(wants_provider, business, days(0)) is None
    assert adapter.pair_allowed(wants_provider, college, days(0)) is not None
    adapter.run_matching(clock.now())
    db.session.commit()
    proposed = {(m.request_id, m.offer_id) for m in db.session.scalars(select(Match))}
    assert proposed == {(wants_provider.id, college.id)}


def test_the_request_form_asks_for_a_provider_encounter(client, auth, make_school, make_user):
    school = make_school()
    auth.login(make_user(role="school", school_id=school.id))
    page = client.get("/school/requests/new").get_data(as_text=True)
    assert "Only a provider encounter (Provider Access Legislation)" in page
    response = client.post("/school/requests/new", data={
        "csrf_token": csrf_token_from(page), "type": "talk", "year_group": "9",
        "pupils": "30", "earliest": days(10).isoformat(), "latest": days(40).isoformat(),
        "provider_only": "y",
    })
    assert response.status_code == 302
    assert db.session.scalar(select(EncounterRequest.provider_only))
