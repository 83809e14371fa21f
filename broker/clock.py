"""The broker's one clock: the current moment, today's date in England, and the school year.

Every service and view reads the time here (or takes ``now``/``today`` as an argument), never
from ``datetime.now`` or ``date.today`` directly, so that the test suite can freeze it in one
place and every page and job agrees on what "today" is.

The broker serves English schools, so "today" is the date in Europe/London: a nightly run at
00:30 in June (23:30 UTC the day before) already counts as the new day.

- **School year**: 1 September to 31 August; a school year is named by the calendar year it
  starts in (``school_year_of(date(2027, 3, 1)) == 2026``).

>>> from datetime import date
>>> school_year_of(date(2027, 8, 31)), school_year_of(date(2027, 9, 1))
(2026, 2027)
>>> school_year_bounds(2026)
(datetime.date(2026, 9, 1), datetime.date(2027, 8, 31))
>>> school_year_start(date(2027, 3, 1))
datetime.date(2026, 9, 1)
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

__all__ = [
    "LONDON",
    "local_date",
    "now",
    "school_year_bounds",
    "school_year_of",
    "school_year_start",
    "today",
]

LONDON = ZoneInfo("Europe/London")


def now() -> datetime:
    """Return the current moment in UTC, timezone-aware."""
    return datetime.now(UTC)


def local_date(moment: datetime) -> date:
    """Return the date in England at ``moment`` (a naive ``moment`` is taken as UTC).

    >>> local_date(datetime(2027, 6, 30, 23, 30, tzinfo=UTC))
    datetime.date(2027, 7, 1)
    >>> local_date(datetime(2027, 1, 31, 23, 30))
    datetime.date(2027, 1, 31)
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LONDON).date()


def today() -> date:
    """Return today's date in England."""
    return local_date(now())


def school_year_of(day: date) -> int:
    """Return the school year ``day`` falls in, as the calendar year it starts in."""
    return day.year if day.month >= 9 else day.year - 1


def school_year_start(day: date) -> date:
    """Return the 1 September that starts the school year ``day`` falls in."""
    return date(school_year_of(day), 9, 1)


def school_year_bounds(year: int) -> tuple[date, date]:
    """Return the first and last day of school year ``year`` (1 September to 31 August)."""
    return date(year, 9, 1), date(year + 1, 8, 31)


def provider_deadline(year: int) -> date:
    """Return 28 February of school year ``year``: provider encounters are due by then.

    >>> provider_deadline(2026)
    datetime.date(2027, 2, 28)
    """
    return date(year + 1, 2, 28)
