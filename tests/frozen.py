"""The moment the test suite runs at, and dates relative to it.

Every test runs with the clock frozen at :data:`NOW` (timeouts use the monotonic clock,
which keeps running); fixtures date themselves relative to it with :func:`days`,
never with a calendar date that the real calendar will pass. ``BROKER_TEST_NOW`` (an ISO
date-time) moves the anchor: CI runs the suite a second time more than a year ahead, with
the process's real clock moved too (Debian's faketime), to prove nothing reads the day.

The default anchor is a Tuesday morning in the autumn term; an anchor moved by a whole
number of weeks and about a year keeps the same weekday and place in the school year.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta

from broker import clock

__all__ = ["NOW", "TODAY", "days", "at"]

_DEFAULT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _anchor() -> datetime:
    value = os.environ.get("BROKER_TEST_NOW")
    if not value:
        return _DEFAULT
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


NOW: datetime = _anchor()
TODAY: date = clock.local_date(NOW)


def days(n: int) -> date:
    """Return the date ``n`` days after the frozen today (before it when ``n`` is negative)."""
    return TODAY + timedelta(days=n)


def at(n: int, hour: int = 9, minute: int = 0) -> datetime:
    """Return a UTC moment ``n`` days after the frozen today, at ``hour``:``minute`` UTC."""
    return datetime.combine(days(n), datetime.min.time(), tzinfo=UTC).replace(
        hour=hour, minute=minute
    )
