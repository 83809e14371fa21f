"""The Compass-shaped export: per benchmark and key phase, the banded share of pupils."""

from __future__ import annotations

import csv
import io

from broker import clock
from broker.extensions import db
from broker.models import Encounter, SchoolYearGroup
from broker.services import compass, meaningful
from tests import pagetext
from tests.frozen import TODAY, days

YEAR = clock.school_year_of(TODAY)


def _cohorts(school, **by_year):
    for y, n in by_year.items():
        db.session.add(SchoolYearGroup(school=school, year_group=int(y[1:]), pupils=n))
    db.session.commit()


def _delivered(make_match, make_request, make_offer, school, year_group, pupils, on, *,
               type_="talk", meaningful_=True, provider=False):
    """A delivered encounter for ``pupils`` of ``year_group``, meaningful unless told."""
    offer = make_offer(type=type_, provider_encounter=provider)
    match = make_match(request=make_request(school=school, year_group=year_group, type=type_,
                                            earliest=on, latest=on),
                       offer=offer, status="delivered", pupils=pupils)
    confirmed = [code for code, _ in meaningful.criteria_for(type_)] if meaningful_ else []
    db.session.add(Encounter(match=match, delivered_on=on, pupils_reached=pupils,
                             school_criteria=confirmed, employer_criteria=confirmed))
    db.session.commit()


def _table(school, year=YEAR):
    return {(r.benchmark.split(":")[0], r.phase): (r.pupils, r.had, r.share, r.band)
            for r in compass.compass_rows(school, year)}


def test_bands_follow_compass_edges():
    assert [compass.band(n, 100) for n in (0, 1, 25, 26, 50, 51, 75, 76, 99, 100)] == [
        "none", "a few", "a few", "some", "some", "most", "most", "nearly all", "nearly all",
        "all",
    ]
    # Between two edges the higher band; short of every pupil is never "all".
    assert compass.band(254, 1000) == "some" and compass.band(999, 1000) == "nearly all"
    assert compass.band(1, 1000) == "a few" and compass.band(0, 0) == ""
    assert [b[0] for b in compass.BANDS] == ["none", "a few", "some", "most", "nearly all",
                                             "all"]


def test_thirty_of_a_hundred_in_year_10_is_some(make_school, make_request, make_match,
                                                 make_offer):
    school = make_school()
    _cohorts(school, y10=100)
    _delivered(make_match, make_request, make_offer, school, 10, 30, days(-10))
    table = _table(school)
    assert table[("Benchmark 5", (10, 11))] == (100, 30, 30.0, "some")
    assert table[("Benchmark 5", (7, 9))] == (0, 0, None, "")  # no cohort entered
    assert table[("Benchmark 6", (10, 11))] == (100, 0, 0.0, "none")  # a talk, not a workplace


def test_every_figure_on_a_small_school(make_school, make_request, make_match, make_offer):
    school = make_school()
    _cohorts(school, y7=100, y8=100, y9=100, y10=100, y11=100, y12=50, y13=50)
    mk = (make_match, make_request, make_offer, school)
    _delivered(*mk, 7, 100, days(-20))                      # all of Year 7
    _delivered(*mk, 9, 40, days(-20))
    _delivered(*mk, 9, 60, days(-15))                       # maybe the same 40: 60 at least
    # Year 8: a provider encounter by the deadline, not confirmed meaningful.
    _delivered(*mk, 8, 25, days(-5), meaningful_=False, provider=True)
    _delivered(*mk, 10, 30, days(-10), type_="work_experience")
    # Last school year's Year 10, this year's Year 11: a workplace visit (benchmark 6 only).
    _delivered(*mk, 10, 100, days(-280), type_="workplace_visit")
    _delivered(*mk, 12, 70, days(-10))                      # more than the cohort of 50
    _delivered(*mk, 13, 50, days(-10))
    # Year 10 provider encounter after 28 February: not eligible this year.
    _delivered(*mk, 10, 100, clock.provider_deadline(YEAR).replace(day=1, month=3),
               meaningful_=False, provider=True)
    assert _table(school) == {
        ("Benchmark 5", (7, 9)): (300, 160, 53.3, "most"),
        ("Benchmark 5", (10, 11)): (200, 30, 15.0, "a few"),
        ("Benchmark 5", (12, 13)): (100, 100, 100.0, "all"),
        ("Benchmark 6", (10, 11)): (200, 130, 65.0, "most"),
        ("Benchmark 6", (12, 13)): (100, 0, 0.0, "none"),
        ("Provider encounters", (8, 9)): (200, 25, 12.5, "a few"),
        ("Provider encounters", (10, 11)): (200, 0, 0.0, "none"),
        ("Provider encounters", (12, 13)): (100, 0, 0.0, "none"),
    }
    provider = {r.phase: (r.attended, r.pal) for r in compass.compass_rows(school, YEAR)
                if r.benchmark == "Provider encounters"}
    assert provider == {(8, 9): (1, "mandatory"), (10, 11): (0, "mandatory"),
                        (12, 13): (0, "offered to all")}
    # Last year: only that workplace visit, a meaningful encounter for Year 10.
    assert _table(school, YEAR - 1)[("Benchmark 5", (10, 11))] == (200, 100, 50.0, "some")


def test_school_downloads_the_csv_from_its_pages(client, auth, make_user, make_school,
                                                  make_request, make_match, make_offer):
    school = make_school()
    _cohorts(school, y10=100)
    _delivered(make_match, make_request, make_offer, school, 10, 30, days(-10))
    auth.login(make_user(role="school", school_id=school.id))
    for page in ("plan", "report"):
        body = client.get(f"/school/{page}?year={YEAR}").get_data(as_text=True)
        assert f"/school/compass.csv?year={YEAR}" in body
    response = client.get(f"/school/compass.csv?year={YEAR}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f'filename="compass-{YEAR}.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["benchmark", "phase", "pupils in phase", "pupils who had it", "share %",
                       "band", "provider encounters attended", "PAL"]
    assert ["Benchmark 5: encounters with employers", "years 10-11", "100", "30", "30.0",
            "some", "", ""] in rows
    assert ["Provider encounters", "years 12-13", "0", "0", "", "", "0",
            "offered to all"] in rows
    assert len(rows) == 1 + 3 + 2 + 3


def test_plan_shows_benchmarks_against_last_year(client, auth, make_user, make_school,
                                                 make_request, make_match, make_offer):
    school = make_school()
    mk = (make_match, make_request, make_offer, school)
    # Last school year: Year 10 had a meaningful workplace visit (benchmarks 5 and 6).
    _delivered(*mk, 10, 100, days(-280), type_="workplace_visit")
    # This year: Year 7 met employers; Year 9 has a talk booked, not yet delivered.
    _delivered(*mk, 7, 90, days(-20))
    make_match(request=make_request(school=school, year_group=9), status="approved")
    by_year = {c.year_group: c for c in compass.against_last_year(school, YEAR)}
    assert [(y, c.b5_last, c.b5_now, c.b6_last, c.b6_now) for y, c in by_year.items()] == [
        (7, "gap", "delivered", None, None),
        (8, "gap", "gap", None, None),
        (9, "gap", "matched", None, None),
        (10, "delivered", "gap", "delivered", "gap"),
        # This year's Year 11 are last year's Year 10: benchmark 6 met the year before.
        (11, "gap", "gap", "gap", "delivered"),
        (12, "gap", "gap", "gap", "gap"),
        (13, "gap", "gap", "gap", "gap"),
    ]
    assert by_year[11].b6_now_from_year_before and not by_year[10].b6_last_from_year_before
    auth.login(make_user(role="school", school_id=school.id))
    html = client.get(f"/school/plan?year={YEAR}").get_data(as_text=True)
    assert "Last year" in pagetext.text_by_id(html, "against-last-year")
    rows = {r["0"]: [r[str(i)] for i in range(1, 5)]
            for r in pagetext.table(html, "against-last-year")}
    assert rows["7"] == ["Gap", "Delivered", "n/a", "n/a"]
    assert rows["9"] == ["Gap", "Matched", "n/a", "n/a"]
    assert rows["10"] == ["Delivered", "Gap", "Delivered", "Gap"]
    assert rows["11"] == ["Gap", "Gap", "Gap", "Delivered in Year 10"]
