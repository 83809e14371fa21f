"""The one clock: England's date, the school year, and a suite frozen in one place."""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, date, datetime

import pytest

from broker import clock
from tests.frozen import NOW, TODAY


def test_school_year_runs_from_september_to_august():
    assert clock.school_year_of(date(2027, 8, 31)) == 2026
    assert clock.school_year_of(date(2026, 9, 1)) == 2026
    assert clock.school_year_of(date(2027, 9, 1)) == 2027
    assert clock.school_year_bounds(2026) == (date(2026, 9, 1), date(2027, 8, 31))
    assert clock.school_year_start(date(2027, 2, 28)) == date(2026, 9, 1)


def test_today_is_the_date_in_england_not_in_utc():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (summer time)...
    assert clock.local_date(datetime(2027, 6, 30, 23, 30, tzinfo=UTC)) == date(2027, 7, 1)
    # ...but in winter London keeps UTC.
    assert clock.local_date(datetime(2027, 1, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 31)


def test_the_suite_runs_at_the_frozen_moment(frozen_clock):
    assert abs((clock.now() - NOW).total_seconds()) < 60
    assert clock.today() == TODAY
    frozen_clock.move_to(datetime(2030, 3, 1, 12, tzinfo=UTC), tick=False)
    assert clock.today() == date(2030, 3, 1)


@pytest.mark.parametrize("name", ["broker.clock", "broker.services.demo"])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_no_code_reads_the_time_but_the_clock():
    """Only broker/clock.py asks the system for the date or time; all else asks the clock."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    banned = ("datetime.now(", "date.today(", "datetime.utcnow(", "datetime.today(")
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for package in ("broker", "jobs")
        for path in sorted((root / package).rglob("*.py"))
        if path.name != "clock.py"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if any(b in line for b in banned)
    ]
    assert offenders == []
