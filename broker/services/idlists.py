"""Reading rows for a list of ids: in ``IN (...)`` lists short enough for SQLite, or, for
many ids, in one pass over the table (cheaper than thousands of lists)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam

__all__ = ["CHUNK", "SCAN_ABOVE", "by_ids", "chunks"]

CHUNK = 900  # ids per IN (...) list, below SQLite's parameter limit
#: Beyond this many ids one pass over the table costs less than many IN (...) lists.
SCAN_ABOVE = 5 * CHUNK



def chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    """Slices of ``ids`` short enough for one ``IN (...)`` list."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def by_ids(
    query: Callable[[Sequence[Any]], Iterable[Any]],
    column: Any,
    ids: Iterable[int],
    *,
    key: str | None = None,
) -> list[Any]:
    """Run ``query(where)`` for the rows whose ``column`` is in ``ids``, chunk by chunk.

    Many ids are read in one pass without a filter and picked out here by the row's
    ``key`` attribute (``column``'s name unless given), which is cheaper than thousands of
    ``IN (...)`` lists (the nightly run's case).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return []
    if len(wanted) > SCAN_ABOVE:
        keep = set(wanted)
        name = key or column.key
        return [row for row in query(()) if getattr(row, name) in keep]
    out: list[Any] = []
    for chunk in chunks(wanted):
        # One expanding parameter: SQLAlchemy then does not coerce the ids one by one.
        out.extend(query((column.in_(bindparam("ids", list(chunk), expanding=True)),)))
    return out
