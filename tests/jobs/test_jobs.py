"""The scheduled jobs: registered with stable ids, run by the CLI, expiry and reminders."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import EncounterRequest, JobLease, Match, MatchRun, Offer, OutboxMessage
from jobs import tasks
from jobs.registry import JOBS
from jobs.runner import acquire_lease, run_job
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


def test_registry_has_the_stable_ids():
    assert list(JOBS) == ["match", "expire", "remind", "send-outbox", "purge"]
    assert JOBS["match"].cron == {"hour": "2", "minute": "0"}
    assert all(callable(spec.func) for spec in JOBS.values())


def test_cli_runs_the_match_now(app, make_request, make_offer, make_employer):
    make_request()
    make_offer(employer=_vetted(make_employer))
    result = app.test_cli_runner().invoke(
        args=["jobs", "run", "match", "--now", NOW.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "match:" in result.output
    run = db.session.scalars(select(MatchRun)).one()
    assert run.kind == "nightly" and run.status == "finished"
    assert db.session.scalars(select(Match.status)).all() == ["proposed"]
    listing = app.test_cli_runner().invoke(args=["jobs", "list"])
    assert "send-outbox" in listing.output


def test_cli_rejects_unknown_job(app):
    result = app.test_cli_runner().invoke(args=["jobs", "run", "nope"])
    assert result.exit_code != 0 and "no job" in result.output


def test_a_held_lease_skips_the_job(app):
    assert acquire_lease("match", "someone-else", 60)
    outcome = run_job("match", NOW)
    assert not outcome.ran and "skipped" in str(outcome)
    assert db.session.scalars(select(MatchRun)).all() == []


def test_lease_is_released_after_a_run_and_after_a_failure(app, monkeypatch):
    assert run_job("expire", NOW).ran
    lease = db.session.get(JobLease, "expire")
    db.session.refresh(lease)
    assert lease.holder is None

    def boom(now, **kw):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr("jobs.tasks.run_matching", boom)
    with pytest.raises(RuntimeError):
        run_job("match", NOW)
    failed = db.session.scalars(select(MatchRun)).one()
    assert failed.status == "failed" and "engine exploded" in failed.error
    assert db.session.scalar(select(JobLease.holder).where(JobLease.name == "match")) is None


def test_expire(app, make_request, make_offer, make_match, make_employer):
    old_req = make_request(earliest=days(-61), latest=days(-1))
    live_req = make_request()
    old_offer = make_offer(earliest=days(-61), latest=days(-1))
    live_offer = make_offer(employer=_vetted(make_employer))
    stale1 = make_match(request=old_req, offer=live_offer)
    stale2 = make_match(request=live_req, offer=old_offer)
    kept = make_match(request=live_req, offer=live_offer)
    approved = make_match(request=old_req, offer=old_offer, status="approved")
    counts = tasks.expire(NOW)
    assert counts == {"requests": 1, "offers": 1, "proposals": 2}
    assert db.session.get(EncounterRequest, old_req.id).status == "expired"
    assert db.session.get(EncounterRequest, live_req.id).status == "open"
    assert db.session.get(Offer, old_offer.id).status == "expired"
    statuses = {m.id: m.status for m in db.session.scalars(select(Match))}
    assert statuses == {
        stale1.id: "superseded",
        stale2.id: "superseded",
        kept.id: "proposed",
        approved.id: "approved",
    }
    assert tasks.expire(NOW) == {"requests": 0, "offers": 0, "proposals": 0}


def test_remind(app, make_request, make_offer, make_match, make_employer, make_user, make_school):
    school = make_school()
    employer = make_employer(insurance_expires_on=days(19), risk_assessment_on=None)
    school_user = make_user(role="school", school_id=school.id)
    employer_user = make_user(role="employer", employer_id=employer.id)
    soon = make_match(
        request=make_request(school=school),
        offer=make_offer(employer=employer, earliest=days(4)),
        status="approved",
        employer_response="accepted",
    )
    make_match(  # starts in three weeks: not yet
        request=make_request(school=school),
        offer=make_offer(employer=employer, earliest=days(21)),
        status="approved",
    )
    make_match(  # scheduled in 3 days and both accepted: nothing to chase
        request=make_request(school=school),
        offer=make_offer(employer=employer),
        status="approved",
        scheduled_on=days(3),
        school_response="accepted",
        employer_response="accepted",
    )
    make_employer(contact_email="far@example.org", insurance_expires_on=days(182))
    counts = tasks.remind(NOW)
    assert counts == {"confirmations": 1, "encounters": 0, "vetting": 1}
    mail = {(m.to_email, m.template) for m in db.session.scalars(select(OutboxMessage))}
    assert mail == {
        (school_user.email, "confirm_reminder"),
        (employer_user.email, "vetting_reminder"),
    }
    body = db.session.scalars(
        select(OutboxMessage.body_text).where(OutboxMessage.template == "confirm_reminder")
    ).one()
    assert f"{days(4):%d %B %Y}" in body and str(soon.pupils) in body
    # Running again (the next morning) queues nothing new.
    assert tasks.remind(NOW + timedelta(days=1)) == {
        "confirmations": 0,
        "encounters": 0,
        "vetting": 0,
    }


def test_remind_of_agreed_dates_once_per_date(
    app, make_request, make_offer, make_match, make_employer, make_user, make_school
):
    school = make_school(careers_leader_email="lead@school.example")
    employer = make_employer(contact_email="asha@severn.example", risk_assessment_on=None)
    school_user = make_user(role="school", school_id=school.id)
    employer_user = make_user(role="employer", employer_id=employer.id)
    make_user(role="school", school_id=school.id, active=False)  # left the school: not told
    today = NOW.date()
    soon = make_match(
        request=make_request(school=school),
        offer=make_offer(employer=employer),
        status="accepted",
        scheduled_on=today + timedelta(days=2),
    )
    make_match(  # agreed for next week: not yet
        request=make_request(school=school),
        offer=make_offer(employer=employer),
        status="accepted",
        scheduled_on=today + timedelta(days=8),
    )
    counts = tasks.remind(NOW)
    assert counts["encounters"] == 2
    mail = {
        m.to_email: m.body_text
        for m in db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "encounter_reminder")
        )
    }
    assert set(mail) == {school_user.email, employer_user.email}
    assert "asha@severn.example" in mail[school_user.email]
    assert "lead@school.example" in mail[employer_user.email]
    assert (today + timedelta(days=2)).strftime("%d %B %Y") in mail[school_user.email]
    assert tasks.remind(NOW + timedelta(hours=20))["encounters"] == 0
    soon.scheduled_on = today + timedelta(days=3)  # moved: a reminder for the new date
    db.session.commit()
    assert tasks.remind(NOW + timedelta(days=1))["encounters"] == 2
