"""Impact figures for employers, the school's plan of the year and the governors' report."""

from __future__ import annotations

import pytest

from broker import clock
from broker.extensions import db
from broker.models import Encounter, Feedback, SchoolYearGroup
from broker.services import impact, meaningful
from tests.frozen import TODAY, days

# The school year the frozen today falls in.
YEAR = clock.school_year_of(TODAY)


def _deliver(match, on, pupils):
    """Deliver ``match`` as a meaningful encounter: both sides confirmed every criterion."""
    match.status = "delivered"
    confirmed = [code for code, _ in meaningful.criteria_for(match.offer.type)]
    encounter = Encounter(match=match, delivered_on=on, pupils_reached=pupils,
                          school_criteria=confirmed, employer_criteria=confirmed)
    db.session.add(encounter)
    db.session.commit()
    return encounter


def test_employer_impact(make_employer, make_school, make_offer, make_request, make_match):
    employer = make_employer()
    poor_rural = make_school(fsm_pct=42.0, rural=True)
    well_off = make_school(fsm_pct=8.0)
    stem_offer = make_offer(employer=employer, stem=True, challenges_stereotype=False)
    a = make_match(offer=stem_offer, pupils=30, request=make_request(
        school=poor_rural, stem_goal=True, stereotype_goal=True, sen_needs=["autism"]))
    b = make_match(offer=stem_offer, pupils=20, request=make_request(
        school=well_off, stem_goal=True))
    c = make_match(offer=stem_offer, pupils=10, request=make_request(school=well_off))
    make_match(offer=stem_offer, pupils=99, status="accepted")  # not delivered: not counted
    make_match(pupils=50, status="delivered")  # another employer's
    ea = _deliver(a, days(62), 30)
    eb = _deliver(b, days(90), 18)
    _deliver(c, days(-275), 10)  # an earlier school year
    db.session.add_all([
        Feedback(encounter=ea, by_role="school", rating=5, pupil_voice_score=4,
                 would_welcome_again=True),
        Feedback(encounter=eb, by_role="school", rating=3, would_welcome_again=False),
        Feedback(encounter=eb, by_role="employer", rating=1),  # its own view is left out
    ])
    db.session.commit()
    all_time = impact.employer_impact(employer)
    assert (all_time.encounters, all_time.pupils, all_time.schools) == (3, 58, 2)
    year = impact.employer_impact(employer, year=YEAR)
    assert (year.encounters, year.pupils, year.schools) == (2, 48, 2)
    assert year.pupils_disadvantaged == 30 and year.disadvantaged_share == pytest.approx(62.5)
    assert year.rural_share == pytest.approx(62.5) and year.pupils_sen == 30
    assert (year.stem_goals, year.stem_goals_met) == (2, 2)
    assert (year.stereotype_goals, year.stereotype_goals_met) == (1, 0)
    assert (year.rating, year.pupil_voice, year.welcome_again) == (4.0, 4.0, 50.0)
    assert year.feedback_count == 2
    assert year.by_type == {"talk": 48}
    empty = impact.employer_impact(make_employer())
    assert empty.pupils == 0 and empty.disadvantaged_share is None and empty.rating is None


def test_school_plan_shows_gaps(make_school, make_request, make_match):
    school = make_school()
    db.session.add(SchoolYearGroup(school_id=school.id, year_group=10, pupils=180))
    db.session.commit()
    in_year = {"earliest": days(34), "latest": days(62)}
    make_request(school=school, year_group=8, type="talk", **in_year)  # planned
    visit = make_request(school=school, year_group=10, type="workplace_visit", **in_year)
    make_match(request=visit, status="approved", pupils=25)  # matched: all 25 booked
    delivered = make_match(request=make_request(school=school, year_group=10, type="talk",
                                                **in_year), status="delivered")
    _deliver(delivered, days(40), 150)
    make_request(school=school, year_group=9, type="talk", status="withdrawn", **in_year)
    make_request(school=school, year_group=12, type="talk", earliest=days(304),
                 latest=days(335))  # next school year
    make_request(year_group=11, type="mentoring", **in_year)  # another school
    plans = {p.year_group: p for p in impact.school_plan(school, YEAR)}
    assert list(plans) == [7, 8, 9, 10, 11, 12, 13]
    assert plans[8].cells["talk"].state == "planned" and plans[8].b5 == "planned"
    assert plans[8].b6 is None and plans[9].b5 == "gap"
    assert plans[10].cells["workplace_visit"].matched == 1
    assert plans[10].cells["workplace_visit"].planned == 0  # fully booked: no longer planned
    assert plans[10].cells["talk"].delivered == 1 and plans[10].b5 == "delivered"
    # Benchmark 6 is per cohort: Year 10's booked visit is not Year 11's.
    assert plans[10].b6 == "matched" and plans[11].b6 == "gap"
    assert plans[12].b5 == "gap" and plans[12].b6 == "gap"
    assert plans[10].pupil_places == 150 and plans[10].cohort == 180
    assert impact.school_plan(school, YEAR + 1)[5].b5 == "planned"  # year 12 next year


def test_year_7_is_planned_and_judged_on_benchmark_5(make_school, make_request, make_match):
    """Since the 2025 benchmarks Year 7 needs an employer encounter too (benchmark 5)."""
    school = make_school()
    db.session.add(SchoolYearGroup(school_id=school.id, year_group=7, pupils=120))
    db.session.commit()
    in_year = {"earliest": days(-20), "latest": days(-1)}
    talk = make_match(request=make_request(school=school, year_group=7, type="talk", **in_year),
                      status="delivered")
    _deliver(talk, days(-2), 110)
    year7 = impact.school_plan(school, YEAR)[0]
    assert year7.year_group == 7 and year7.cohort == 120
    assert year7.cells["talk"].delivered == 1 and year7.b5 == "delivered"
    assert year7.b6 is None  # benchmark 6 starts at 16
    assert impact.school_plan(school, YEAR - 1)[0].b5 == "gap"


def test_a_proposal_is_not_booked(make_school, make_request, make_match):
    """A proposal awaiting a coordinator leaves its request planned, never "Matched"."""
    school = make_school()
    in_year = {"earliest": days(34), "latest": days(62)}
    talk = make_request(school=school, year_group=8, type="talk", pupils=30, **in_year)
    make_match(request=talk, status="proposed", pupils=30)
    visit = make_request(school=school, year_group=10, type="workplace_visit", **in_year)
    make_match(request=visit, status="proposed")
    for status in ("rejected", "declined", "superseded", "cancelled"):
        make_match(request=make_request(school=school, year_group=9, type="mentoring",
                                        **in_year), status=status)
    plans = {p.year_group: p for p in impact.school_plan(school, YEAR)}
    talk_cell = plans[8].cells["talk"]
    assert (talk_cell.planned, talk_cell.proposed, talk_cell.matched) == (1, 1, 0)
    assert plans[8].b5 == "planned"
    assert plans[10].b6 == "planned" and plans[10].proposed == 1
    assert plans[9].cells["mentoring"].matched == 0
    assert plans[9].cells["mentoring"].planned == 4  # four open requests, none booked


def test_plan_counts_part_booked_requests_as_planned_too(make_school, make_request, make_match):
    school = make_school()
    req = make_request(school=school, year_group=9, type="mentoring", pupils=60,
                       earliest=days(34), latest=days(62))
    make_match(request=req, status="accepted", pupils=30)
    cell = impact.school_plan(school, YEAR)[2].cells["mentoring"]
    assert (cell.matched, cell.planned) == (1, 1)  # 30 booked, 30 still to find
    make_match(request=req, status="approved", pupils=30)
    cell = impact.school_plan(school, YEAR)[2].cells["mentoring"]
    assert (cell.matched, cell.planned) == (2, 0)


def test_plan_counts_pupils_reached_at_least_not_places(make_school, make_request, make_match):
    school = make_school()
    db.session.add(SchoolYearGroup(school_id=school.id, year_group=10, pupils=180))
    db.session.commit()
    for type_, pupils in (("talk", 150), ("mock_interview", 120)):
        match = make_match(request=make_request(school=school, year_group=10, type=type_,
                                                earliest=days(-20), latest=days(-1)),
                           status="delivered")
        _deliver(match, days(-2), pupils)
    year10 = impact.school_plan(school, YEAR)[3]
    # The same 150 pupils may have gone to both: 270 places, but only 150 surely reached.
    assert (year10.pupil_places, year10.pupils_at_least, year10.cohort) == (270, 150, 180)


def test_benchmark_6_counts_the_cohorts_own_year_before(make_school, make_request, make_match):
    school = make_school()
    last_year = {"earliest": days(-300), "latest": days(-270)}
    # Last school year's Year 10 (this year's Year 11) had work experience.
    done = make_match(request=make_request(school=school, year_group=10,
                                           type="work_experience", **last_year),
                      status="delivered")
    _deliver(done, days(-280), 170)
    # Last year's Year 11 had a talk: not a workplace experience.
    talk = make_match(request=make_request(school=school, year_group=11, type="talk",
                                           **last_year), status="delivered")
    _deliver(talk, days(-280), 160)
    plans = {p.year_group: p for p in impact.school_plan(school, YEAR)}
    assert plans[11].b6 == "delivered" and plans[11].b6_last_year
    assert plans[11].b5 == "gap"  # benchmark 5 is about this school year
    assert plans[10].b6 == "gap"  # this year's Year 10 are other pupils
    assert plans[12].b6 == "gap" and plans[13].b6 == "gap"


def test_governors_report_and_pages(client, auth, make_user, make_school, make_request,
                                    make_match, make_offer, make_employer):
    school = make_school()
    employer = make_employer(name="Severn Engineering")
    match = make_match(request=make_request(school=school, year_group=11),
                       offer=make_offer(employer=employer, type="mock_interview", stem=False,
                                        challenges_stereotype=True), status="delivered")
    encounter = _deliver(match, days(92), 24)
    db.session.add(Feedback(encounter=encounter, by_role="school", rating=4,
                            pupil_voice_score=5))
    db.session.commit()
    lines = impact.governors_report(school, YEAR)
    assert [(li.year_group, li.type, li.employer, li.pupils, li.rating, li.pupil_voice)
            for li in lines] == [(11, "mock_interview", "Severn Engineering", 24, 4, 5)]
    assert impact.governors_report(school, YEAR - 1) == []
    auth.login(make_user(role="school", school_id=school.id))
    body = client.get(f"/school/report?year={YEAR}").get_data(as_text=True)
    assert "Severn Engineering" in body and "Mock interviews" in body and "4/5" in body
    # Printed without the site's header and footer (the print rules live in broker.css).
    assert 'data-print' in body and "broker.css" in body
    body = client.get(f"/school/plan?year={YEAR}").get_data(as_text=True)
    assert "D 1" in body and "Gap" in body
