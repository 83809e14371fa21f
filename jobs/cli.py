"""Commands for jobs: ``broker jobs list``, ``broker jobs run NAME``, ``broker jobs unlock
NAME`` and ``broker scheduler``."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click
from flask.cli import with_appcontext

if TYPE_CHECKING:
    from jobs.runner import LeaseInfo


@click.group("jobs")
def jobs_group() -> None:
    """List and run the broker's scheduled jobs."""


@jobs_group.command("list")
@with_appcontext
def list_jobs() -> None:
    """List the registered jobs, when they run, and who holds a job's lease now."""
    from jobs.registry import JOBS
    from jobs.runner import lease_info

    for job in JOBS.values():
        click.echo(f"{job.id:<20} {job.schedule}  {job.description}")
        info = lease_info(job.id)
        if info is not None:
            click.echo(f"{'':<20} {_describe(info)}")


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
    from jobs.runner import lease_info, run_job

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
        info = lease_info(name)
        if info is not None:
            click.echo(
                f"{name}: {_describe(info)}. If that process is gone, its lease lapses within "
                f"JOB_LEASE_SECONDS, or free it now: broker jobs unlock {name}",
                err=True,
            )
        raise SystemExit(1)


def _at_a_terminal() -> bool:
    """Whether a person is typing the command (a script or the scheduler has no terminal)."""
    return sys.stdin.isatty()


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "an unknown time"


def _describe(info: LeaseInfo) -> str:
    """Say who holds a lease, since when, and whether its holder still renews it."""
    said = f"held by {info.holder} since {_when(info.acquired_at)}"
    if info.lapsed:
        return f"{said}; lapsed at {_when(info.expires_at)} (its holder stopped renewing it)"
    return f"{said}; runs until {_when(info.expires_at)} unless its holder renews it"


@jobs_group.command("unlock")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def unlock_command(name: str, yes: bool) -> None:
    """Free the lease of job NAME, say a process killed mid-run left it held.

    Says who held it and since when. Asks first when run at a terminal, unless --yes; run
    from a script (no terminal), it does not ask. A killed holder's lease lapses by itself
    within JOB_LEASE_SECONDS, so this is rarely needed.
    """
    from jobs.registry import JOBS
    from jobs.runner import lease_info, release_lease

    if name not in JOBS:
        raise click.BadParameter(f"no job {name!r}; try: {', '.join(JOBS)}", param_hint="NAME")
    info = lease_info(name)
    if info is None:
        click.echo(f"{name}: not held; nothing to unlock.")
        return
    click.echo(f"{name}: {_describe(info)}.")
    if not yes and _at_a_terminal():
        question = "Unlock it?" if info.lapsed else "It may still be running. Unlock it anyway?"
        click.confirm(question, abort=True)
    if not release_lease(name, info.holder):
        raise click.ClickException(f"{name}: its lease changed hands meanwhile; left as it is.")
    click.echo(f"{name}: unlocked; the next run may take it.")


@click.command("scheduler")
@with_appcontext
def scheduler_command() -> None:
    """Run the scheduler in this process (run exactly one in production)."""
    from jobs.scheduler import run_scheduler

    run_scheduler()
