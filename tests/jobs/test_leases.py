"""Job leases: short, renewed while the job runs, lapsing soon after a holder dies; unlock.

The killed-holder tests run ``broker jobs run`` in a real child process, kill it with
SIGKILL mid-job, and show that the next run takes the job within ``JOB_LEASE_SECONDS``, on an
SQLite file and on PostgreSQL (each process with its own connections, commits for real).
"""

from __future__ import annotations

import signal
from datetime import timedelta

import pytest
from sqlalchemy import select

from broker import create_app
from broker.extensions import db
from broker.models import JobLease
from config import TestConfig
from jobs import registry
from jobs.registry import JobSpec
from jobs.runner import acquire_lease, database_now, run_job
from tests.jobs.processes import Child, broker_env, eventually

LEASE = 4  # seconds: renewed every 1.3 s, so a dead holder's lease lapses within 4 s

# A child process: `broker jobs run stuck`, where "stuck" runs until the process is killed.
STUCK = """
import threading
from jobs.registry import JOBS, JobSpec

def stuck(now):
    print("stuck job running", flush=True)
    threading.Event().wait()

JOBS["stuck"] = JobSpec("stuck", stuck, {"hour": "3"}, "runs until killed")
from broker.cli import main
main()
"""


@pytest.fixture(params=["sqlite-file", "postgresql"])
def shared_db(request, tmp_path):
    """(app, url) of a database other processes see: an SQLite file, or PostgreSQL."""
    if request.param == "postgresql":
        app = request.getfixturevalue("committing_db")  # skips unless on PostgreSQL
        yield app, TestConfig.SQLALCHEMY_DATABASE_URI
        return
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    app = create_app(type("FileConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        db.create_all()
        try:
            yield app, url
        finally:
            db.session.remove()
            db.engine.dispose()


def _lease(name: str):
    """The lease row as the database has it now: (holder, acquired_at, expires_at) or None."""
    row = db.session.execute(
        select(JobLease.holder, JobLease.acquired_at, JobLease.expires_at).where(
            JobLease.name == name
        )
    ).one_or_none()
    db.session.rollback()  # the next look sees later commits, on SQLite too
    return row


def _utc(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=database_now(db.session).tzinfo)


@pytest.mark.slow
def test_a_killed_holders_lease_lapses_and_the_next_run_takes_the_job(shared_db, tmp_path):
    app, url = shared_db
    app.config["JOB_LEASE_SECONDS"] = LEASE
    again = JobSpec("stuck", lambda now: "ran after the kill", {"hour": "3"}, "the same job")
    child = Child(
        STUCK, ["jobs", "run", "stuck"], broker_env(url, tmp_path, JOB_LEASE_SECONDS=LEASE)
    )
    try:
        child.wait_for_line("stuck job running")
        holder, acquired_at, first_expiry = _lease("stuck")
        assert holder.split(":")[1] == str(child.proc.pid)
        assert _utc(first_expiry) - _utc(acquired_at) == timedelta(seconds=LEASE)

        # Alive, the holder renews its lease, and nobody else may run the job meanwhile.
        eventually(lambda: _lease("stuck")[2] > first_expiry, "the holder renewed its lease")
        assert not run_job(again).ran
        assert _lease("stuck")[0] == holder

        assert child.signal(signal.SIGKILL) == -signal.SIGKILL
        # Dead, it renews no more: the lease lapses and the next run takes the job.
        outcome = eventually(lambda: (o := run_job(again)).ran and o, "the next run ran")
        assert outcome.result == "ran after the kill"
        assert _lease("stuck")[0] is None
    finally:
        child.close()


def test_a_holder_that_loses_its_lease_says_so(shared_db, caplog):
    app, _ = shared_db
    app.config["JOB_LEASE_SECONDS"] = 1
    lost = []

    def job(now):
        # An operator unlocks the lease while the job runs (another connection, committed).
        with db.engine.begin() as conn:
            conn.execute(JobLease.__table__.update().values(holder=None, expires_at=None))
        eventually(
            lambda: lost.extend(r for r in caplog.records if "lost its lease" in r.message)
            or lost,
            "the heartbeat noticed",
        )
        return "done"

    with caplog.at_level("ERROR", logger="jobs.runner"):
        assert run_job(JobSpec("unlocked", job, {"hour": "3"}, "a job unlocked mid-run")).ran
    assert lost[0].levelname == "ERROR" and "job unlocked:" in lost[0].message


def test_a_lapsed_lease_can_be_taken(app):
    assert acquire_lease("remind", "dead-process", 60)
    assert not acquire_lease("remind", "me", 60)
    lease = db.session.get(JobLease, "remind")
    lease.expires_at = database_now(db.session) - timedelta(seconds=1)
    db.session.commit()
    assert acquire_lease("remind", "me", 60)
    assert db.session.get(JobLease, "remind").holder == "me"


def test_unlock_says_who_held_the_lease_and_since_when(app, monkeypatch):
    runner = app.test_cli_runner()
    assert acquire_lease("match", "old-host:4242:dead", 60)
    since = _utc(db.session.get(JobLease, "match").acquired_at)

    refused = runner.invoke(args=["jobs", "run", "match"])
    assert refused.exit_code == 1
    assert "match: skipped (another process holds its lease)" in refused.output
    assert "held by old-host:4242:dead since" in refused.output
    assert "broker jobs unlock match" in refused.output

    listing = runner.invoke(args=["jobs", "list"])
    assert f"held by old-host:4242:dead since {since:%Y-%m-%d %H:%M:%S} UTC" in listing.output

    result = runner.invoke(args=["jobs", "unlock", "match"])  # no terminal: no question
    assert result.exit_code == 0, result.output
    assert f"match: held by old-host:4242:dead since {since:%Y-%m-%d %H:%M:%S} UTC" in (
        result.output
    )
    assert "unlocked" in result.output
    assert db.session.scalar(select(JobLease.holder).where(JobLease.name == "match")) is None
    monkeypatch.setattr("jobs.tasks.run_matching", _fake_matching)
    assert run_job("match").ran

    again = runner.invoke(args=["jobs", "unlock", "match"])
    assert again.exit_code == 0 and "match: not held; nothing to unlock." in again.output
    unknown = runner.invoke(args=["jobs", "unlock", "nope"])
    assert unknown.exit_code != 0 and "no job 'nope'" in unknown.output


def test_unlock_at_a_terminal_asks_unless_yes(app, monkeypatch):
    runner = app.test_cli_runner()
    monkeypatch.setattr("jobs.cli._at_a_terminal", lambda: True)
    assert acquire_lease("expire", "busy-host:1:live", 60)
    refused = runner.invoke(args=["jobs", "unlock", "expire"], input="n\n")
    assert "It may still be running. Unlock it anyway?" in refused.output
    assert refused.exit_code != 0
    assert db.session.scalar(select(JobLease.holder).where(JobLease.name == "expire"))
    done = runner.invoke(args=["jobs", "unlock", "expire", "--yes"])
    assert done.exit_code == 0 and "unlocked" in done.output
    assert db.session.scalar(select(JobLease.holder).where(JobLease.name == "expire")) is None


def test_the_registry_has_no_per_job_lease(app):
    # One short lease for every job, renewed while it runs, instead of an hour for the match.
    assert app.config["JOB_LEASE_SECONDS"] == 60
    assert not hasattr(registry.JOBS["match"], "lease_seconds")


class _Run:
    id = 1
    changes: dict = {}
    figures = {"pupils_matched": 0, "seconds": 0.0}


def _fake_matching(now, **kw):
    return _Run()

