"""The engine adapter: inputs from the database, the nightly run, and incremental proposals."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from broker.extensions import db
from broker.models import Match, MatchEvent, MatchRun, OutboxMessage, SchoolBlackout
from broker.services import matching as adapter
from broker.services.matches import cancel_match
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


def test_load_inputs_uses_remaining_demand_capacity_and_locked(
    app, make_school, make_request, make_offer, make_match, make_employer
):
    school = make_school()
    req = make_request(school=school, pupils=30)
    offer = make_offer(capacity=50, employer=_vetted(make_employer))
    full = make_offer(capacity=10, employer=_vetted(make_employer))
    make_match(request=req, offer=offer, pupils=10, status="approved")
    make_match(request=req, offer=full, pupils=10, status="accepted")
    make_request(school=school, status="withdrawn")
    make_request(school=school, latest=days(-1), earliest=days(-30))
    rejected = make_offer(employer=_vetted(make_employer))
    make_match(request=req, offer=rejected, pupils=5, status="rejected")
    proposal = make_match(request=req, offer=rejected, pupils=5, status="proposed")
    db.session.add(
        SchoolBlackout(
            school=school, starts_on=days(40), ends_on=days(42), reason="exams"
        )
    )
    db.session.commit()

    inputs = adapter.load_inputs(days(0))

    assert [r.request_id for r in inputs.requests] == [req.id]
    # 10 pupils are held on the full offer (left out), so 20 remain, 10 of them locked here.
    assert inputs.requests[0].pupils == 20
    assert inputs.requests[0].earliest == days(31)
    assert {o.offer_id for o in inputs.offers} == {offer.id, rejected.id}
    assert [(lk.request_id, lk.offer_id, lk.pupils) for lk in inputs.locked] == [
        (req.id, offer.id, 10)
    ]
    assert inputs.pupils_requested == 10
    assert inputs.forbidden == [(req.id, rejected.id)]
    assert inputs.previous == [(req.id, rejected.id)]
    assert inputs.proposals == {(req.id, rejected.id): [proposal.id]}
    (s,) = inputs.schools
    # The request's accepted match counts once, through its locked row in the engine.
    assert s.encounters_so_far == 0
    assert s.sectors_seen == frozenset({"engineering"})
    assert s.avoid_dates == ((days(40), days(42)),)


def test_offers_blocked_by_vetting_are_left_out(app, make_request, make_offer, make_employer):
    make_request(type="workplace_visit")
    make_offer(
        type="workplace_visit",
        delivery="at_workplace",
        employer=make_employer(insurance_expires_on=None),
    )
    ok = make_offer(
        type="workplace_visit", delivery="at_workplace", employer=_vetted(make_employer)
    )
    inputs = adapter.load_inputs(days(0))
    assert [o.offer_id for o in inputs.offers] == [ok.id]


def test_run_replaces_proposals_and_records_changes(
    app, make_school, make_request, make_offer, make_employer, make_user
):
    school = make_school()
    coordinator = make_user(role="coordinator", areas=[school.area])
    make_user(role="coordinator", areas=[])
    r1 = make_request(school=school, pupils=20)
    r2 = make_request(school=make_school(area=school.area), pupils=20)
    o1 = make_offer(capacity=20, employer=_vetted(make_employer))
    run = adapter.run_matching(NOW)
    db.session.commit()
    first = {(m.request_id, m.offer_id): m for m in db.session.scalars(select(Match))}
    assert len(first) == 1 and run.status == "finished"
    assert run.changes["added"] == 1 and run.changes["withdrawn"] == 0
    assert run.figures["requests"] == 2 and run.figures["pupils_requested"] == 40
    assert run.figures["pupils_matched"] == 20
    assert set(run.figures["seconds"]) >= {"load", "candidates", "solve", "save", "total"}
    assert run.figures["objective"] <= run.figures["upper_bound"] + 1e-6
    (m,) = first.values()
    assert m.reasons and m.terms and m.run_id == run.id
    mail = db.session.scalars(select(OutboxMessage)).all()
    assert [x.to_email for x in mail] == [coordinator.email]

    # A second offer: the kept proposal stays (updated in place), a new one is added.
    make_offer(capacity=20, employer=_vetted(make_employer))
    run2 = adapter.run_matching(NOW + timedelta(days=1))
    db.session.commit()
    assert run2.changes == {
        "added": 1,
        "kept": 1,
        "withdrawn": 0,
        "pupils_added": 20,
        "previous_run_id": run.id,
    }
    assert db.session.get(Match, m.id).run_id == run2.id
    assert len(db.session.scalars(select(OutboxMessage)).all()) == 2  # one per coordinator run

    # The offer closes: its proposal is withdrawn (superseded), with a history event.
    o1.status = "closed"
    db.session.commit()
    run3 = adapter.run_matching(NOW + timedelta(days=2))
    db.session.commit()
    assert run3.changes["withdrawn"] == 1
    gone = db.session.scalars(select(Match).where(Match.offer_id == o1.id)).one()
    assert gone.status == "superseded"
    assert db.session.scalars(
        select(MatchEvent.to_status).where(MatchEvent.match_id == gone.id)
    ).all() == ["proposed", "superseded"]
    assert {r1.id, r2.id} >= {
        m.request_id for m in db.session.scalars(select(Match).where(Match.status == "proposed"))
    }


def test_rejected_pair_is_never_proposed_again(app, make_request, make_offer, make_employer):
    req = make_request()
    offer = make_offer(employer=_vetted(make_employer))
    adapter.run_matching(NOW)
    db.session.commit()
    m = db.session.scalars(select(Match)).one()
    m.status = "rejected"
    db.session.commit()
    run = adapter.run_matching(NOW + timedelta(days=1))
    db.session.commit()
    assert run.figures["proposals"] == 0
    assert db.session.scalars(
        select(Match.status).where(Match.request_id == req.id, Match.offer_id == offer.id)
    ).all() == ["rejected"]


def test_empty_run(app):
    run = adapter.run_matching(NOW)
    db.session.commit()
    assert run.status == "finished" and run.figures["proposals"] == 0


def test_cancellation_proposes_a_replacement_at_once(
    app, make_school, make_request, make_offer, make_employer, make_user, make_match
):
    school = make_school()
    admin = make_user(role="admin")
    req = make_request(school=school, pupils=20)
    first = make_offer(capacity=20, employer=_vetted(make_employer))
    second = make_offer(capacity=20, employer=_vetted(make_employer))
    match = make_match(request=req, offer=first, pupils=20, status="approved")
    cancel_match(match, by=admin, reason="speaker ill")
    db.session.commit()
    new = db.session.scalars(select(Match).where(Match.status == "proposed")).all()
    assert [(m.request_id, m.offer_id, m.pupils) for m in new] == [(req.id, second.id, 20)]
    run = db.session.get(MatchRun, new[0].run_id)
    assert run.kind == "replacement" and run.figures["cancelled_match_id"] == match.id


def test_replacement_loads_the_neighbourhood_and_still_finds_the_best_pair(
    app, make_school, make_request, make_offer, make_employer, make_user, make_match
):
    """After a cancellation, the freed places go to a request within the offer's reach; a
    request 300 km away is not loaded at all, unless the offer is virtual."""
    admin = make_user(role="admin")
    cancelled_req = make_request(school=make_school(), pupils=20)
    near = make_request(school=make_school(lat=51.55, lon=-0.10), pupils=20)
    far = make_request(school=make_school(lat=53.96, lon=-1.08), pupils=20)  # York
    offer = make_offer(capacity=20, max_km=25, employer=_vetted(make_employer))
    match = make_match(request=cancelled_req, offer=offer, pupils=20, status="approved")
    cancelled_req.status = "withdrawn"
    cancel_match(match, by=admin, reason="school closed")
    db.session.commit()
    new = db.session.scalars(select(Match).where(Match.status == "proposed")).all()
    assert [(m.request_id, m.offer_id) for m in new] == [(near.id, offer.id)]
    run = db.session.get(MatchRun, new[0].run_id)
    # The cancelled request (known to the engine with nothing left) and the near one.
    assert run.figures["requests"] == 2

    virtual = make_offer(
        capacity=40, delivery="virtual", employer=_vetted(make_employer), title="Online"
    )
    second = make_match(request=near, offer=virtual, pupils=20, status="approved")
    db.session.flush()
    cancel_match(second, by=admin, reason="moved")
    db.session.commit()
    online = db.session.scalars(
        select(Match).where(Match.status == "proposed", Match.offer_id == virtual.id)
    ).all()
    assert far.id in {m.request_id for m in online}


def test_new_offer_gets_proposals(app, make_request, make_offer, make_employer):
    req = make_request(pupils=10)
    offer = make_offer(capacity=30, employer=_vetted(make_employer))
    made = adapter.propose_for_new_offer(offer, by=None)
    assert [(m.request_id, m.pupils, m.status) for m in made] == [(req.id, 10, "proposed")]


def test_pair_allowed_and_alternatives_use_the_engine_rules(
    app, make_request, make_offer, make_employer
):
    req = make_request(year_group=9)
    good = make_offer(employer=_vetted(make_employer))
    far = make_offer(employer=_vetted(make_employer), lat=55.0, lon=-3.0)
    wrong_year = make_offer(employer=_vetted(make_employer), year_min=11, year_max=13)
    today = days(0)
    assert adapter.pair_allowed(req, good, today) is not None
    assert adapter.pair_allowed(req, far, today) is None
    assert adapter.pair_allowed(req, wrong_year, today) is None
    alts = adapter.alternatives_for(req, today)
    assert [o.id for _c, o in alts] == [good.id]
    assert adapter.cold_spot_requests(None, today) == []
    lonely = make_request(type="careers_fair")
    assert adapter.cold_spot_requests(None, today) == [lonely.id]


def test_cold_spots_in_an_area_keep_offers_at_the_edge_of_reach(
    app, make_area, make_school, make_request, make_offer, make_employer
):
    # An area's cold-spot check loads only offers near the area's schools; offers just
    # inside their reach (east and north) and virtual ones far away must still count.
    from matching.problem import haversine_km

    area = make_area(name="Edge")
    school = make_school(area=area, lat=54.0, lon=-2.0)
    east = (54.0, -2.0 + 24.9 / (111.195 * 0.5878))
    north = (54.0 + 24.9 / 111.195, -2.0)
    for lat, lon in (east, north):
        assert 24.0 < float(haversine_km(54.0, -2.0, lat, lon)) < 25.0
    today = days(0)
    wanted = []
    for year, (lat, lon), delivery in (
        (8, east, "at_school"), (9, north, "at_school"), (10, (50.5, 1.0), "virtual")
    ):
        wanted.append(make_request(school=school, year_group=year))
        make_offer(employer=_vetted(make_employer), lat=lat, lon=lon, max_km=25.0,
                   year_min=year, year_max=year, delivery=delivery)
    assert adapter.cold_spot_requests([area.id], today) == []
    assert adapter.cold_spot_requests(None, today) == []
    for req in wanted:  # alternatives load offers near the school the same way
        assert len(adapter.alternatives_for(req, today)) == 1
    lonely = make_request(school=school, year_group=11)
    make_offer(employer=_vetted(make_employer), lat=east[0], lon=east[1] + 0.01,
               max_km=25.0, year_min=11, year_max=11)
    assert adapter.cold_spot_requests([area.id], today) == [lonely.id]
    assert adapter.cold_spot_requests(None, today) == [lonely.id]
