"""What each insights page shows, put together from the services (read only).

Kept apart from the views so that the views stay thin and the coordinator dashboard can show
the same lead (map and three numbers) as the insights overview.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from flask import current_app, url_for
from markupsafe import Markup
from sqlalchemy import select

from broker.extensions import db
from broker.insights import svg
from broker.models import Area
from broker.services import coverage
from broker.services.insights import REACH_KM, gains_for
from broker.templating import label

__all__ = [
    "NATIONAL_SECONDS",
    "Lead",
    "MapView",
    "lead",
    "map_view",
    "map_views",
    "national",
    "needs_sentence",
]

T = TypeVar("T")

#: Figures for the whole country (every school, request, offer and match in England) are
#: worked out at most this often per web process; an area's are always worked out afresh.
NATIONAL_SECONDS = 300.0


def national(area_ids: list[int] | None, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """``compute()``, kept for :data:`NATIONAL_SECONDS` when it covers the whole country.

    Reading every row in England takes most of a second, which an admin's national pages
    should not pay on each view; an area's pages read a few hundred rows and stay live.
    """
    if area_ids is not None:
        return compute()
    cache: dict[tuple[Any, ...], tuple[float, Any]] = current_app.extensions.setdefault(
        "insights_national", {}
    )
    now = time.monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < NATIONAL_SECONDS:
        return hit[1]  # type: ignore[no-any-return]
    value = compute()
    cache[key] = (now, value)
    return value


# How to say "one more <type>" in a sentence.
_ONE = {
    "talk": "An employer talk",
    "careers_fair": "A careers fair",
    "workplace_visit": "A workplace visit",
    "work_experience": "A work experience placement",
    "mentoring": "A mentoring programme",
    "mock_interview": "A mock interview session",
    "enterprise_challenge": "An enterprise challenge",
    "cv_workshop": "A CV workshop",
}


def needs_sentence(g: dict[str, Any], km: float = REACH_KM) -> str:
    """One suggestion as a coordinator can act on it.

    >>> print(needs_sentence({"type": "workplace_visit", "year": 10, "place": "Boston",
    ...     "pupils": 36, "places": 12, "schools": [1, 2, 3], "new_schools": [1, 2, 3], "sen": []}))
    A workplace visit for year 10 within 20 km of Boston would serve 3 schools with none this
    year (36 pupils).
    """
    what = _ONE.get(g["type"], label(g["type"]))
    n, new = len(g["schools"]), len(g["new_schools"])
    schools = f"{n} school{'s' if n != 1 else ''}"
    if new == n:
        who = f"{schools} with none this year"
    elif new:
        who = f"{schools}, {new} of them with none this year"
    else:
        who = schools
    text = (
        f"{what} for year {g['year']} within {km:.0f} km of {g['place']} would serve {who} "
        f"({g['pupils']} pupil{'s' if g['pupils'] != 1 else ''})"
    )
    if g.get("sen"):
        text += "; it would need to support " + ", ".join(label(c).lower() for c in g["sen"])
    return text + "."


@dataclass
class MapView:
    """A map and what it was drawn from."""

    svg: Markup
    schools: list[coverage.MapSchool]
    offers: int
    places: int
    gains: list[dict[str, Any]]
    national: bool
    title: str = ""


def _area_names(area_ids: list[int] | None) -> list[str]:
    if area_ids is None:
        return []
    return list(db.session.scalars(select(Area.name).where(Area.id.in_(area_ids or [-1]))))


def map_view(
    area_ids: list[int] | None,
    today: date,
    snapshot: Any,
    *,
    n_gains: int = 5,
    show_offers: bool = True,
    map_id: str = "map",
    title: str | None = None,
    types: set[str] | None = None,
) -> MapView:
    """The coverage map of the areas (or England), with offers and the best suggestions."""
    schools = coverage.map_schools(area_ids, today)
    national = area_ids is None or not schools
    if national:
        bounds = svg.england_bounds()
    else:
        bounds = svg.Bounds.around([(s.lat, s.lon) for s in schools])
    offers = (
        coverage.map_offers(
            today,
            bounds=(bounds.lat_lo, bounds.lat_hi, bounds.lon_lo, bounds.lon_hi),
            grid=0.1 if national else None,
        )
        if show_offers
        else []
    )
    gains = [
        dict(g, label=needs_sentence(g))
        for g in gains_for(snapshot, area_ids, types=types, limit=n_gains)
    ]
    drawn = svg.coverage_map(
        bounds=bounds,
        schools=schools,
        offers=offers,
        gains=gains,
        highlight=svg.features_for(_area_names(area_ids)),
        link=lambda s: url_for("insights.school", school_id=s.id),
        title=title or ("Coverage map of England" if area_ids is None else "Coverage map"),
        width=600.0,
        map_id=map_id,
    )
    title = title or ("Coverage map of England" if area_ids is None else "Coverage map")
    return MapView(
        drawn,
        schools,
        sum(o[2] for o in offers),
        sum(o[3] for o in offers),
        gains,
        area_ids is None,
        title,
    )


#: A coordinator with a few areas gets one map each (areas far apart make one map mostly
#: empty); with more, one map of them all.
MAPS_PER_AREA_UP_TO = 3


def map_views(
    area_ids: list[int] | None, today: date, snapshot: Any, *, map_id: str = "map", **kw: Any
) -> list[MapView]:
    """One map of the areas, or one per area when there are a few."""
    if area_ids is None:
        key = ("map", today, getattr(snapshot, "id", None), map_id, tuple(sorted(kw.items())))
        return [national(None, key, lambda: map_view(None, today, snapshot, map_id=map_id, **kw))]
    if not 1 < len(area_ids) <= MAPS_PER_AREA_UP_TO:
        return [map_view(area_ids, today, snapshot, map_id=map_id, **kw)]
    names = dict(db.session.execute(select(Area.id, Area.name).where(Area.id.in_(area_ids))).all())
    return [
        map_view(
            [a],
            today,
            snapshot,
            map_id=f"{map_id}-{a}",
            title=f"Coverage map of {names.get(a, 'the area')}",
            **kw,
        )
        for a in sorted(area_ids, key=lambda a: names.get(a, ""))
    ]


@dataclass
class Lead:
    """What a coordinator's dashboard leads with: the map and three numbers."""

    maps: list[MapView]
    headline: coverage.Headline


def lead(area_ids: list[int] | None, today: date, snapshot: Any) -> Lead:
    """The dashboard lead for the areas; for the whole country (admins) the numbers only,
    since the national map (every school in England) is a page of its own."""
    maps = (
        []
        if area_ids is None
        else map_views(area_ids, today, snapshot, n_gains=3, map_id="lead-map")
    )
    return Lead(maps, headline(area_ids, today))


def headline(area_ids: list[int] | None, today: date) -> coverage.Headline:
    """The three numbers (kept a few minutes for the whole country)."""
    return national(area_ids, ("headline", today), lambda: coverage.headline(area_ids, today))
