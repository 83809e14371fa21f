"""Running one job under a lease, so two scheduler processes never run the same job at once.

The lease is a row of ``job_leases`` named after the job: who holds it, since when, and
until when. Taking it is one conditional UPDATE (free, or lapsed) or an INSERT for a job
never run before, committed before the job starts; the database makes exactly one of two
racing processes win.

A lease is short (``JOB_LEASE_SECONDS``, a minute by default) and renewed while the job runs:
a heartbeat thread, on a database connection of its own, pushes ``expires_at`` on every third
of that time (not on an SQLite database in memory, which no other process can see). A
process that dies mid-job (killed, its machine lost) stops renewing, so its
lease lapses within ``JOB_LEASE_SECONDS`` and the next run takes it. ``broker jobs unlock
NAME`` frees a lease by hand (:func:`release_lease`).

Lease times come from the database's clock, never the process's: scheduler processes on
different machines then agree on when a lease lapses, whatever their own clocks say.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Engine, or_, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session

from broker import clock
from broker.extensions import db
from broker.models import JobLease
from jobs.registry import JOBS, JobSpec

__all__ = [
    "LeaseInfo",
    "Outcome",
    "acquire_lease",
    "database_now",
    "lease_info",
    "release_lease",
    "renew_lease",
    "run_job",
]

log = logging.getLogger(__name__)

_leases = JobLease.__table__


@dataclass(frozen=True)
class Outcome:
    """What happened when a job was asked to run."""

    job_id: str
    ran: bool
    result: Any = None

    def __str__(self) -> str:
        if not self.ran:
            return f"{self.job_id}: skipped (another process holds its lease)"
        return f"{self.job_id}: {self.result}"


@dataclass(frozen=True)
class LeaseInfo:
    """Who holds a job's lease, since when, until when, and what the database's clock says."""

    name: str
    holder: str
    acquired_at: datetime | None
    expires_at: datetime | None
    now: datetime

    @property
    def lapsed(self) -> bool:
        """Whether the holder stopped renewing it: any process may take it now."""
        return self.expires_at is None or self.expires_at < self.now


def holder_name() -> str:
    """A name for this process's claim on a lease: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def database_now(conn: Session | scoped_session[Any] | Connection) -> datetime:
    """Return the database's current time (UTC, timezone-aware): the clock leases run on."""
    dialect = (conn if isinstance(conn, Connection) else conn.get_bind()).dialect.name
    if dialect == "postgresql":
        # clock_timestamp(), not now(): now() stands still for a whole transaction.
        value = conn.scalar(text("SELECT clock_timestamp()"))
    elif dialect == "sqlite":
        value = conn.scalar(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')"))
    else:
        value = conn.scalar(text("SELECT CURRENT_TIMESTAMP"))
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _utc(value)


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; everything the broker stores is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def acquire_lease(name: str, holder: str, seconds: int) -> bool:
    """Take the lease ``name`` for ``seconds`` if it is free or lapsed; commit; say if taken."""
    now = database_now(db.session)
    until = now + timedelta(seconds=seconds)
    result = db.session.execute(
        update(JobLease)
        .where(
            JobLease.name == name,
            or_(
                JobLease.holder.is_(None), JobLease.expires_at.is_(None), JobLease.expires_at < now
            ),
        )
        .values(holder=holder, acquired_at=now, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        db.session.commit()
        return True
    if db.session.scalar(select(JobLease.name).where(JobLease.name == name)) is not None:
        db.session.rollback()
        return False
    try:
        db.session.add(JobLease(name=name, holder=holder, acquired_at=now, expires_at=until))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def renew_lease(conn: Connection, name: str, holder: str, seconds: int) -> bool:
    """Push the lease ``seconds`` ahead if ``holder`` still has it; say if it did.

    Runs on ``conn`` (the caller commits), so the job's own session is never touched.
    """
    until = database_now(conn) + timedelta(seconds=seconds)
    result = conn.execute(
        _leases.update()
        .where(_leases.c.name == name, _leases.c.holder == holder)
        .values(expires_at=until)
    )
    return result.rowcount == 1


def release_lease(name: str, holder: str) -> bool:
    """Free the lease ``name`` if ``holder`` still holds it; commit; say if it did.

    A job gives its lease back this way when it ends, and ``broker jobs unlock`` frees one for
    an operator (naming the holder it showed, so a lease that changed hands meanwhile is
    left alone). A live holder whose lease was freed logs an error at its next renewal.
    """
    result = db.session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(holder=None, acquired_at=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def lease_info(name: str) -> LeaseInfo | None:
    """Return who holds the lease ``name`` (lapsed or not), or None if nobody does."""
    row = db.session.execute(
        select(JobLease.holder, JobLease.acquired_at, JobLease.expires_at).where(
            JobLease.name == name, JobLease.holder.is_not(None)
        )
    ).one_or_none()
    now = database_now(db.session)
    if row is None:
        return None
    holder, acquired_at, expires_at = row
    assert holder is not None  # selected so
    return LeaseInfo(
        name,
        holder,
        _utc(acquired_at) if acquired_at else None,
        _utc(expires_at) if expires_at else None,
        now,
    )


class _Heartbeat:
    """Renews a lease every third of its length, on its own connection, until stopped.

    It sleeps in short steps rather than waiting on an event with a timeout: a timed wait
    never wakes under libfaketime, with which CI runs the suite a year ahead.
    """

    STEP = 0.1  # seconds between looks at the stop flag

    def __init__(self, engine: Engine, name: str, holder: str, seconds: int) -> None:
        self.engine, self.name, self.holder, self.seconds = engine, name, holder, seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing; wait for a renewal under way, for one lease length at most."""
        self._stopped.set()
        self._sleep_while(self._thread.is_alive, self.seconds)

    def _sleep_while(self, condition: Callable[[], bool], seconds: float) -> bool:
        """Sleep until ``condition`` turns false or ``seconds`` pass; say if time ran out."""
        end = time.monotonic() + seconds
        while condition():
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, self.STEP))
        return False

    def _running(self) -> bool:
        return not self._stopped.is_set()

    def _run(self) -> None:
        while self._sleep_while(self._running, self.seconds / 3):
            try:
                with self.engine.begin() as conn:
                    held = renew_lease(conn, self.name, self.holder, self.seconds)
            except SQLAlchemyError as exc:
                log.warning("job %s: could not renew its lease (will retry): %s", self.name, exc)
                continue
            if not held:
                log.error(
                    "job %s: lost its lease (unlocked by hand, or lapsed and taken); "
                    "the job runs on, but another process may run it too",
                    self.name,
                )
                return


def _shared_database(engine: Engine) -> bool:
    """Whether other processes can see this database (not SQLite in memory)."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return True
    return url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)


def run_job(
    job: str | JobSpec, now: datetime | None = None, *, holder: str | None = None
) -> Outcome:
    """Run a registered job (by id, or a :class:`JobSpec`) at ``now`` if its lease is free.

    Needs an app context. The lease lasts ``JOB_LEASE_SECONDS`` and is renewed while the job
    runs. The job commits its own work; the lease is released even when the job fails (the
    error is re-raised).
    """
    spec = JOBS[job] if isinstance(job, str) else job
    seconds = int(current_app.config["JOB_LEASE_SECONDS"])
    if seconds < 1:
        raise ValueError(f"JOB_LEASE_SECONDS must be a positive number of seconds, not {seconds}")
    me = holder or holder_name()
    if not acquire_lease(spec.id, me, seconds):
        log.info("job %s skipped: lease held elsewhere", spec.id)
        return Outcome(spec.id, ran=False)
    heartbeat = None
    if _shared_database(db.engine):
        heartbeat = _Heartbeat(db.engine, spec.id, me, seconds)
        heartbeat.start()
    when = now or clock.now()
    log.info("job %s starting at %s (%s)", spec.id, when.isoformat(), me)
    try:
        result = spec.func(when)
    except Exception:
        db.session.rollback()
        raise
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        release_lease(spec.id, me)
    log.info("job %s finished: %s", spec.id, result)
    return Outcome(spec.id, ran=True, result=result)
