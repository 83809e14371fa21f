"""Every figure a page shows means what its label says: small hand-made data, numbers read
off the rendered page beside their labels.

Covers the school, employer, coordinator and admin dashboards, the school's plan and
governors' report, the employer's impact page, the match-run pages, how match pages show
distance, feedback ratings that start empty, and counts that agree with their nouns.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from broker import clock
from broker.extensions import db
from broker.models import Encounter, Feedback, MatchRun, SchoolYearGroup
from broker.services import meaningful
from broker.wording import plural
from tests.conftest import csrf_token_from
from tests.frozen import NOW, TODAY, days
from tests.pagetext import cards, parse, table, text, text_by_id

YEAR = clock.school_year_of(TODAY)
IN_YEAR = {"earliest": days(34), "latest": days(62)}


def _deliver(match, on, pupils):
    """Deliver ``match`` as a meaningful encounter: both sides confirmed every criterion."""
    match.status = "delivered"
    confirmed = [code for code, _ in meaningful.criteria_for(match.offer.type)]
    encounter = Encounter(match=match, delivered_on=on, pupils_reached=pupils,
                          school_criteria=confirmed, employer_criteria=confirmed)
    db.session.add(encounter)
    db.session.commit()
    return encounter


def _vetted(make_employer, **kw):
    return make_employer(
        dbs_checked=True, dbs_renewal_on=days(400), insurance_expires_on=days(400),
        risk_assessment_on=days(-30), **kw,
    )


# ---------------------------------------------------------------- the plan and the report
@pytest.fixture
def hand_made_school(make_school, make_request, make_match, make_employer, make_offer):
    """A school whose every figure is worked out by hand in the tests below.

    This school year:
    - Year 8 talk: one request with only a proposal (awaiting a coordinator): planned.
    - Year 9 workplace visit: 30 pupils, all booked by an approved match: matched.
    - Year 9 mentoring: 60 pupils, 30 booked (accepted): matched and still planned.
    - Year 10 talk and mock interviews delivered to 150 and 120 of 180 pupils;
      a workplace visit proposed (not booked).
    - Year 12: a withdrawn request (nothing).
    Last school year: Year 10 (now Year 11) had work experience, delivered to 170.
    And another school's booked match, which must not show.
    """
    school = make_school(name="Hillside Academy")
    db.session.add_all([SchoolYearGroup(school_id=school.id, year_group=y, pupils=n)
                        for y, n in ((8, 200), (9, 190), (10, 180), (11, 170))])
    db.session.commit()
    employer = make_employer(name="Severn Engineering")
    offer = make_offer(employer=employer)

    def request(**kw):
        return make_request(school=school, **{**IN_YEAR, **kw})

    make_match(request=request(year_group=8, type="talk", pupils=30), offer=offer,
               status="proposed", pupils=30)
    make_match(request=request(year_group=9, type="workplace_visit", pupils=30), offer=offer,
               status="approved", pupils=30)
    make_match(request=request(year_group=9, type="mentoring", pupils=60), offer=offer,
               status="accepted", pupils=30)
    talk = make_match(request=request(year_group=10, type="talk", pupils=150), offer=offer,
                      status="delivered", pupils=150)
    _deliver(talk, days(-10), 150)
    interview = make_match(request=request(year_group=10, type="mock_interview", pupils=120),
                           offer=make_offer(employer=employer, type="mock_interview"),
                           status="delivered", pupils=120)
    encounter = _deliver(interview, days(-5), 120)
    db.session.add(Feedback(encounter=encounter, by_role="school", rating=4, pupil_voice_score=3))
    make_match(request=request(year_group=10, type="workplace_visit", pupils=30), offer=offer,
               status="proposed", pupils=30)
    request(year_group=12, type="talk", status="withdrawn")
    before = make_match(request=make_request(school=school, year_group=10,
                                             type="work_experience", pupils=170,
                                             earliest=days(-300), latest=days(-270),
                                             status="expired"),
                        offer=make_offer(employer=employer, type="work_experience"),
                        status="delivered", pupils=170)
    _deliver(before, days(-280), 170)
    make_match(request=make_request(year_group=8, **IN_YEAR), status="approved")  # elsewhere
    return school


@pytest.fixture
def as_school(client, auth, make_user, hand_made_school):
    auth.login(make_user(role="school", school_id=hand_made_school.id))
    return client


def _rows(html, id_):
    return {row["Year"]: row for row in table(html, id_)}


def test_plan_shows_booked_matches_only_as_matched(as_school):
    html = as_school.get(f"/school/plan?year={YEAR}").get_data(as_text=True)
    rows = _rows(html, "plan")
    # A proposal awaits a coordinator: its request is planned, not "M".
    assert rows["8"]["Employer talk"] == "P 1"
    assert rows["8"]["Gatsby 5"] == "Planned"
    assert rows["9"]["Workplace visit *"] == "M 1"
    assert rows["9"]["Mentoring"] == "M 1 P 1"  # 30 of 60 pupils booked
    assert rows["9"]["Gatsby 5"] == "Matched"
    assert rows["10"]["Employer talk"] == "D 1" and rows["10"]["Mock interviews"] == "D 1"
    assert rows["10"]["Workplace visit *"] == "P 1"
    assert rows["10"]["Gatsby 5"] == "Delivered" and rows["10"]["Gatsby 6"] == "Planned"
    assert rows["11"]["Gatsby 6"] == "Delivered in Year 10"
    assert rows["11"]["Gatsby 5"] == "Gap"
    assert rows["12"]["Employer talk"] == "" and rows["12"]["Gatsby 6"] == "Gap"
    assert rows["8"]["Gatsby 6"] == "n/a"
    # 150 and 120 pupils may overlap: at least 150 of 180 reached, 270 places.
    assert rows["10"]["Pupils reached"] == "at least 150 of 180 270 pupil places"
    assert rows["9"]["Pupils reached"] == "0 of 190"
    assert text_by_id(html, "plan-proposals") == (
        "Awaiting a coordinator: 2 proposals. Not booked yet, so their requests count as "
        "planned."
    )


def test_governors_report_figures(as_school):
    html = as_school.get(f"/school/report?year={YEAR}").get_data(as_text=True)
    assert text_by_id(html, "report-summary") == (
        "2 encounters delivered, with 270 pupil places (each pupil counted once per encounter)."
    )
    rows = _rows(html, "coverage")
    assert rows["10"]["Pupils reached"] == "at least 150 of 180"
    assert rows["10"]["Pupil places"] == "270"
    assert rows["8"]["Gatsby 5 (employers)"] == "Planned"
    assert rows["9"]["Gatsby 5 (employers)"] == "Matched"
    assert rows["11"]["Gatsby 6 (workplaces)"] == "Delivered in Year 10"
    received = table(html, "received")
    assert [(r["Year"], r["Encounter"], r["Pupils"], r["Teacher's rating"], r["Pupils' score"])
            for r in received] == [("10", "Employer talk", "150", "—", "—"),
                                   ("10", "Mock interviews", "120", "4/5", "3/5")]
    # Last school year's report has the work experience only.
    html = as_school.get(f"/school/report?year={YEAR - 1}").get_data(as_text=True)
    assert text_by_id(html, "report-summary").startswith("1 encounter delivered, with 170 pupil")


def test_school_dashboard_figures(as_school, hand_made_school):
    html = as_school.get("/school/").get_data(as_text=True)
    assert cards(html) == {
        "open requests": "6",  # all but the withdrawn one
        "proposals awaiting a coordinator": "2",
        "approved match awaiting answers": "1",
        "encounter confirmed by both sides": "1",
        "encounters delivered": "3",
        "pupil places at delivered encounters": "440",  # 150 + 120 + 170, all years
    }
    assert "1 match waiting for your answer" in text(parse(html))


# ----------------------------------------------------------------------- employer pages
@pytest.fixture
def employer_world(make_employer, make_school, make_offer, make_request, make_match):
    """An employer with three delivered encounters at two schools, hand-counted below."""
    employer = _vetted(make_employer, name="Severn Engineering")
    poor_rural = make_school(fsm_pct=42.0, rural=True)
    well_off = make_school(fsm_pct=8.0)
    talk = make_offer(employer=employer, stem=True, challenges_stereotype=False)
    visit = make_offer(employer=employer, type="workplace_visit", stem=False,
                       challenges_stereotype=True)
    a = make_match(offer=talk, pupils=30, request=make_request(
        school=poor_rural, stem_goal=True, stereotype_goal=True, sen_needs=["autism"]))
    b = make_match(offer=visit, pupils=20, request=make_request(
        school=well_off, type="workplace_visit", stem_goal=True, stereotype_goal=True))
    c = make_match(offer=talk, pupils=10, request=make_request(school=well_off))
    ea = _deliver(a, days(-20), 30)
    eb = _deliver(b, days(-10), 10)
    _deliver(c, days(-300), 10)  # last school year
    db.session.add_all([
        Feedback(encounter=ea, by_role="school", rating=5, pupil_voice_score=4,
                 would_welcome_again=True),
        Feedback(encounter=eb, by_role="school", rating=2),  # "not sure" about again
        Feedback(encounter=eb, by_role="employer", rating=1),  # its own view: left out
    ])
    make_match(offer=talk, status="proposed")
    make_match(offer=talk, status="approved")
    make_match(offer=talk, status="approved", employer_response="accepted")
    make_match(offer=talk, status="accepted")
    make_match(offer=talk, status="superseded")
    make_offer(employer=employer, status="closed")
    make_match(status="delivered")  # another employer's
    db.session.commit()
    return employer


@pytest.fixture
def as_employer(client, auth, make_user, employer_world):
    auth.login(make_user(role="employer", employer_id=employer_world.id))
    return client


def test_employer_dashboard_figures(as_employer):
    html = as_employer.get("/employer/").get_data(as_text=True)
    assert cards(html) == {
        "open offers": "2",
        "proposal awaiting a coordinator": "1",
        "approved matches awaiting answers": "2",
        "encounter confirmed by both sides": "1",
        "encounters delivered": "3",
        "pupil places at delivered encounters": "50",
    }
    assert "1 match waiting for your answer" in text(parse(html))


def test_employer_impact_figures_this_year(as_employer):
    html = as_employer.get(f"/employer/impact?year={YEAR}").get_data(as_text=True)
    assert cards(html) == {
        "pupil places": "40",
        "schools": "2",
        "encounters delivered": "2",
        "of pupil places at disadvantaged schools": "75%",  # 30 of 40
        "of pupil places at rural schools": "75%",
        "of pupil places in groups with SEN needs": "75%",
    }
    assert text_by_id(html, "goal-stem") == (
        "STEM: 1 of 2 encounters where the school wanted to open STEM careers.")
    assert text_by_id(html, "goal-stereotype").startswith(
        "Challenging stereotypes: 1 of 2 encounters where")
    assert text_by_id(html, "said-rating") == (
        "Teachers' rating: 3.5 out of 5 (average of 2 responses)")
    assert text_by_id(html, "said-pupils") == "Pupils' score: 4.0 out of 5 (average of 1 score)"
    assert text_by_id(html, "said-again") == "Would welcome you again: 100% of 1 yes-or-no answer"
    assert table(html, "by-type") == [{"0": "Employer talk", "1": "30"},
                                      {"0": "Workplace visit", "1": "10"}]
    assert "fewer than 3 other schools within 10 km" in html


def test_employer_impact_all_time_matches_the_dashboard(as_employer):
    html = as_employer.get("/employer/impact").get_data(as_text=True)
    figures = cards(html)
    assert (figures["pupil places"], figures["schools"], figures["encounters delivered"]) == (
        "50", "2", "3")
    dashboard = cards(as_employer.get("/employer/").get_data(as_text=True))
    assert dashboard["pupil places at delivered encounters"] == figures["pupil places"]


# ------------------------------------------------------------------- coordinator and admin
@pytest.fixture
def area_world(make_area, make_school, make_user, make_request, make_offer, make_match,
               make_employer):
    mine, theirs = make_area(name="Leeds"), make_area(name="York")
    a, b = make_school(area=mine), make_school(area=mine)
    elsewhere = make_school(area=theirs)
    offer = make_offer(employer=_vetted(make_employer))
    for status in ("proposed", "proposed", "proposed", "approved", "accepted", "rejected",
                   "superseded", "declined"):
        make_match(request=make_request(school=a), offer=offer, status=status)
    delivered = make_match(request=make_request(school=b), offer=offer, status="delivered")
    _deliver(delivered, days(-3), 18)
    for status in ("proposed", "approved"):
        make_match(request=make_request(school=elsewhere), offer=offer, status=status)
    coordinator = make_user(role="coordinator", areas=[mine])
    return dict(coordinator=coordinator, mine=mine, schools=(a, b, elsewhere))


def test_coordinator_dashboard_figures(client, auth, area_world):
    auth.login(area_world["coordinator"])
    html = client.get("/coordinator/").get_data(as_text=True)
    assert cards(html) == {
        "schools in your areas": "2",
        "proposals to review": "3",
        "approved match awaiting answers": "1",
        "encounter confirmed by both sides": "1",
        "encounter delivered": "1",
        # The insights' three numbers: a has approved and accepted matches, b a delivery.
        "schools with no encounter delivered or booked": "0 of 2",
        "pupils reached (40 more booked)": "18",
        "cold spots: requests no offer can reach (0 schools)": "0",
    }
    # The queue the card leads to holds the same proposals.
    queue = client.get("/coordinator/queue").get_data(as_text=True)
    assert "3 in all" in text(parse(queue))


def test_admin_dashboard_figures(client, auth, area_world, make_user, make_offer, make_request):
    admin = make_user(role="admin")
    make_user(role="admin", active=False)
    make_offer(status="closed")
    make_request(school=area_world["schools"][0], status="withdrawn")
    auth.login(admin)
    html = client.get("/admin/").get_data(as_text=True)
    assert cards(html) == {
        "schools": "3",
        "employers": "2",
        "open offer": "1",
        "open requests": "11",
        "proposals awaiting a coordinator": "4",
        "approved matches awaiting answers": "2",
        "encounter confirmed by both sides": "1",
        "encounter delivered": "1",
        "active users": "2",
        "areas": "2",
    }
    html = client.get("/coordinator/").get_data(as_text=True)
    assert cards(html)["schools"] == "3"  # an admin sees every area


# ------------------------------------------------------------------------ match-run pages
def test_run_pages_figures(client, auth, make_user, make_match):
    run = MatchRun(kind="nightly", status="finished", started_at=NOW, finished_at=NOW,
                   figures={"requests": 12, "offers": 5, "schools": 4, "locked": 2,
                            "pupils_requested": 300, "capacity": 250, "proposals": 7,
                            "pupils_matched": 1, "requests_matched": 6, "cold_spots": 1,
                            "status": "optimal", "seconds": {"total": 1.5, "solve": 0.5}},
                   changes={"added": 1, "kept": 5, "withdrawn": 0})
    small = MatchRun(kind="replacement", status="finished", started_at=NOW,
                     figures={"proposals": 1, "pupils_matched": 20, "requests": 3,
                              "cancelled_match_id": 9, "seconds": {"total": 0.1}},
                     changes={"added": 1, "kept": 0, "withdrawn": 0})
    db.session.add_all([run, small])
    db.session.commit()
    make_match(run_id=run.id, status="proposed")
    make_match(run_id=run.id, status="approved")
    make_match(run_id=run.id, status="approved")
    auth.login(make_user(role="coordinator"))
    html = client.get(f"/coordinator/runs/{run.id}").get_data(as_text=True)
    assert cards(html) == {
        "requests considered": "12",
        "pupils still to place": "300",
        "pupil proposed": "1",
        "proposal added": "1",
        "proposals kept from before": "5",
        "proposals withdrawn": "0",
    }
    figures = {row["0"]: row["1"] for row in table(html, "run-figures")}
    assert figures["Open requests considered (with pupils still to place)"] == "12"
    assert figures["Places left on those offers"] == "250"
    assert figures["Open requests no current offer could serve (cold spots)"] == "1"
    assert figures["Seconds: total"] == "1.5"
    assert [text(li) for li in parse(html).by_id("run-matches").find_all("li")] == [
        "2 matches approved", "1 match proposed"]
    # A replacement run did not count pupils still to place: no card says 0.
    html = client.get(f"/coordinator/runs/{small.id}").get_data(as_text=True)
    assert cards(html) == {"requests considered": "3", "pupils proposed": "20",
                           "proposal added": "1", "proposals kept from before": "0",
                           "proposals withdrawn": "0"}
    assert "Cancelled match it replaces" in html
    rows = {r["Run"]: r for r in table(client.get("/coordinator/runs").get_data(as_text=True),
                                       "runs")}
    assert rows[str(run.id)]["Pupils proposed / still to place"] == "1 / 300"
    assert rows[str(run.id)]["Proposals added / kept / withdrawn"] == "1 / 5 / 0"
    assert rows[str(run.id)]["Kind"] == "Nightly"
    assert rows[str(small.id)]["Pupils proposed / still to place"] == "20"


# -------------------------------------------------------------- distance on match pages
@pytest.mark.parametrize("delivery, shown", [("virtual", "Online: no travel"),
                                             ("at_school", "12.3 km")])
def test_match_pages_show_no_distance_for_a_virtual_offer(
    client, auth, make_user, make_match, make_offer, delivery, shown
):
    match = make_match(offer=make_offer(delivery=delivery), km=12.34, status="approved")
    pages = [
        (make_user(role="school", school_id=match.request.school_id),
         f"/school/matches/{match.id}"),
        (make_user(role="employer", employer_id=match.offer.employer_id),
         f"/employer/matches/{match.id}"),
    ]
    for user, url in pages:
        auth.login(user)
        page = parse(client.get(url).get_data(as_text=True))
        facts = page.find_all("dl", cls="facts")[0]
        terms = [text(n) for n in facts.children if getattr(n, "tag", None) == "dt"]
        values = [text(n) for n in facts.children if getattr(n, "tag", None) == "dd"]
        assert dict(zip(terms, values, strict=True))["Distance"] == shown, url
        auth.logout()
    auth.login(make_user(role="admin"))
    html = client.get(f"/coordinator/matches/{match.id}").get_data(as_text=True)
    figures = cards(html)
    assert figures[f"pupils; {shown}"] == "20"
    assert ("km" in " ".join(figures)) == (delivery != "virtual")


# ---------------------------------------------------------------- feedback starts empty
@pytest.mark.parametrize("side", ["school", "employer"])
def test_feedback_rating_starts_empty_and_must_be_chosen(client, auth, make_user, make_match,
                                                         side):
    match = make_match(status="delivered")
    _deliver(match, days(-1), 20)
    user = (make_user(role="school", school_id=match.request.school_id) if side == "school"
            else make_user(role="employer", employer_id=match.offer.employer_id))
    auth.login(user)
    url = f"/{side}/matches/{match.id}"
    html = client.get(url).get_data(as_text=True)
    select_ = next(n for n in parse(html).find_all("select") if n.attrs.get("name") == "rating")
    options = select_.find_all("option")
    assert [o.attrs.get("value") for o in options] == ["", "5", "4", "3", "2", "1"]
    assert [o.attrs.get("value") for o in options if "selected" in o.attrs] == [""]
    assert "required" in select_.attrs
    response = client.post(f"{url}/feedback", data={"csrf_token": csrf_token_from(html),
                                                    "would_welcome_again": "yes"})
    assert response.status_code == 400
    assert "Choose a rating from 1 (poor) to 5 (excellent)." in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Feedback)) == 0
    response = client.post(f"{url}/feedback", data={"csrf_token": csrf_token_from(html),
                                                    "rating": "3"})
    assert response.status_code == 302
    assert db.session.scalar(select(Feedback.rating)) == 3


# -------------------------------------------------------------- counts agree with nouns
def test_plural():
    assert [plural(n, "offer") for n in (0, 1, 2)] == ["0 offers", "1 offer", "2 offers"]
    assert plural(1, "match") == "1 match" and plural(2, "match") == "2 matches"
    assert plural(2, "person", "people") == "2 people"
    assert plural(1, "pupil", with_count=False) == "pupil"


def test_one_of_a_thing_is_singular_on_pages_and_in_emails(client, auth, make_user, make_match,
                                                           make_offer, make_employer):
    from broker.services.notify import notify

    employer = make_employer()  # no insurance or risk assessment
    make_offer(employer=employer, type="workplace_visit")  # so this open offer is blocked
    match = make_match(offer=make_offer(employer=employer), status="approved", pupils=1)
    auth.login(make_user(role="employer", employer_id=employer.id))
    page = text(parse(client.get("/employer/").get_data(as_text=True)))
    assert "1 open offer cannot be matched: the vetting it needs is missing" in page
    assert "1 match waiting for your answer" in page
    assert cards(client.get("/employer/").get_data(as_text=True))["open offers"] == "2"
    message = notify("x@example.org", "match_approved", subject="s", dedupe_key="k",
                     match=match)
    assert f"for 1 Year {match.request.year_group} pupil\n" in message.body_text


def test_one_of_a_thing_is_singular_in_service_messages(make_match, make_offer, make_request):
    from broker.services import calendar
    from broker.services.errors import ServiceError
    from broker.services.matches import check_room

    offer = make_offer(capacity=1)
    match = make_match(offer=offer, status="accepted", pupils=1)
    (event,) = calendar.school_events(match.request.school)
    assert f"(year {match.request.year_group}, 1 pupil)" in event.summary
    with pytest.raises(ServiceError) as refused:
        check_room(offer, make_request(pupils=1), 1)
    assert refused.value.message.endswith("has only 0 of 1 place left; 1 pupil does not fit.")
