"""The one place where jobs are registered, with stable ids and their schedules.

Ids are stable because the scheduler's job store keeps them between restarts, and the lease
that stops two scheduler processes running a job at once is named after them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from jobs import tasks


@dataclass(frozen=True)
class JobSpec:
    """A job: its stable id, the function (taking ``now``), and its cron schedule."""

    id: str
    func: Callable[[datetime], object]
    cron: dict[str, str]
    description: str

    @property
    def schedule(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.cron.items())


JOBS: dict[str, JobSpec] = {
    spec.id: spec
    for spec in (
        JobSpec(
            "match",
            tasks.match,
            {"hour": "2", "minute": "0"},
            "match open requests to remaining capacity; rebalance unapproved proposals",
        ),
        JobSpec(
            "expire",
            tasks.expire,
            {"hour": "1", "minute": "30"},
            "expire requests and offers past their dates; supersede proposals on them",
        ),
        JobSpec(
            "remind",
            tasks.remind,
            {"hour": "8", "minute": "0"},
            "remind sides to confirm encounters within 7 days, of agreed dates within 3 days,"
            " and of vetting expiring in 30 days",
        ),
        JobSpec(
            "send-outbox",
            tasks.send_outbox,
            {"minute": "*/5"},
            "send queued emails by SMTP, retrying with exponential backoff",
        ),
        JobSpec(
            "purge",
            tasks.purge,
            {"hour": "3", "minute": "30"},
            "empty the text of emails older than OUTBOX_RETENTION_DAYS (privacy)",
        ),
    )
}
