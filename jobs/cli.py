"""Commands for jobs: ``broker jobs list``, ``broker jobs run NAME`` and ``broker scheduler``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.group("jobs")
def jobs_group() -> None:
    """List and run the broker's scheduled jobs."""


@jobs_group.command("list")
@with_appcontext
def list_jobs() -> None:
    """List the registered jobs and when they run."""
    from jobs.registry import JOBS

    for job in JOBS.values():
        click.echo(f"{job.id:<20} {job.schedule}  {job.description}")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in this process (run exactly one in production)."""
    from jobs.scheduler import run_scheduler

    run_scheduler()
