"""Insights: coverage, the three numbers, fairness, exports and the stored nightly snapshot.

A small hand-made world whose every number is worked out in the comments:

Area "Lincolnshire" (a coordinator's):
- S1: 40% FSM, rural; request R1 (25 pupils, STEM goal) delivered by a STEM offer to 25.
- S2: 8% FSM; request R2 (20 pupils, stereotype goal) accepted by a plain offer.
- S3: 30% FSM, special; request R3 (10 pupils, SEN needs) only proposed.
- S4: 5% FSM; request R4 (30 pupils) that no offer can reach (a cold spot).
Area "Kent": S5, 10% FSM, nothing at all.

The top quarter by FSM starts at the 75th percentile of 40, 8, 30, 5, 10: 30%, so S1 and S3.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.insights.models import InsightSnapshot
from broker.models import Encounter
from broker.services import coverage, exports, fairness, insights
from broker.services.matching import run_matching
from tests.conftest import csrf_token_from
from tests.frozen import NOW, TODAY, at, days


@pytest.fixture
def world(make_area, make_school, make_request, make_offer, make_match, make_employer, make_user):
    lincs, kent = make_area(name="Lincolnshire"), make_area(name="Kent")
    s1 = make_school(name="Rural High", area=lincs, fsm_pct=40.0, rural=True, lat=53.3, lon=0.0)
    s2 = make_school(name="Town School", area=lincs, fsm_pct=8.0, lat=53.2, lon=-0.3)
    s3 = make_school(name="Special School", area=lincs, fsm_pct=30.0, kind="special", lat=53.1)
    s4 = make_school(name="Far School", area=lincs, fsm_pct=5.0, lat=53.4, lon=0.2)
    s5 = make_school(name="Kent School", area=kent, fsm_pct=10.0, lat=51.2, lon=1.0)
    employer = make_employer(name="Acme", lat=53.2, lon=-0.2)  # based near Lincoln
    stem = make_offer(employer=employer, stem=True, capacity=40, lat=53.3, lon=0.0)
    plain = make_offer(employer=employer, stem=False, capacity=40, lat=53.2, lon=-0.3)
    r1 = make_request(school=s1, pupils=25, stem_goal=True, earliest=days(-60), latest=days(30))
    r2 = make_request(school=s2, pupils=20, stereotype_goal=True)
    r3 = make_request(school=s3, pupils=10, sen_needs=["autism"])
    make_request(school=s4, pupils=30, has_candidate=False)
    delivered = make_match(request=r1, offer=stem, pupils=25, status="delivered")
    db.session.add(Encounter(match=delivered, delivered_on=days(-10), pupils_reached=25))
    make_match(request=r2, offer=plain, pupils=20, status="accepted")
    make_match(request=r3, offer=plain, pupils=10, status="proposed")
    db.session.commit()
    coordinator = make_user(role="coordinator", areas=[lincs])
    admin = make_user(role="admin")
    return {
        "lincs": lincs,
        "kent": kent,
        "schools": (s1, s2, s3, s4, s5),
        "coordinator": coordinator,
        "admin": admin,
        "employer": employer,
    }


def test_coverage_levels_and_the_three_numbers(world):
    s1, s2, s3, s4, s5 = world["schools"]
    lincs = [world["lincs"].id]
    assert coverage.school_coverage(lincs, TODAY) == {
        s1.id: "delivered",
        s2.id: "booked",
        s3.id: "proposed",
        s4.id: "none",
    }
    h = coverage.headline(lincs, TODAY)
    # Without an encounter delivered or booked: S3 (only proposed) and S4.
    assert (h.schools, h.schools_without, h.share_with) == (4, 2, 50)
    assert (h.pupils_reached, h.pupils_booked) == (25, 20)
    assert (h.cold_spots, h.cold_schools) == (1, 1)
    national = coverage.headline(None, TODAY)
    assert (national.schools, national.schools_without) == (5, 3)


def test_a_coordinator_sees_only_their_areas(world):
    coordinator = world["coordinator"]
    assert coverage.scope(coordinator) == [world["lincs"].id]
    with pytest.raises(coverage.NotAllowed):
        coverage.scope(coordinator, world["kent"].id)
    assert coverage.scope(world["admin"]) is None
    assert coverage.scope(world["admin"], world["kent"].id) == [world["kent"].id]
    names = {s.name for s in coverage.map_schools([world["lincs"].id], TODAY)}
    assert "Kent School" not in names and len(names) == 4


def test_map_marks_cold_spots_and_places_left(world, make_offer, make_employer):
    schools = {s.name: s for s in coverage.map_schools(None, TODAY)}
    assert schools["Far School"].cold == 1 and schools["Rural High"].cold == 0
    # Two offers of 40 at two places: 40 - 25 delivered = 15 left; 40 - 20 - 10 = 10 left.
    points = sorted(coverage.map_offers(TODAY), key=lambda p: p[0])
    assert [(p[2], p[3]) for p in points] == [(1, 10), (1, 15)]


def test_supply_against_demand(world):
    sd = coverage.supply_demand([world["lincs"].id], TODAY)
    # Open talk requests still wanting pupils: R1 0 left, R2 0, R3 0 (proposed holds 10),
    # R4 30. Places left in the area's talks: 15 + 10 (the employer is based in no area,
    # so none count for Lincolnshire).
    assert sd.by_type["talk"][0] == 30
    assert sd.by_area == [("Lincolnshire", 30, 0)]


def test_fairness_this_year_by_hand(world):
    report = fairness.fairness_report([world["lincs"].id], TODAY, None)
    assert report.fsm_threshold == 30.0
    fsm = next(g for g in report.groups if g.key == "fsm")
    # Top quarter (S1, S3): S1 served, S3 only proposed -> 1 of 2 schools; 25 of 35 pupils;
    # goals: S1's STEM goal met by a STEM offer, S3's SEN needs unmet -> 1 of 2.
    assert (fsm.year.schools, fsm.year.served_pct) == (2, 50.0)
    assert fsm.year.pupils_pct == pytest.approx(71.4)
    assert fsm.year.goals_pct == 50.0
    # The rest (S2, S4): S2 served -> 1 of 2; 20 of 50 pupils; S2's stereotype goal not met.
    assert (fsm.year_rest.served_pct, fsm.year_rest.pupils_pct) == (50.0, 40.0)
    assert fsm.year_rest.goals_pct == 0.0
    special = next(g for g in report.groups if g.key == "special")
    assert (special.year.schools, special.year.served_pct) == (1, 0.0)
    rural = next(g for g in report.groups if g.key == "rural")
    assert (rural.year.schools, rural.year.served_pct, rural.year.goals_pct) == (1, 100.0, 100.0)


def test_fairness_against_first_come_reads_the_snapshot(world):
    s1, s2, s3, s4, _ = world["schools"]
    row = InsightSnapshot(
        computed_for=TODAY,
        schools=[
            # id, requests, pupils, goals, opt served, opt pupils, opt met, fcfs served, pupils, met
            [s1.id, 1, 25, 1, 1, 25, 1, 0, 0, 0],
            [s3.id, 1, 10, 1, 1, 10, 1, 0, 0, 0],
            [s2.id, 1, 20, 1, 1, 20, 0, 1, 20, 0],
            [s4.id, 1, 30, 0, 0, 0, 0, 1, 30, 0],
        ],
        gains=[],
        figures={},
    )
    db.session.add(row)
    db.session.commit()
    report = fairness.fairness_report([world["lincs"].id], TODAY, insights.latest_snapshot())
    fsm = next(g for g in report.groups if g.key == "fsm")
    assert (fsm.optimal.served_pct, fsm.fcfs.served_pct) == (100.0, 0.0)
    assert (fsm.optimal.pupils_pct, fsm.fcfs.pupils_pct) == (100.0, 0.0)
    assert (fsm.optimal_rest.served_pct, fsm.fcfs_rest.served_pct) == (50.0, 100.0)
    assert fsm.fcfs_rest.pupils_pct == 100.0
    assert (report.all_optimal.schools, report.all_optimal.served_pct) == (4, 75.0)


def test_refresh_compares_the_matcher_with_first_come_first_served(
    app, make_area, make_school, make_request, make_offer, make_employer
):
    # The city school asked first and is nearer O1; first come, first served gives it O1 and
    # leaves the rural school (29 km from O2, which reaches 10 km) with nothing. The matcher
    # sends the city school to O2 and the rural school to O1.
    area = make_area(name="Northamptonshire")
    city = make_school(name="City", area=area, lat=52.0, lon=-1.0, fsm_pct=10.0)
    rural = make_school(name="Rural", area=area, lat=52.2, lon=-1.0, fsm_pct=45.0, rural=True)
    employer = make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
    )
    make_offer(employer=employer, lat=52.05, lon=-1.0, capacity=10, max_km=30.0)
    make_offer(employer=employer, lat=51.94, lon=-1.0, capacity=10, max_km=10.0)
    make_request(school=city, pupils=10)
    make_request(school=rural, pupils=10)
    cold = make_request(school=rural, pupils=12, type="workplace_visit", year_group=10)
    run = run_matching(NOW)
    db.session.commit()

    snapshot = insights.refresh_insights(NOW, run=run)
    db.session.commit()

    rows = {r[0]: r for r in snapshot.schools}
    # [id, requests, pupils, goals, opt served, opt pupils, opt met, fcfs served, pupils, met]
    assert rows[city.id][4:6] == [1, 10] and rows[city.id][7:9] == [1, 10]
    assert rows[rural.id][1:3] == [2, 22]
    assert rows[rural.id][4:6] == [1, 10] and rows[rural.id][7:9] == [0, 0]
    assert snapshot.run_id == run.id
    assert snapshot.figures["areas"][str(area.id)] == [2, 2, 20, 1]
    # One more workplace visit for year 10 near the rural school would serve its 12 pupils;
    # it already has a proposal this year, so it is not "with none".
    visit = [g for g in snapshot.gains if g["type"] == "workplace_visit"]
    assert visit and visit[0]["year"] == 10 and visit[0]["schools"] == [rural.id]
    assert visit[0]["pupils"] == 12 and visit[0]["new_schools"] == []
    assert visit[0]["areas"] == [area.id]
    assert all(g["type"] != "talk" for g in snapshot.gains)  # every talk pupil is matched
    report = fairness.fairness_report(None, days(0), insights.latest_snapshot())
    rural_row = next(g for g in report.groups if g.key == "rural")
    assert (rural_row.optimal.served_pct, rural_row.fcfs.served_pct) == (100.0, 0.0)
    assert cold.id  # the cold request is not a talk: no offer of its type exists


def test_formula_injection_is_neutralised_in_every_export(
    world, make_school, make_request, make_offer, make_match, make_employer
):
    evil = make_school(
        name='=HYPERLINK("http://evil.example","x")', area=world["lincs"], fsm_pct=1.0
    )
    employer = make_employer(name="@SUM(A1:A9)")
    offer = make_offer(employer=employer, sector="+cmd|' /C calc'!A0")
    make_match(request=make_request(school=evil), offer=offer, status="approved", pupils=5)
    for text in (
        exports.coverage_csv(None, TODAY),
        exports.encounters_csv(None, None, TODAY),
    ):
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")], cells
        assert not [c for c in cells if c.startswith("-") and not _number(c)]
    text = exports.encounters_csv(None, None, TODAY)
    assert "'=HYPERLINK(" in text and "'@SUM(A1:A9)" in text and "'+cmd" in text
    assert exports.safe_cell("-2+3") == "'-2+3"
    assert exports.safe_cell(-3) == -3 and exports.safe_cell(2.5) == 2.5


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_encounters_export_lists_this_years_booked_and_delivered_per_year_group(world):
    rows = list(csv.DictReader(io.StringIO(exports.encounters_csv(None, None, TODAY))))
    assert [(r["school"], r["year_group"], r["status"], r["pupils"]) for r in rows] == [
        ("Rural High", "9", "delivered", "25"),
        ("Town School", "9", "accepted", "20"),
    ]
    assert rows[0]["date"] == days(-10).isoformat()
    s1 = world["schools"][0]
    own = list(csv.DictReader(io.StringIO(exports.encounters_csv([s1.id], None, TODAY))))
    assert [r["school"] for r in own] == ["Rural High"]


def test_coverage_export_counts_per_school(world):
    rows = {
        r["school"]: r
        for r in csv.DictReader(io.StringIO(exports.coverage_csv([world["lincs"].id], TODAY)))
    }
    assert set(rows) == {"Rural High", "Town School", "Special School", "Far School"}
    assert rows["Rural High"]["coverage"] == "delivered"
    assert (rows["Rural High"]["encounters_delivered"], rows["Rural High"]["pupils_reached"]) == (
        "1",
        "25",
    )
    assert rows["Town School"]["pupils_booked"] == "20"
    assert (rows["Far School"]["open_requests"], rows["Far School"]["cold_spot_requests"]) == (
        "1",
        "1",
    )


def test_coverage_by_month_counts_schools_reached_so_far(world):
    months, schools = coverage.coverage_by_month(None, TODAY)
    assert schools == 5
    delivered_month = days(-10).replace(day=1)
    reached = {m.month: m.schools_reached for m in months}
    assert reached[delivered_month] == 1
    assert sum(m.pupils for m in months) == 25
    assert months[0].month.month == 9 and len(months) == 11


def test_run_history_uses_each_runs_snapshot_for_areas(world):
    from broker.models import MatchRun

    run = MatchRun(kind="nightly", status="finished", started_at=at(-1, 2))
    run.figures = {"pupils_matched": 500, "cold_spots": 7}
    db.session.add(run)
    db.session.flush()
    lincs = str(world["lincs"].id)
    db.session.add(
        InsightSnapshot(
            run_id=run.id,
            computed_for=TODAY,
            schools=[],
            gains=[],
            figures={
                "areas": {"all": [10, 8, 400, 5], lincs: [4, 3, 55, 1]},
                "cold_spots": {lincs: 2},
            },
        )
    )
    db.session.commit()
    [national] = coverage.run_history(None)
    assert (national.pupils_matched, national.cold_spots, national.share_served) == (500, 7, 80)
    [area] = coverage.run_history([world["lincs"].id])
    assert (area.pupils_matched, area.cold_spots, area.schools_served) == (55, 2, 3)
    assert area.share_served == 75


def test_insight_snapshot_is_read_once_per_app(app, world):
    assert insights.latest_snapshot() is None
    db.session.add(InsightSnapshot(computed_for=TODAY, schools=[], gains=[{"x": 1}], figures={}))
    db.session.commit()
    first = insights.latest_snapshot()
    assert first is not None and first.gains == [{"x": 1}]
    assert insights.latest_snapshot() is first
    assert db.session.scalar(select(InsightSnapshot.id)) == first.id


# ------------------------------------------------------------------------------- the pages
GAIN = {
    "place": "Boston",
    "lat": 52.976,
    "lon": -0.027,
    "type": "workplace_visit",
    "year": 10,
    "points": 321.5,
    "pupils": 36,
    "places": 12,
    "schools": [],
    "new_schools": [],
    "sen": [],
    "areas": [],
}


@pytest.fixture
def snapshot(world):
    s1, s2, s3, s4, s5 = world["schools"]
    gains = [
        dict(
            GAIN,
            schools=[s4.id, s3.id, s2.id],
            new_schools=[s4.id, s3.id, s2.id],
            areas=[world["lincs"].id],
        ),
        dict(
            GAIN,
            place="Dover",
            lat=51.13,
            lon=1.31,
            type="talk",
            year=9,
            schools=[s5.id],
            new_schools=[s5.id],
            areas=[world["kent"].id],
        ),
    ]
    row = InsightSnapshot(computed_for=TODAY, schools=[], gains=gains, figures={})
    db.session.add(row)
    db.session.commit()
    return row


def _school_links(html: str) -> set[str]:
    return set(re.findall(r'href="/insights/schools/(\d+)"', html))


def test_coordinator_overview_leads_with_numbers_map_and_suggestions(
    client,
    auth,
    world,
    snapshot,
):
    auth.login(world["coordinator"])
    html = client.get("/insights/").get_data(as_text=True)
    assert "2 of 4" in html  # schools with no encounter delivered or booked
    assert "<svg" in html and 'class="map"' in html
    ids = {str(s.id) for s in world["schools"][:4]}
    assert _school_links(html) >= ids
    assert str(world["schools"][4].id) not in _school_links(html)  # Kent is not theirs
    assert (
        "A workplace visit for year 10 within 20 km of Boston would serve 3 schools with none "
        "this year (36 pupils)." in html
    )
    assert "Dover" not in html


def test_other_areas_and_roles_are_refused(client, auth, world, make_user, make_school):
    auth.login(world["coordinator"])
    assert client.get(f"/insights/?area={world['kent'].id}").status_code == 404
    assert client.get(f"/insights/schools/{world['schools'][4].id}").status_code == 404
    assert client.get("/insights/employer").status_code == 403
    assert client.get("/insights/my-school/encounters.csv").status_code == 403
    auth.logout()
    school_user = make_user(role="school", school=world["schools"][0])
    auth.login(school_user)
    for path in ("/insights/", "/insights/fairness", "/insights/export/coverage.csv"):
        assert client.get(path).status_code == 403, path
    own = client.get("/insights/my-school/encounters.csv")
    assert own.status_code == 200 and own.mimetype == "text/csv"
    assert "Rural High" in own.get_data(as_text=True)
    assert "Town School" not in own.get_data(as_text=True)
    auth.logout()
    assert client.get("/insights/").status_code == 302  # to sign in


def test_admin_sees_the_country_and_any_area(client, auth, world, snapshot):
    auth.login(world["admin"])
    html = client.get("/insights/").get_data(as_text=True)
    assert "3 of 5" in html
    assert len(_school_links(html)) == 5
    kent = client.get(f"/insights/?area={world['kent'].id}").get_data(as_text=True)
    assert _school_links(kent) == {str(world["schools"][4].id)}
    assert "Dover" in kent


def test_every_staff_page_answers_with_its_figures(client, auth, world, snapshot):
    auth.login(world["coordinator"])
    fair = client.get("/insights/fairness").get_data(as_text=True)
    assert "30.0% FSM or more" in fair
    assert "71%" in fair  # the top quarter's pupils matched this year (25 of 35)
    charts = client.get("/insights/charts").get_data(as_text=True)
    assert charts.count('class="chart"') >= 3 and "<table" in charts
    needs = client.get("/insights/needs?type=workplace_visit").get_data(as_text=True)
    assert "Boston" in needs and "Special School" in needs
    assert client.get("/insights/needs?type=nonsense").status_code == 404
    school = client.get(f"/insights/schools/{world['schools'][3].id}").get_data(as_text=True)
    assert "no: a cold spot" in school
    for path, name in (
        ("/insights/export/coverage.csv", "coverage.csv"),
        ("/insights/export/encounters.csv", "encounters.csv"),
        ("/insights/export/runs.csv", "match-runs.csv"),
    ):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert name in response.headers["Content-Disposition"]


def test_pages_fetch_nothing_from_other_hosts(client, auth, world, snapshot):
    auth.login(world["admin"])
    for path in ("/insights/", "/insights/needs", "/insights/fairness", "/insights/charts"):
        html = client.get(path).get_data(as_text=True)
        # The SVG namespace is a name, not a request; nothing else may point off the site.
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", html)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (path, urls)


def test_coordinator_dashboard_leads_with_the_map_and_three_numbers(
    client,
    auth,
    world,
):
    auth.login(world["coordinator"])
    html = client.get("/coordinator/").get_data(as_text=True)
    lead = html.index('id="lead-map"')
    assert lead < html.index("Review the queue")
    assert "2 of 4" in html and "cold spots" in html


def test_employers_see_where_their_kind_of_offer_is_needed(
    client,
    auth,
    world,
    snapshot,
    make_user,
    make_offer,
):
    acme = world["employer"]
    user = make_user(role="employer", employer=acme)
    # Acme's offers are talks near Lincolnshire: the Boston visit is not its kind; Dover is
    # too far. Offering a workplace visit makes Boston show.
    auth.login(user)
    html = client.get("/insights/employer").get_data(as_text=True)
    assert "Boston" not in html and "Dover" not in html
    make_offer(employer=acme, type="workplace_visit", lat=53.3, lon=0.0)
    html = client.get("/insights/employer").get_data(as_text=True)
    assert "A workplace visit for year 10 within 20 km of Boston" in html
    assert "Dover" not in html
    assert client.get("/insights/").status_code == 403


def test_admin_can_recompute_now(client, auth, world):
    auth.login(world["admin"])
    page = client.get("/insights/needs").get_data(as_text=True)
    assert "Nothing yet" in page
    token = csrf_token_from(page)
    response = client.post("/insights/refresh", data={"csrf_token": token})
    assert response.status_code == 302
    assert db.session.query(InsightSnapshot).count() == 1
    auth.logout()
    auth.login(world["coordinator"])
    # Signing in gives a new CSRF token: read it from a page the coordinator may see.
    token = csrf_token_from(client.get("/insights/").get_data(as_text=True))
    assert client.post("/insights/refresh", data={"csrf_token": token}).status_code == 403


def test_a_coordinator_of_two_areas_gets_a_map_of_each(client, auth, world, make_user):
    both = make_user(role="coordinator", areas=[world["lincs"], world["kent"]])
    auth.login(both)
    html = client.get("/insights/").get_data(as_text=True)
    assert html.count('<svg class="map"') == 2
    assert "Coverage map of Kent" in html and "Coverage map of Lincolnshire" in html
    assert len(_school_links(html)) == 5
    one = client.get(f"/insights/?area={world['kent'].id}").get_data(as_text=True)
    assert one.count('<svg class="map"') == 1


def test_an_admins_dashboard_leads_with_the_countrys_numbers_without_the_big_map(
    client, auth, world
):
    auth.login(world["admin"])
    html = client.get("/coordinator/").get_data(as_text=True)
    assert "England this school year" in html and "3 of 5" in html
    assert 'class="map"' not in html


def test_national_figures_are_kept_a_few_minutes_and_an_areas_never(
    client, auth, world, make_school, monkeypatch
):
    from broker.insights import pages

    clock_now = [1000.0]
    monkeypatch.setattr(pages.time, "monotonic", lambda: clock_now[0])
    auth.login(world["admin"])
    assert "3 of 5" in client.get("/insights/").get_data(as_text=True)
    make_school(name="New School", area=world["kent"])
    assert "3 of 5" in client.get("/insights/").get_data(as_text=True)  # kept
    kent = client.get(f"/insights/?area={world['kent'].id}").get_data(as_text=True)
    assert "2 of 2" in kent  # an area's figures are live
    clock_now[0] += pages.NATIONAL_SECONDS + 1
    assert "4 of 6" in client.get("/insights/").get_data(as_text=True)


def test_the_suggestions_page_names_the_best_place_for_each_kind(client, auth, world, snapshot):
    from broker.services.insights import best_per_type

    s4 = world["schools"][3]
    extra = dict(GAIN, place="Skegness", points=999.0, schools=[s4.id], areas=[world["lincs"].id])
    # A later run finds a better workplace visit, listed first.
    db.session.add(
        InsightSnapshot(computed_for=TODAY, schools=[], gains=[extra, *snapshot.gains], figures={})
    )
    db.session.commit()
    snap = insights.latest_snapshot()
    best = best_per_type(snap, [world["lincs"].id])
    assert [(g["type"], g["place"]) for g in best] == [("workplace_visit", "Skegness")]
    assert [g["place"] for g in best_per_type(snap, None)] == ["Skegness", "Dover"]
    auth.login(world["coordinator"])
    html = client.get("/insights/needs").get_data(as_text=True)
    assert "The best place for each kind of encounter" in html
    assert "within 20 km of Skegness" in html
