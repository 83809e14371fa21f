"""The nightly match stores its insights, and a failure there never undoes the match."""

from __future__ import annotations

from sqlalchemy import select

from broker.extensions import db
from broker.insights.models import InsightSnapshot
from broker.models import Match, MatchRun
from jobs import insights as insights_job
from jobs import tasks
from tests.frozen import at, days

NOW = at(0, 2)


def _vetted(make_employer):
    return make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
    )


def test_the_match_job_stores_insights_for_its_run(app, make_request, make_offer, make_employer):
    make_request(pupils=10)
    make_request(pupils=40, type="workplace_visit", year_group=10)
    make_offer(employer=_vetted(make_employer), capacity=30)
    outcome = tasks.match(NOW)
    run = db.session.scalars(select(MatchRun)).one()
    snapshot = db.session.scalars(select(InsightSnapshot)).one()
    assert snapshot.run_id == run.id and outcome["run"] == run.id
    assert outcome["suggestions"] == len(snapshot.gains) >= 1
    assert [g["type"] for g in snapshot.gains] == ["workplace_visit"]
    assert len(snapshot.schools) == 2  # one row per school with open demand


def test_a_failure_in_insights_leaves_the_match_saved(
    app, make_request, make_offer, make_employer, monkeypatch
):
    make_request(pupils=10)
    make_offer(employer=_vetted(make_employer), capacity=30)

    def broken(now, *, run=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(insights_job, "refresh_insights", broken)
    outcome = tasks.match(NOW)
    assert outcome["insights"] == "failed"
    assert db.session.scalars(select(MatchRun.status)).all() == ["finished"]
    assert db.session.scalars(select(Match.status)).all() == ["proposed"]
    assert db.session.scalars(select(InsightSnapshot)).all() == []
