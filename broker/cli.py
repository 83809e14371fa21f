"""The ``broker`` command: a Flask CLI group with the broker's own commands.

``broker db upgrade`` (from Flask-Migrate) builds or updates the schema; ``broker demo``
loads the demo data and serves the app; ``broker import-schools FILE`` loads schools;
``broker create-user`` creates coordinators and admins.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select
from werkzeug.serving import run_simple

from broker.extensions import db

if TYPE_CHECKING:
    from werkzeug.local import LocalProxy
from broker.gias import SCHOOLS_CSV as SHIPPED_SCHOOLS


def _create_app() -> Flask:
    from broker import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app)
def main() -> None:
    """Manage the broker: database, imports, users, demo, jobs."""


def register_commands(app: Flask) -> None:
    """Attach the broker's commands to ``app.cli`` (so ``flask`` and ``broker`` both have them)."""
    from jobs.cli import jobs_group, scheduler_command

    app.cli.add_command(import_schools_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(jobs_group)
    app.cli.add_command(scheduler_command)


@click.command("import-schools")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=SHIPPED_SCHOOLS
)
@click.option(
    "--show-skipped/--no-show-skipped", default=True, help="List every skipped row with its reason."
)
@with_appcontext
def import_schools_command(file: Path, show_skipped: bool) -> None:
    """Import schools from a GIAS CSV extract or the shipped schools_england.csv."""
    from broker.gias import SchoolFileError
    from broker.services.schools import load_schools

    try:
        report = load_schools(file)
    except SchoolFileError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"{file.name}: {report.summary()}")
    if show_skipped:
        for line in report.skipped:
            click.echo(f"  skipped {line}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", type=click.Choice(["coordinator", "admin"]), default="coordinator")
@click.option("--area", "areas", multiple=True, help="Local authority name; repeat for several.")
@click.password_option()
@with_appcontext
def create_user_command(
    email: str, name: str, role: str, areas: tuple[str, ...], password: str
) -> None:
    """Create a coordinator (scoped to areas) or an admin."""
    from broker.models import Area
    from broker.services.accounts import create_user
    from broker.services.errors import ServiceError

    found = []
    for name_ in areas:
        area = db.session.scalar(select(Area).where(Area.name == name_))
        if area is None:
            raise click.BadParameter(
                f"no area called {name_!r}; import schools first", param_hint="--area"
            )
        found.append(area)
    try:
        user = create_user(
            email=email, name=name or email, role=role, password=password, areas=found
        )
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from exc
    db.session.commit()
    click.echo(f"Created {user.role} {user.email}")


@click.command("demo")
@click.option("--small", is_flag=True, help="A quick look: a few hundred offers and requests.")
@click.option("--seed", default=2026, show_default=True)
@click.option("--serve/--no-serve", default=True, help="Serve the app when loaded.")
@click.option("--reset", is_flag=True, help="Delete the existing demo database first.")
@click.option(
    "--lived-in",
    is_flag=True,
    help="Play the school year so far: approvals, answers, deliveries, feedback, cancellations.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def demo_command(
    small: bool, seed: int, serve: bool, reset: bool, lived_in: bool, host: str, port: int
) -> None:
    """Build a demo database with real schools and seeded employers, then serve it."""
    from flask import current_app

    from broker.services.demo import DemoSize, load_demo

    if reset:
        db.drop_all()
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    upgrade()
    size = DemoSize.small() if small else DemoSize.national()
    logins = load_demo(
        size=size,
        seed=seed,
        schools_file=SHIPPED_SCHOOLS,
        say=lambda m: click.echo(m, err=True),
        lived_in=lived_in,
    )
    click.echo(f"\nDemo logins (password for all: {logins.password}):")
    for role, email in logins.emails.items():
        click.echo(f"  {role:<12} {email}")
    if serve:
        click.echo(f"\nServing on http://{host}:{port}/  (Ctrl+C to stop)")
        # Flask's app.run() refuses to block inside a `flask`-style CLI command, so the
        # demo serves through Werkzeug directly (gunicorn is for production).
        # current_app is a LocalProxy (typed as the Flask it stands for); serve the app itself.
        app = cast("LocalProxy[Flask]", current_app)._get_current_object()
        run_simple(host, port, app, threaded=True)
