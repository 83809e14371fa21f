"""Pagination of ``select`` queries for long lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select

from broker.extensions import db

DEFAULT_PER_PAGE = 25


@dataclass
class Page:
    """One page of results, with what a template needs to link to the others."""

    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def paginate(
    query: Select, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE, rows: bool = False
) -> Page:
    """Run ``query`` for one page and count the whole result.

    With ``rows`` the items are whole result rows (for queries of several columns);
    otherwise they are the first column's objects.
    """
    per_page = max(1, min(per_page, 200))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, min(page, max(1, -(-int(total or 0) // per_page))))
    limited = query.limit(per_page).offset((page - 1) * per_page)
    items = list(db.session.execute(limited).all() if rows else db.session.scalars(limited))
    return Page(items=items, page=page, per_page=per_page, total=int(total or 0))
