"""Coordinator pages: the queue, decisions, matches by hand, bulk approval, runs and gaps."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import Match, MatchEvent
from broker.services import matching as adapter
from tests.conftest import csrf_token_from
from tests.frozen import at, days

NOW = at(0, 2)


def _vetted(make_employer, **kw):
    return make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
        **kw,
    )


@pytest.fixture
def world(make_area, make_school, make_user, make_request, make_offer, make_employer):
    mine, theirs = make_area(name="Leeds"), make_area(name="York")
    school = make_school(area=mine, name="Moor Academy")
    other = make_school(area=theirs, name="Minster School")
    coordinator = make_user(role="coordinator", areas=[mine])
    employer = _vetted(make_employer, area_id=mine.id)
    offer = make_offer(employer=employer, capacity=40)
    spare = make_offer(employer=_vetted(make_employer, area_id=mine.id), capacity=40)
    req = make_request(school=school, pupils=20)
    req2 = make_request(school=school, pupils=20, type="talk", year_group=10)
    far = make_request(school=other, pupils=20)
    return dict(
        mine=mine,
        theirs=theirs,
        school=school,
        other=other,
        coordinator=coordinator,
        offer=offer,
        spare=spare,
        req=req,
        req2=req2,
        far=far,
    )


def _proposal(make_match, req, offer, score=10.0, pupils=20):
    return make_match(
        request=req,
        offer=offer,
        pupils=pupils,
        score=score,
        status="proposed",
        reasons="5 km; STEM goal met",
    )


def _post(client, url, data=None, page=None):
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={"csrf_token": csrf_token_from(html), **(data or {})})


def test_queue_is_scoped_sorted_and_filtered(client, auth, world, make_match):
    low = _proposal(make_match, world["req"], world["offer"], score=3.0)
    high = _proposal(make_match, world["req2"], world["spare"], score=9.5)
    hidden = _proposal(make_match, world["far"], world["offer"], score=50.0)
    auth.login(world["coordinator"])
    html = client.get("/coordinator/queue").get_data(as_text=True)
    assert html.index(f"/coordinator/matches/{high.id}") < html.index(
        f"/coordinator/matches/{low.id}"
    )
    assert f'/coordinator/matches/{hidden.id}"' not in html
    assert "5 km; STEM goal met" in html
    filtered = client.get("/coordinator/queue?min_score=5").get_data(as_text=True)
    assert f'/coordinator/matches/{high.id}"' in filtered
    assert f'/coordinator/matches/{low.id}"' not in filtered
    by_school = client.get("/coordinator/queue?school=moor&type=talk").get_data(as_text=True)
    assert f'/coordinator/matches/{low.id}"' in by_school
    assert client.get(f"/coordinator/matches/{hidden.id}").status_code == 404


def test_roles_other_than_coordinator_and_admin_are_refused(client, auth, make_user, world):
    auth.login(make_user(role="school", school_id=world["school"].id))
    assert client.get("/coordinator/queue").status_code == 403


def test_detail_shows_reasons_and_alternatives(client, auth, world, make_match):
    match = _proposal(make_match, world["req"], world["offer"])
    auth.login(world["coordinator"])
    html = client.get(f"/coordinator/matches/{match.id}").get_data(as_text=True)
    assert "5 km; STEM goal met" in html
    assert f"offer {world['spare'].id}" in html  # the alternative the engine considered


def test_approve_and_reject(client, auth, world, make_match):
    a = _proposal(make_match, world["req"], world["offer"])
    b = _proposal(make_match, world["req2"], world["offer"])
    auth.login(world["coordinator"])
    page = f"/coordinator/matches/{a.id}"
    response = _post(client, f"/coordinator/matches/{a.id}/approve", page=page)
    assert response.status_code == 302
    assert db.session.get(Match, a.id).status == "approved"
    response = _post(
        client,
        f"/coordinator/matches/{b.id}/reject",
        {"reason": "too far"},
        page=f"/coordinator/matches/{b.id}",
    )
    assert response.status_code == 302
    rejected = db.session.get(Match, b.id)
    assert rejected.status == "rejected"
    assert db.session.scalars(
        select(MatchEvent.reason).where(MatchEvent.match_id == b.id)
    ).all() == ["too far"]
    # The engine respects it: the nightly run never proposes the pair again.
    adapter.run_matching(NOW)
    db.session.commit()
    again = db.session.scalars(
        select(Match).where(
            Match.request_id == world["req2"].id, Match.offer_id == world["offer"].id
        )
    ).all()
    assert [m.status for m in again] == ["rejected"]


def test_approve_refuses_to_over_allocate(client, auth, world, make_match):
    a = _proposal(make_match, world["req"], world["offer"], pupils=20)
    b = _proposal(make_match, world["req2"], world["offer"], pupils=20)
    world["offer"].capacity = 30
    db.session.commit()
    auth.login(world["coordinator"])
    _post(client, f"/coordinator/matches/{a.id}/approve", page="/coordinator/queue")
    response = _post(client, f"/coordinator/matches/{b.id}/approve", page="/coordinator/queue")
    assert db.session.get(Match, b.id).status == "proposed"
    follow = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "only 10 of 30 places left" in follow


def test_hand_match_uses_the_engine_rules(client, auth, world, make_offer, make_employer):
    auth.login(world["coordinator"])
    # In the coordinator's area and near, but for year groups the request is not.
    older = make_offer(employer=_vetted(make_employer, area_id=world["mine"].id), year_min=12)
    response = _post(
        client,
        "/coordinator/hand-match",
        {"request_id": world["req"].id, "offer_id": older.id, "pupils": 10},
    )
    # Refused like any invalid form: the page again, with the reason, as a 400.
    assert response.status_code == 400
    assert "cannot serve this request under the matching rules" in response.get_data(as_text=True)
    response = _post(
        client,
        "/coordinator/hand-match",
        {"request_id": world["req"].id, "offer_id": world["offer"].id, "pupils": 30},
    )
    assert "would be too many" in response.get_data(as_text=True)
    response = _post(
        client,
        "/coordinator/hand-match",
        {
            "request_id": world["req"].id,
            "offer_id": world["offer"].id,
            "pupils": 15,
            "note": "asked by phone",
        },
    )
    assert response.status_code == 302
    made = db.session.scalars(select(Match)).one()
    assert made.status == "approved" and made.pupils == 15 and made.score > 0
    assert "made by hand" in made.reasons
    # Another area's request is not the coordinator's to match.
    response = _post(
        client,
        "/coordinator/hand-match",
        {"request_id": world["far"].id, "offer_id": world["offer"].id, "pupils": 5},
    )
    assert response.status_code == 404


def test_bulk_approval_confirms_count_and_pupils(client, auth, world, make_match):
    a = _proposal(make_match, world["req"], world["offer"], score=8.0, pupils=20)
    b = _proposal(make_match, world["req2"], world["spare"], score=7.0, pupils=15)
    _proposal(make_match, world["far"], world["spare"], score=9.0)  # another area
    low = _proposal(make_match, world["req2"], world["offer"], score=1.0, pupils=5)
    auth.login(world["coordinator"])
    page = client.get("/coordinator/bulk-approve?min_score=5").get_data(as_text=True)
    assert "<strong>2</strong>" in page and "<strong>35</strong>" in page
    # A stale count (the queue changed since the preview) approves nothing.
    response = client.post(
        "/coordinator/bulk-approve?min_score=5",
        data={"csrf_token": csrf_token_from(page), "expected": "3"},
    )
    assert db.session.get(Match, a.id).status == "proposed"
    response = client.post(
        "/coordinator/bulk-approve?min_score=5",
        data={"csrf_token": csrf_token_from(page), "expected": "2"},
    )
    assert response.status_code == 302
    statuses = {m.id: m.status for m in db.session.scalars(select(Match))}
    assert statuses[a.id] == statuses[b.id] == "approved"
    assert statuses[low.id] == "proposed"


def test_runs_history_and_run_page(client, auth, world):
    run = adapter.run_matching(NOW)
    db.session.commit()
    auth.login(world["coordinator"])
    html = client.get("/coordinator/runs").get_data(as_text=True)
    assert f"/coordinator/runs/{run.id}" in html
    page = client.get(f"/coordinator/runs/{run.id}").get_data(as_text=True)
    assert "pupils proposed" in page and f"/coordinator/queue?run={run.id}" in page
    queue = client.get(f"/coordinator/queue?run={run.id}").get_data(as_text=True)
    assert "Review</a>" in queue


def test_gaps(client, auth, world, make_request, make_offer, make_employer, make_match):
    cold = make_request(school=world["school"], type="careers_fair")
    idle = make_offer(
        employer=_vetted(make_employer, area_id=world["mine"].id),
        title="Nobody's fair",
        type="careers_fair",
        lat=55.9,
        lon=-3.2,
    )
    _proposal(make_match, world["req"], world["offer"])
    auth.login(world["coordinator"])
    # Cold spots are what the nightly match found; before it has looked there are none.
    html = client.get("/coordinator/gaps").get_data(as_text=True)
    assert "has not looked yet" in html
    assert f"<td>{cold.id}</td>" not in html.split("Schools with no encounter")[0]
    run = adapter.run_matching(NOW)
    db.session.commit()
    assert run.figures["cold_spots"] == 1
    html = client.get("/coordinator/gaps").get_data(as_text=True)
    cold_section = html.split("Cold spots")[1].split("Schools with no encounter")[0]
    assert "As found by the nightly match" in cold_section
    assert f"<td>{cold.id}</td>" in cold_section
    assert f"<td>{world['req'].id}</td>" not in cold_section
    assert "Moor Academy" in html.split("Schools with no encounter")[1]
    offers_section = html.split("Offers nobody has been matched to")[1]
    assert f"<td>{idle.id}</td>" in offers_section
    assert f"<td>{world['offer'].id}</td>" not in offers_section
    assert client.get(f"/coordinator/gaps?area={world['theirs'].id}").status_code == 404


def test_gaps_lists_page_on_their_own(client, auth, world, make_offer, make_employer, make_school):
    employer = _vetted(make_employer, area_id=world["mine"].id)
    for i in range(55):  # with the world's two, 57 offers nobody has been matched to
        make_offer(employer=employer, title=f"Idle {i}")
    for i in range(3):
        make_school(area=world["mine"], name=f"Zed School {i}")
    auth.login(world["coordinator"])
    html = client.get("/coordinator/gaps?area=" + str(world["mine"].id)).get_data(as_text=True)
    offers_section = html.split('id="offers"')[1]
    assert "Offers nobody has been matched to (57)" in html
    assert offers_section.count("<tr><td>") == 50
    assert "Page 1 of 2 · 57 in all" in offers_section
    next_link = f'/coordinator/gaps?area={world["mine"].id}&amp;offers_page=2'
    assert next_link in offers_section
    page2 = client.get(next_link.replace("&amp;", "&")).get_data(as_text=True)
    assert page2.split('id="offers"')[1].count("<tr><td>") == 7
    # The other lists stay on their first page and show no pager of their own.
    schools_section = page2.split('id="schools"')[1].split('id="offers"')[0]
    assert "Schools with no encounter this school year (4)" in page2
    assert 'class="pager"' not in schools_section
    # A page past the end shows the last one.
    last = client.get("/coordinator/gaps?offers_page=99").get_data(as_text=True)
    assert "Page 2 of 2" in last.split('id="offers"')[1]


def test_gaps_counts_schools_and_offers_by_what_they_really_had(
    app, make_area, make_school, make_user, make_request, make_offer, make_match
):
    """Hand-made area: which schools had an encounter this school year, which offers are idle."""
    from broker import clock
    from broker.services.coordination import area_gaps
    from tests.frozen import days

    area = make_area(name="Counted")
    agreed, last_year, proposed_only, nothing = (
        make_school(name=n, area=area) for n in ("Agreed", "Last year", "Proposed", "Nothing")
    )
    offer_taken, offer_proposed, offer_rejected, offer_idle = (
        make_offer(title=t) for t in ("Taken", "Proposed", "Rejected", "Idle")
    )
    for offer in (offer_taken, offer_proposed, offer_rejected, offer_idle):
        offer.employer.area_id = area.id
    make_match(request=make_request(school=agreed), offer=offer_taken, status="approved")
    # Delivered, but its window closed before this school year began: it does not count.
    old = make_request(
        school=last_year, earliest=days(-500), latest=days(-400), status="expired"
    )
    make_match(request=old, offer=make_offer(), status="delivered")
    make_match(request=make_request(school=proposed_only), offer=offer_proposed)
    make_match(request=make_request(school=nothing), offer=offer_rejected, status="rejected")
    coordinator = make_user(role="coordinator", areas=[area])
    db.session.flush()

    gaps = area_gaps(coordinator, clock.today())
    assert {s.name for s in gaps.schools_without.items} == {"Last year", "Proposed", "Nothing"}
    assert gaps.schools_without.total == 3
    assert {o.title for o in gaps.unmatched_offers.items} == {"Rejected", "Idle"}
    assert gaps.unmatched_offers.total == 2
