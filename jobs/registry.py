"""The one place where jobs are registered, with stable ids and their schedules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


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


JOBS: dict[str, JobSpec] = {}
