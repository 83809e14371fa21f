"""The scheduler process: APScheduler with its job store in the application database.

Run exactly one (``broker scheduler``). Cron triggers are in ``SCHEDULER_TIMEZONE``
(Europe/London, so 02:00 stays 02:00 across the clock changes); missed runs are coalesced
into one, never two at once in a process (``max_instances=1``), and :func:`jobs.runner.run_job`
takes a lease in the database so a second scheduler process cannot run the same job either.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask, current_app

from jobs.registry import JOBS

__all__ = ["JOBSTORE_TABLE", "build_scheduler", "run_scheduled", "run_scheduler", "sync_jobs"]

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
# The app the scheduler process serves; set by run_scheduler, read by run_scheduled.
_app: Flask | None = None


def build_scheduler(
    app: Flask,
    *,
    scheduler_class: type[BaseScheduler] = BackgroundScheduler,
    jobstore_url: str | None = None,
) -> BaseScheduler:
    """Return a scheduler (not started) with the persistent job store and job defaults."""
    tz = ZoneInfo(app.config["SCHEDULER_TIMEZONE"])
    url = jobstore_url or app.config["SQLALCHEMY_DATABASE_URI"]
    return scheduler_class(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename=JOBSTORE_TABLE)},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        timezone=tz,
    )


def sync_jobs(scheduler: BaseScheduler) -> None:
    """Make the job store hold exactly the registered jobs, with their current schedules."""
    tz = scheduler.timezone
    for job in scheduler.get_jobs():
        if job.id not in JOBS:
            log.info("removing job %s: no longer registered", job.id)
            scheduler.remove_job(job.id)
    for spec in JOBS.values():
        scheduler.add_job(
            "jobs.scheduler:run_scheduled",
            trigger=CronTrigger(timezone=tz, **spec.cron),
            args=[spec.id],
            id=spec.id,
            name=spec.description,
            replace_existing=True,
        )


def run_scheduled(job_id: str) -> None:
    """What the scheduler calls: run the job now, in an app context, under its lease."""
    from broker import create_app
    from jobs.runner import run_job

    app = _app or create_app()
    with app.app_context():
        try:
            outcome = run_job(job_id)
        except Exception:
            log.exception("job %s failed", job_id)
            return
        log.info("%s", outcome)


def run_scheduler(*, stop: threading.Event | None = None) -> None:
    """Run the scheduler in this process until SIGINT or SIGTERM (or ``stop`` is set)."""
    global _app
    _app = current_app._get_current_object()  # type: ignore[attr-defined]
    scheduler = build_scheduler(_app)
    scheduler.start(paused=True)
    sync_jobs(scheduler)
    scheduler.resume()
    done = stop or threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    for job in scheduler.get_jobs():
        log.info("scheduled %s: next run %s", job.id, job.next_run_time)
    try:
        while not done.wait(1.0):
            continue
    finally:
        scheduler.shutdown(wait=True)
        _app = None
