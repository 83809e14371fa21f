"""Jobs' INFO lines reach the log: the app factory configures logging for every process."""

from __future__ import annotations

import logging
import signal

import pytest

from broker import create_app
from broker.extensions import db
from config import TestConfig
from jobs import tasks
from tests.frozen import at
from tests.jobs.processes import BROKER, Child, broker_env


@pytest.fixture
def database_file(tmp_path):
    """The URL of an SQLite file with the schema, for child processes to use."""
    url = f"sqlite:///{tmp_path / 'broker.sqlite'}"
    app = create_app(type("FileConfig", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


@pytest.mark.slow
def test_broker_jobs_run_logs_the_jobs_info_lines(database_file, tmp_path):
    child = Child(BROKER, ["jobs", "run", "expire"], broker_env(database_file, tmp_path))
    try:
        assert child.finish() == 0, child.stderr
        child.wait_for_line("expire: {'requests': 0", stream="stdout")
        for line in (
            "INFO jobs.runner: job expire starting",
            "INFO broker.services.housekeeping: expired 0 requests",
            "INFO jobs.runner: job expire finished",
        ):
            child.wait_for_line(line, stream="stderr")
    finally:
        child.close()


@pytest.mark.slow
def test_the_scheduler_logs_its_schedule_and_stops_on_sigterm(database_file, tmp_path):
    child = Child(BROKER, ["scheduler"], broker_env(database_file, tmp_path))
    try:
        for job in ("match", "expire", "remind", "send-outbox"):
            child.wait_for_line(f"INFO jobs.scheduler: scheduled {job}: next run", stream="stderr")
        assert child.signal(signal.SIGTERM) == 0, child.stderr
    finally:
        child.close()


def test_the_factory_lets_job_info_lines_through(app, caplog):
    # No caplog.set_level: the levels are the app's own.
    assert logging.getLogger("jobs.tasks").isEnabledFor(logging.INFO)
    tasks.expire(at(0, 2))
    assert any(
        r.name == "broker.services.housekeeping" and r.levelno == logging.INFO
        for r in caplog.records
    ), caplog.text


def test_log_level_is_a_setting(monkeypatch):
    quiet = type("QuietConfig", (TestConfig,), {"LOG_LEVEL": "warning"})
    try:
        create_app(quiet)
        assert not logging.getLogger("jobs").isEnabledFor(logging.INFO)
        assert logging.getLogger("broker").isEnabledFor(logging.WARNING)
        with pytest.raises(ValueError, match="LOG_LEVEL 'CHATTY' is not a logging level"):
            create_app(type("BadConfig", (TestConfig,), {"LOG_LEVEL": "chatty"}))
    finally:
        create_app(TestConfig)  # the suite's levels again
