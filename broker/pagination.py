"""Pagination of ``select`` queries for long lists."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute

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
    query: Select,
    *,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    rows: bool = False,
    key: ColumnElement[Any] | QueryableAttribute[Any] | None = None,
) -> Page:
    """Run ``query`` for one page and count the whole result.

    With ``rows`` the items are whole result rows (for queries of several columns);
    otherwise they are the first column's objects. With ``key`` (the entity's primary key)
    the page's keys are found first and only their rows loaded, so a deep page walks an
    index rather than every earlier row with its joins.
    """
    per_page = max(1, min(per_page, 200))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = max(1, min(page, max(1, -(-int(total or 0) // per_page))))
    offset = (page - 1) * per_page
    if key is not None and not rows:
        keys = list(db.session.scalars(query.with_only_columns(key).limit(per_page).offset(offset)))
        items = list(db.session.scalars(query.where(key.in_(keys)))) if keys else []
    else:
        limited = query.limit(per_page).offset(offset)
        items = list(db.session.execute(limited).all() if rows else db.session.scalars(limited))
    return Page(items=items, page=page, per_page=per_page, total=int(total or 0))
