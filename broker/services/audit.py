"""The audit log: who changed what, when; and the query behind the admins' audit log page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select

from broker import clock
from broker.extensions import db
from broker.models import AuditEntry, User


def record(action: str, obj: Any, *, by: User | None, **details: Any) -> AuditEntry:
    """Add an audit entry for ``action`` on ``obj`` by ``by`` (None for the system).

    ``obj`` is a model instance, or a string naming a kind of object for actions on many.
    """
    entry = AuditEntry(
        action=action,
        object_type=obj if isinstance(obj, str) else type(obj).__name__,
        object_id=None if isinstance(obj, str) else getattr(obj, "id", None),
        user_id=by.id if by is not None else None,
        details={k: _plain(v) for k, v in details.items()},
    )
    db.session.add(entry)
    return entry


def record_many(action: str, objs: Sequence[Any], *, by: User | None, **details: Any) -> None:
    """Add the same audit entry for each of ``objs`` (model instances) in one statement."""
    if not objs:
        return
    plain = {k: _plain(v) for k, v in details.items()}
    db.session.execute(
        insert(AuditEntry),
        [
            {
                "action": action,
                "object_type": type(obj).__name__,
                "object_id": obj.id,
                "user_id": by.id if by is not None else None,
                "details": plain,
            }
            for obj in objs
        ],
    )


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


@dataclass(frozen=True)
class AuditFilters:
    """The audit log page's filters, as parsed from the query string.

    ``action`` is matched exactly, or as a prefix when it ends with a dot (``auth.`` is every
    sign-in, failed sign-in and sign-out). ``user`` is an email address, or part of one: it
    finds what those people did and what was done to their accounts (failed sign-ins
    included). Dates are days in England, both ends included.
    """

    action: str | None = None
    user: str | None = None
    object_type: str | None = None
    object_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    @classmethod
    def from_args(cls, args: Any) -> AuditFilters:
        def parsed(key: str, kind: Any) -> Any:
            value = (args.get(key) or "").strip()
            try:
                return kind(value) if value else None
            except (TypeError, ValueError):
                return None

        def bounded(value: Any, low: Any, high: Any) -> Any:
            # Out of range is no filter, not a database error (ids are 32-bit; the dates
            # are those the forms accept, so "the day after" never overflows).
            return value if value is not None and low <= value <= high else None

        return cls(
            action=parsed("action", str),
            user=parsed("user", str),
            object_type=parsed("object_type", str),
            object_id=bounded(parsed("object_id", int), 1, 2**31 - 1),
            date_from=bounded(parsed("date_from", date.fromisoformat), *_DATES),
            date_to=bounded(parsed("date_to", date.fromisoformat), *_DATES),
        )


_DATES = (date(2000, 1, 1), date(2099, 12, 31))


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=clock.LONDON).astimezone(UTC)


def log_query(filters: AuditFilters) -> Select[AuditEntry, str]:
    """Audit entries matching ``filters`` with the acting user's email, newest first."""
    query = select(AuditEntry, User.email).outerjoin(User, User.id == AuditEntry.user_id)
    if filters.action:
        if filters.action.endswith("."):
            query = query.where(AuditEntry.action.startswith(filters.action, autoescape=True))
        else:
            query = query.where(AuditEntry.action == filters.action)
    if filters.user:
        people = select(User.id).where(
            func.lower(User.email).contains(filters.user.lower(), autoescape=True)
        )
        query = query.where(
            or_(
                AuditEntry.user_id.in_(people),
                and_(AuditEntry.object_type == "User", AuditEntry.object_id.in_(people)),
            )
        )
    if filters.object_type:
        query = query.where(AuditEntry.object_type == filters.object_type)
    if filters.object_id is not None:
        query = query.where(AuditEntry.object_id == filters.object_id)
    if filters.date_from:
        query = query.where(AuditEntry.at >= _start_of(filters.date_from))
    if filters.date_to:
        query = query.where(AuditEntry.at < _start_of(filters.date_to + timedelta(days=1)))
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())


def known_values() -> tuple[list[str], list[str]]:
    """Return the actions and object types in the log, for the filters' suggestions."""
    actions = db.session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    types = db.session.scalars(
        select(AuditEntry.object_type).distinct().order_by(AuditEntry.object_type)
    )
    return list(actions), list(types)
