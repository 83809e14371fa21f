"""The scheduler: persistent job store, cron in Europe/London, coalesce, one instance."""

from __future__ import annotations

import threading

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from jobs import scheduler as sched
from jobs.registry import JOBS


def test_scheduler_holds_every_job_with_london_cron(app, tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    scheduler = sched.build_scheduler(app, scheduler_class=BackgroundScheduler, jobstore_url=url)
    assert isinstance(scheduler._jobstores["default"], SQLAlchemyJobStore)
    scheduler.start(paused=True)
    try:
        scheduler.add_job(print, "interval", hours=1, id="retired-job")
        sched.sync_jobs(scheduler)
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == set(JOBS)
        match = jobs["match"]
        assert str(match.trigger.timezone) == "Europe/London"
        assert "hour='2'" in str(match.trigger) and "minute='0'" in str(match.trigger)
        assert match.coalesce is True and match.max_instances == 1
        assert match.args == ("match",)
    finally:
        scheduler.shutdown(wait=False)
    # The job store persists: a second scheduler on the same database finds the jobs.
    again = sched.build_scheduler(app, jobstore_url=url)
    again.start(paused=True)
    try:
        assert {job.id for job in again.get_jobs()} == set(JOBS)
    finally:
        again.shutdown(wait=False)


def test_run_scheduler_starts_and_stops(app, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    original = sched.build_scheduler
    built = []

    def build(app_, **kw):
        built.append(original(app_, jobstore_url=url))
        return built[-1]

    monkeypatch.setattr(sched, "build_scheduler", build)
    stop = threading.Event()
    stop.set()
    sched.run_scheduler(stop=stop)
    assert len(built) == 1 and not built[0].running


def test_run_scheduled_runs_the_job_in_an_app_context(app, monkeypatch):
    seen = []
    monkeypatch.setattr(sched, "_app", app)
    monkeypatch.setattr("jobs.runner.run_job", lambda job_id: seen.append(job_id) or job_id)
    sched.run_scheduled("expire")
    assert seen == ["expire"]
