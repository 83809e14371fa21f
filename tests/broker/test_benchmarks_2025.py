"""The 2025 benchmarks on a small hand-made school: work experience hours against 50 per pupil,
meaningful encounters for benchmarks 5 and 6, and provider encounters (Provider Access
Legislation). Every figure is worked out by hand in the comments."""

from __future__ import annotations

import pytest

from broker import clock
from broker.extensions import db
from broker.models import Encounter, SchoolYearGroup
from broker.services import impact
from tests.frozen import TODAY, days
from tests.pagetext import table

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
