"""Two scheduler processes never run the same job at once (real commits on PostgreSQL).

Each thread has its own app context, so its own session and database connection, as two
scheduler processes would; they race to take the same job's lease.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from broker.extensions import db
from broker.models import JobLease
from jobs.registry import JobSpec
from jobs.runner import run_job
from tests.frozen import at

WAIT = 10.0  # seconds; every wait below is bounded so nothing can hang


def _race(app, spec: JobSpec, n: int = 2, skipped: threading.Event | None = None):
    barrier = threading.Barrier(n, timeout=WAIT)
    outcomes: list = []
    errors: list = []

    def worker(i: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                outcome = run_job(
                    spec, at(0, 2), holder=f"scheduler-{i}"
                )
                outcomes.append(outcome)
                if not outcome.ran and skipped is not None:
                    skipped.set()
                db.session.remove()
        except Exception as exc:  # reported below, so a failure is not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads), "a racer hung"
    assert not errors, errors
    return outcomes


def test_two_schedulers_racing_run_a_job_once(committing_db):
    running = []
    peak = []
    lock = threading.Lock()
    skipped = threading.Event()

    def job(now):
        with lock:
            running.append(1)
            peak.append(len(running))
        # Still running while the other racer tries, and fails, to take the lease.
        skipped.wait(WAIT)
        with lock:
            running.pop()
        return "done"

    spec = JobSpec("race-test", job, {"hour": "2"}, "a slow job")
    outcomes = _race(committing_db, spec, skipped=skipped)
    assert sorted(o.ran for o in outcomes) == [False, True]
    assert max(peak) == 1 and len(peak) == 1
    lease = db.session.scalars(select(JobLease).where(JobLease.name == "race-test")).one()
    assert lease.holder is None  # released by the winner
    # Once released, the next run takes the lease again.
    skipped.set()
    again = _race(committing_db, spec, n=1)
    assert [o.ran for o in again] == [True]


def test_many_racers_on_an_existing_lease(committing_db):
    calls = []
    skipped = threading.Event()

    def job(now):
        calls.append(now)
        skipped.wait(WAIT)
        time.sleep(0.2)  # let the other losers finish trying too
        return len(calls)

    spec = JobSpec("race-existing", job, {"hour": "2"}, "a job run before")
    db.session.add(JobLease(name="race-existing"))
    db.session.commit()
    outcomes = _race(committing_db, spec, n=4, skipped=skipped)
    assert sum(o.ran for o in outcomes) == 1 and len(calls) == 1
