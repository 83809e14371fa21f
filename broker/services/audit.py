"""The audit log: who changed what, when."""

from __future__ import annotations

from typing import Any

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


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)
