"""Running one job under a lease, so two scheduler processes never run the same job at once.

The lease is a row of ``job_leases`` named after the job. Taking it is one conditional
UPDATE (free, or expired) or an INSERT for a job never run before, committed before the job
starts; the database makes exactly one of two racing processes win. A process killed
mid-job leaves the lease to expire after the job's ``lease_seconds``.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from broker import clock
from broker.extensions import db
from broker.models import JobLease
from jobs.registry import JOBS, JobSpec

__all__ = ["Outcome", "acquire_lease", "release_lease", "run_job"]

log = logging.getLogger(__name__)


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


def holder_name() -> str:
    """A name for this process's claim on a lease: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(name: str, holder: str, seconds: int) -> bool:
    """Take the lease ``name`` for ``seconds`` if it is free or expired; commit; say if taken."""
    now = clock.now()
    until = now + timedelta(seconds=seconds)
    result = db.session.execute(
        update(JobLease)
        .where(
            JobLease.name == name,
            or_(
                JobLease.holder.is_(None), JobLease.expires_at.is_(None), JobLease.expires_at < now
            ),
        )
        .values(holder=holder, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        db.session.commit()
        return True
    if db.session.scalar(select(JobLease.name).where(JobLease.name == name)) is not None:
        db.session.rollback()
        return False
    try:
        db.session.add(JobLease(name=name, holder=holder, expires_at=until))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def release_lease(name: str, holder: str) -> None:
    """Give the lease back, if this holder still has it; commit."""
    db.session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(holder=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def run_job(
    job: str | JobSpec, now: datetime | None = None, *, holder: str | None = None
) -> Outcome:
    """Run a registered job (by id, or a :class:`JobSpec`) at ``now`` if its lease is free.

    Needs an app context. The job commits its own work; the lease is released even when the
    job fails (the error is re-raised).
    """
    spec = JOBS[job] if isinstance(job, str) else job
    me = holder or holder_name()
    if not acquire_lease(spec.id, me, spec.lease_seconds):
        log.info("job %s skipped: lease held elsewhere", spec.id)
        return Outcome(spec.id, ran=False)
    when = now or clock.now()
    log.info("job %s starting at %s (%s)", spec.id, when.isoformat(), me)
    try:
        result = spec.func(when)
    except Exception:
        db.session.rollback()
        raise
    finally:
        release_lease(spec.id, me)
    log.info("job %s finished: %s", spec.id, result)
    return Outcome(spec.id, ran=True, result=result)
