"""Bulk approval and the reminders job run a fixed number of statements however many rows
they handle: they lock once and count once, instead of once per match (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, func, select

from broker.extensions import db
from broker.models import Match, OutboxMessage, User
from broker.services import coordination
from broker.services.housekeeping import remind_due
from tests.frozen import NOW, days


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Collect every statement sent to the database inside the block."""
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _fresh_session() -> None:
    """Start from an empty identity map, as a new web request or job run does."""
    db.session.commit()
    db.session.expunge_all()


def _proposals(n, *, area, make_school, make_employer, make_offer, make_request, make_match,
               make_user, status="proposed", **values):
    made = []
    for _ in range(n):
        school = make_school(area=area)
        employer = make_employer()
        make_user(role="school", school_id=school.id)
        make_user(role="employer", employer_id=employer.id)
        made.append(make_match(request=make_request(school=school),
                               offer=make_offer(employer=employer), pupils=10, status=status,
                               **values))
    return made


def _bulk_statements(coordinator_id: int, expected: int) -> int:
    _fresh_session()
    user = db.session.get(User, coordinator_id)
    with count_statements() as statements:
        result = coordination.approve_filtered(
            user, coordination.QueueFilters(), expected=expected
        )
        db.session.flush()
    assert len(result.approved) == expected and not result.skipped
    return len(statements)


def test_bulk_approval_statements_do_not_grow_with_the_selection(
    make_area, make_school, make_employer, make_offer, make_request, make_match, make_user
):
    area = make_area()
    coordinator = make_user(role="coordinator", areas=[area]).id
    factories = dict(area=area, make_school=make_school, make_employer=make_employer,
                     make_offer=make_offer, make_request=make_request, make_match=make_match,
                     make_user=make_user)
    _proposals(2, **factories)
    few = _bulk_statements(coordinator, 2)
    _proposals(12, **factories)
    many = _bulk_statements(coordinator, 12)
    assert many == few, f"{few} statements for 2 proposals, {many} for 12"
    told = db.session.scalar(
        select(func.count()).where(OutboxMessage.template == "match_approved")
    )
    assert told == 2 * 14  # the school and the employer of each, once
    assert set(db.session.scalars(select(Match.status))) == {"approved"}


def _remind_statements(when) -> tuple[int, dict[str, int]]:
    _fresh_session()
    with count_statements() as statements:
        counts = remind_due(when)
        db.session.flush()
    return len(statements), counts


def test_reminder_statements_do_not_grow_with_the_reminders(
    make_area, make_school, make_employer, make_offer, make_request, make_match, make_user
):
    area = make_area()
    factories = dict(area=area, make_school=make_school, make_employer=make_employer,
                     make_offer=make_offer, make_request=make_request, make_match=make_match,
                     make_user=make_user)

    def some(n, shift):
        # Confirmations due (starting within a week) and agreed dates within three days.
        _proposals(n, status="approved", **factories,
                   **{"scheduled_on": days(shift + 5)})
        _proposals(n, status="accepted", **factories, **{"scheduled_on": days(shift + 2)})

    some(2, 0)
    few, counts = _remind_statements(NOW)
    assert counts == {"confirmations": 4, "encounters": 4, "vetting": 0}
    some(10, 10)
    many, counts = _remind_statements(NOW + timedelta(days=10))
    assert counts == {"confirmations": 20, "encounters": 20, "vetting": 0}
    assert many == few, f"{few} statements for 4 reminders, {many} for 20"
