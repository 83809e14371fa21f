"""The audit log: who changed what, when."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert

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
