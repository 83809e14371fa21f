"""Two schedulers started together on a fresh database both start (the schema owns their table).

APScheduler's job store creates its table when it starts if the table is missing; two
schedulers starting together on a fresh database both found it missing and the second died
creating it. ``broker db upgrade`` now creates it, and an existing one (made by an older
scheduler) is kept.
"""

from __future__ import annotations

import threading

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from apscheduler.schedulers.background import BackgroundScheduler
from flask_migrate import upgrade
from sqlalchemy import inspect

from broker import create_app
from broker.extensions import db
from config import TestConfig
from jobs import scheduler as sched
from jobs.registry import JOBS

WAIT = 60.0  # seconds; every wait is bounded so nothing can hang


def _stop(scheduler: BackgroundScheduler) -> None:
    """Shut a scheduler down and close every connection of its job store.

    APScheduler 3 polls its job store once more after shutting it down, which opens a
    connection after the store's engine was disposed: dispose it again once it has stopped.
    """
    scheduler.shutdown(wait=False)
    scheduler._jobstores["default"].engine.dispose()  # type: ignore[attr-defined]


def _app(url):
    return create_app(type("FreshConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))


def test_two_schedulers_started_together_on_a_fresh_database_both_run(empty_database_url):
    app = _app(empty_database_url)
    with app.app_context():
        upgrade()  # what an operator runs first: `broker db upgrade`
        db.engine.dispose()

    barrier = threading.Barrier(2, timeout=WAIT)
    started: list[BackgroundScheduler] = []
    errors: list[BaseException] = []

    def start() -> None:
        scheduler = sched.build_scheduler(app, jobstore_url=empty_database_url)
        try:
            barrier.wait()
            scheduler.start(paused=True)
            sched.sync_jobs(scheduler)
            started.append(scheduler)
        except BaseException as exc:  # reported below, so a failure is not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    try:
        assert not any(t.is_alive() for t in threads), "a scheduler hung starting"
        assert errors == []
        assert len(started) == 2
        for scheduler in started:
            assert {job.id for job in scheduler.get_jobs()} == set(JOBS)
    finally:
        for scheduler in started:
            _stop(scheduler)


def test_upgrade_keeps_a_job_store_table_an_older_scheduler_made(empty_database_url):
    app = _app(empty_database_url)
    with app.app_context():
        upgrade(revision="7d3e51c0a8b2")  # the schema before it owned the table
        old = sched.build_scheduler(app, jobstore_url=empty_database_url)
        old.start(paused=True)  # the job store makes its table, as it used to
        sched.sync_jobs(old)
        _stop(old)
        assert "apscheduler_jobs" in inspect(db.engine).get_table_names()

        upgrade()
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
        again = sched.build_scheduler(app, jobstore_url=empty_database_url)
        again.start(paused=True)
        try:
            assert {job.id for job in again.get_jobs()} == set(JOBS)  # kept
        finally:
            _stop(again)
        db.engine.dispose()
