"""The nightly run's writes: guarded, short, only what changed; and pages that read little."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select, text

from broker import create_app
from broker.extensions import db
from broker.models import (
    Area,
    Employer,
    EncounterRequest,
    Match,
    MatchEvent,
    Offer,
    School,
)
from broker.services import matching as adapter
from broker.services.matches import approve_match
from broker.services.matching import nightly
from config import TestConfig
from matching.problem import Problem
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


def _during_the_run(monkeypatch, action) -> None:
    """Call ``action()`` after the run has read and solved, before it writes."""
    solve = nightly._solve

    def solve_then_act(inputs):
        result = solve(inputs)
        action()
        return result

    monkeypatch.setattr(nightly, "_solve", solve_then_act)


def test_a_proposal_approved_during_the_run_is_not_rewritten(
    app, monkeypatch, make_school, make_request, make_offer, make_employer, make_user
):
    school = make_school()
    coordinator = make_user(role="coordinator", areas=[school.area])
    req = make_request(school=school, pupils=20)
    offer = make_offer(employer=_vetted(make_employer), capacity=30)
    first = adapter.run_matching(NOW)
    db.session.commit()
    proposal = db.session.scalars(select(Match)).one()
    assert (proposal.pupils, proposal.run_id) == (20, first.id)
    # The school now wants 25: the next run would propose 25 on the same pair...
    req.pupils = 25
    db.session.commit()
    # ...but while it solves, a coordinator approves the 20 proposed.
    _during_the_run(
        monkeypatch, lambda: approve_match(db.session.get(Match, proposal.id), by=coordinator)
    )
    second = adapter.run_matching(NOW + timedelta(days=1))
    db.session.commit()

    approved = db.session.get(Match, proposal.id)
    assert (approved.status, approved.pupils, approved.run_id) == ("approved", 20, first.id)
    assert second.figures["held_back"] == 1
    assert db.session.scalars(select(Match.status)).all() == ["approved"]
    assert offer.id == approved.offer_id


def test_a_proposal_approved_during_the_run_is_not_withdrawn_nor_its_places_given_away(
    app, monkeypatch, make_school, make_request, make_offer, make_employer, make_user
):
    plain = make_school()
    coordinator = make_user(role="coordinator", areas=[plain.area])
    offer = make_offer(employer=_vetted(make_employer), capacity=20, stem=True)
    first = make_request(school=plain, pupils=20)
    adapter.run_matching(NOW)
    db.session.commit()
    proposal = db.session.scalars(select(Match)).one()
    assert proposal.request_id == first.id
    # A special school with a STEM goal and many pupils on free meals asks for the same
    # places: the next run moves them there and would withdraw the first proposal...
    special = make_school(area=plain.area, kind="special", fsm_pct=60.0)
    better = make_request(school=special, pupils=20, stem_goal=True)
    # ...but while it solves, a coordinator approves the first proposal.
    _during_the_run(
        monkeypatch, lambda: approve_match(db.session.get(Match, proposal.id), by=coordinator)
    )
    run = adapter.run_matching(NOW + timedelta(days=1))
    db.session.commit()

    assert db.session.get(Match, proposal.id).status == "approved"
    assert db.session.scalars(
        select(MatchEvent.to_status).where(MatchEvent.match_id == proposal.id)
    ).all() == ["proposed", "approved"]  # no "superseded" for a match that was not superseded
    # The offer's places are taken: the special school's proposal waits for the next run.
    assert db.session.scalars(select(Match).where(Match.request_id == better.id)).all() == []
    assert run.changes["withdrawn"] == 0 and run.changes["added"] == 0
    assert run.figures["held_back"] == 2
    assert offer.capacity == 20


@contextmanager
def statements() -> Iterator[list[str]]:
    """Collect the SQL statements sent to the database."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_run_that_changes_nothing_writes_no_match_or_request(
    app, make_school, make_request, make_offer, make_employer, make_user
):
    school = make_school()
    make_user(role="coordinator", areas=[school.area])
    employer = _vetted(make_employer)
    for pupils in (10, 20, 30):
        make_request(school=school, pupils=pupils)
    make_offer(employer=employer, capacity=25)
    make_offer(employer=employer, capacity=15)
    cold = make_request(school=school, type="careers_fair")
    adapter.run_matching(NOW)
    # The second run differs from the first: its proposals earn "proposed last run".
    adapter.run_matching(NOW + timedelta(days=1))
    db.session.commit()
    proposals = db.session.scalars(select(Match).where(Match.status == "proposed")).all()
    assert proposals
    flags = {
        i: f
        for i, f in db.session.execute(select(EncounterRequest.id, EncounterRequest.has_candidate))
    }
    assert flags[cold.id] is False and sum(flags.values()) == 3

    with statements() as sent:
        run = adapter.run_matching(NOW + timedelta(days=2))
        db.session.commit()

    writes = [s for s in sent if re.match(r"\s*(UPDATE|INSERT INTO|DELETE)", s, re.I)]
    assert [s for s in writes if re.search(r"\b(matches|requests|match_events)\b", s)] == []
    assert run.changes["added"] == run.changes["withdrawn"] == 0
    assert run.changes["kept"] == run.figures["kept_unchanged"] == len(proposals)
    assert run.figures["kept_updated"] == 0
    assert run.figures["cold_spots"] == 1


def test_cold_spots_come_from_the_runs_own_candidates(
    app, monkeypatch, make_school, make_request, make_offer, make_employer, make_match
):
    school = make_school()
    employer = _vetted(make_employer)
    served = make_request(school=school, pupils=10)
    make_offer(employer=employer, capacity=10)
    cold = make_request(school=school, type="careers_fair")
    # A request whose pupils an approved match all holds is being served.
    held = make_request(school=school, type="mentoring", pupils=10)
    make_match(
        request=held,
        offer=make_offer(employer=employer, type="mentoring", capacity=10),
        pupils=10,
        status="approved",
    )
    # Its only offer has no places left: nothing could serve it now.
    blocked = make_request(school=school, type="mock_interview", pupils=5)
    taken = make_offer(employer=employer, type="mock_interview", capacity=5)
    make_match(request=make_request(type="mock_interview", pupils=5), offer=taken,
               pupils=5, status="accepted")  # fmt: skip
    built = []
    build = Problem._build_candidates

    def counting(self):
        built.append(len(self.requests))
        return build(self)

    monkeypatch.setattr(Problem, "_build_candidates", counting)
    run = adapter.run_matching(NOW)
    db.session.commit()

    assert len(built) == 1  # one candidate build: the run's own
    flags = {
        i: f
        for i, f in db.session.execute(select(EncounterRequest.id, EncounterRequest.has_candidate))
    }
    assert (flags[served.id], flags[held.id]) == (True, True)
    assert (flags[cold.id], flags[blocked.id]) == (False, False)
    assert run.figures["cold_spots"] == 2
    assert sorted(adapter.cold_spot_requests(None, days(0))) == sorted([cold.id, blocked.id])


@contextmanager
def rows_read() -> Iterator[list[int]]:
    """Count the rows every query of the session returns."""
    counts: list[int] = []
    session = db.session()

    def count(state):
        frozen = state.invoke_statement().freeze()
        counts.append(len(frozen.data))
        return frozen()

    event.listen(session, "do_orm_execute", count)
    try:
        yield counts
    finally:
        event.remove(session, "do_orm_execute", count)


def test_coordinator_checks_read_their_neighbourhood_not_the_country(
    app, make_school, make_request, make_offer, make_employer, make_match
):
    school = make_school()
    req = make_request(school=school, pupils=20)
    offer = make_offer(employer=_vetted(make_employer), capacity=30)
    today = days(0)

    def read() -> tuple[int, int]:
        with rows_read() as counts:
            assert adapter.pair_allowed(req, offer, today) is not None
            assert len(adapter.alternatives_for(req, today)) == 1
        return len(counts), sum(counts)

    before = read()
    # Locked matches elsewhere in the country (Newcastle) are none of this page's business.
    far = _vetted(make_employer, lat=54.97, lon=-1.61)
    for i, status in enumerate(["approved", "accepted", "delivered"] * 4):
        there = make_school(lat=54.97 + i / 1000, lon=-1.61)
        make_match(
            request=make_request(school=there, pupils=5),
            offer=make_offer(employer=far, capacity=5),
            pupils=5,
            status=status,
        )
    assert read() == before


def test_other_writers_are_not_locked_out_while_the_nightly_run_works(tmp_path: Path, monkeypatch):
    path = tmp_path / "broker.sqlite"

    class FileConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{path}"

    app = create_app(FileConfig)
    with app.app_context():
        try:
            db.create_all()
            assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            area = Area(name="Leeds")
            school = School(
                urn=990001, name="Moor Academy", postcode="LS1 1AA", lat=53.8, lon=-1.55,
                kind="mainstream", gender="mixed", pupils=900, fsm_pct=20.0, area=area,
            )  # fmt: skip
            employer = Employer(
                name="Works", kind="business", sector="engineering", postcode="LS1 2AA",
                lat=53.8, lon=-1.54, insurance_expires_on=days(396),
                risk_assessment_on=days(-61), dbs_checked=True, dbs_renewal_on=days(396),
                verified_at=at(0, 9),
            )  # fmt: skip
            offer = Offer(
                employer=employer, title="Talk", type="talk", sector="engineering",
                year_min=8, year_max=13, capacity=30, delivery="at_school", max_km=25.0,
                postcode="LS1 2AA", lat=53.8, lon=-1.54, earliest=days(34), latest=days(120),
            )  # fmt: skip
            req = EncounterRequest(
                school=school, type="talk", year_group=9, pupils=20, earliest=days(31),
                latest=days(89),
            )  # fmt: skip
            db.session.add_all([area, school, employer, offer, req])
            db.session.commit()
            adapter.run_matching(NOW)
            db.session.commit()
            proposal_id = db.session.scalars(select(Match.id)).one()
            outcome: dict[str, str] = {}

            def approve_from_another_connection() -> None:
                # A coordinator's approval, from another process, while the engine works;
                # it waits at most half a second for a lock.
                other = sqlite3.connect(path, timeout=0.5)
                try:
                    other.execute(
                        "UPDATE matches SET status = 'approved' WHERE id = ?", (proposal_id,)
                    )
                    other.commit()
                    outcome["approval"] = "committed"
                except sqlite3.OperationalError as exc:
                    outcome["approval"] = str(exc)
                finally:
                    other.close()

            _during_the_run(monkeypatch, approve_from_another_connection)
            run = adapter.run_matching(NOW + timedelta(days=1))
            db.session.commit()

            assert outcome == {"approval": "committed"}
            assert run.status == "finished"
            db.session.expire_all()
            assert db.session.get(Match, proposal_id).status == "approved"
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('{"stem_goal": 30}', 'unknown weight "stem_goal"; the weights are: proximity, '),
        ('{"stem": "lots"}', "weight stem must be a number"),
        ('{"stem": 30', "not valid JSON"),
        ("[30]", "must be a JSON object"),
    ],
)
def test_the_app_does_not_start_with_bad_matching_weights(value, message):
    class BadWeights(TestConfig):
        MATCHING_WEIGHTS = value

    with pytest.raises(ValueError, match=re.escape(message)):
        create_app(BadWeights)


def test_the_readme_weights_example_works():
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if line.startswith("| `MATCHING_WEIGHTS`")]
    example = re.search(r"e\.g\. `(\{.*?\})`", row)
    assert example is not None, row

    class ReadmeWeights(TestConfig):
        MATCHING_WEIGHTS = example[1]

    app = create_app(ReadmeWeights)
    with app.app_context():
        weights = adapter.weights()
    (name, value) = next(iter(app.config["MATCHING_WEIGHTS"].items()))
    assert getattr(weights, name) == value
