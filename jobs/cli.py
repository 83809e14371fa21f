"""Commands for jobs: ``broker jobs list``, ``broker jobs run NAME`` and ``broker scheduler``."""

from __future__ import annotations

from datetime import datetime

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


@jobs_group.command("run")
@click.argument("name")
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO-DATETIME",
    help="Run as if it were this time (UTC if no offset); default: now.",
)
@with_appcontext
def run_command(name: str, now_text: str | None) -> None:
    """Run the job NAME now (e.g. ``broker jobs run match``), under its lease."""
    from datetime import UTC

    from jobs.registry import JOBS
    from jobs.runner import run_job

    if name not in JOBS:
        raise click.BadParameter(f"no job {name!r}; try: {', '.join(JOBS)}", param_hint="NAME")
    now = None
    if now_text:
        now = datetime.fromisoformat(now_text)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    outcome = run_job(name, now)
    click.echo(str(outcome))
    if not outcome.ran:
        raise SystemExit(1)


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in this process (run exactly one in production)."""
    from jobs.scheduler import run_scheduler

    run_scheduler()
