"""Schools: importing the school list, keeping profiles, and classing schools as rural."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

import numpy as np
from sklearn.neighbors import BallTree
from sqlalchemy import ColumnElement, false, func, or_, select
from tqdm import tqdm

from broker import clock
from broker.extensions import db
from broker.geo import PostcodeError, normalise_postcode
from broker.gias import MAX_INTEGER, SchoolRow, parse_schools
from broker.models import Area, School

# A school with fewer than this many other schools within RURAL_RADIUS_KM is counted as
# rural. There is no open rural-urban flag per school in our data, and school density is
# what decides whether employers are within reach, which is what "rural" means here.
RURAL_RADIUS_KM = 10.0
RURAL_MAX_NEIGHBOURS = 3
EARTH_RADIUS_KM = 6371.0088

# The fields the school list owns. A school may correct some of them on its profile; those
# are then recorded in School.local_overrides and a re-import leaves them as the school said.
IMPORTED_FIELDS = frozenset(
    {"name", "postcode", "lat", "lon", "kind", "gender", "phase", "pupils", "fsm_pct", "la_name"}
)

# Searching for a school by what a careers leader knows of it (issue 12).
SEARCH_MAX_LENGTH = 100  # longer terms find nothing: no school name is that long to type
SEARCH_LIMIT = 20
# The first half of a postcode (its district), e.g. "SW1A" or "N1"; spaces removed, upper case.
_DISTRICT_RE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?")
# A postcode being typed: letters then a digit, and nothing but letters and digits.
_PARTIAL_POSTCODE_RE = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]*")


@dataclass
class ImportReport:
    """What an import did: counts, and every row it skipped with the reason."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{len(self.skipped)} skipped"
        )


def load_schools(
    source: str | os.PathLike[str] | IO[bytes] | IO[str], *, quiet: bool = False
) -> ImportReport:
    """Parse a schools file and import it, with a progress bar on stderr unless ``quiet``.

    Returns the import report, whose ``skipped`` lists every row the file parser left out
    and why (line, URN, column, reason). Raises :class:`broker.gias.SchoolFileError` for a
    file that is not a schools file. Adds and flushes; the caller commits.
    """
    parsed = parse_schools(source)
    with tqdm(
        total=len(parsed.rows),
        desc="Importing schools",
        unit="school",
        disable=quiet,
        file=sys.stderr,
    ) as bar:
        report = import_schools(parsed.rows, progress=bar.update)
    report.skipped.extend(
        f"line {s.line}: URN {s.urn or '?'}: {s.field}: {s.reason}" for s in parsed.skipped
    )
    return report


def import_schools(
    rows: Iterable[SchoolRow],
    *,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update schools by URN from parsed rows; re-importing never duplicates.

    A careers leader's own edits are kept: contacts and SEN profile are never touched, and
    fields of the school list that the school corrected (``local_overrides``) stay as the
    school set them.
    """
    now = now or clock.now()
    report = ImportReport()
    existing = {s.urn: s for s in db.session.scalars(select(School))}
    areas = {a.name: a for a in db.session.scalars(select(Area))}
    for row in rows:
        area = None
        if row.la_name:
            area = areas.get(row.la_name)
            if area is None:
                area = areas[row.la_name] = Area(name=row.la_name)
                db.session.add(area)
        values = {name: getattr(row, name) for name in IMPORTED_FIELDS}
        school = existing.get(row.urn)
        # The web address is kept from an import that had one: a list without the column (the
        # shipped one) does not clear it.
        if row.website:
            values["website"] = row.website
        if school is None:
            school = School(urn=row.urn, area=area, imported_at=now, **values)
            db.session.add(school)
            existing[row.urn] = school
            report.created += 1
        else:
            kept = set(school.local_overrides or ())
            changed = {k: v for k, v in values.items() if k not in kept and getattr(school, k) != v}
            if area is not None and school.area is not area:
                changed["area"] = area
            if changed:
                for key, value in changed.items():
                    setattr(school, key, value)
                school.imported_at = now
                report.updated += 1
            else:
                report.unchanged += 1
        if progress:
            progress(1)
    db.session.flush()
    classify_rural()
    return report


def classify_rural() -> int:
    """Mark schools rural or not by how many other schools lie within reach; return rural count."""
    schools = list(db.session.scalars(select(School).order_by(School.id)))
    if not schools:
        return 0
    coords = np.radians([[s.lat, s.lon] for s in schools])
    tree = BallTree(coords, metric="haversine")
    counts = tree.query_radius(coords, r=RURAL_RADIUS_KM / EARTH_RADIUS_KM, count_only=True)
    rural = 0
    for school, n in zip(schools, counts, strict=True):
        is_rural = bool(n - 1 < RURAL_MAX_NEIGHBOURS)
        if school.rural != is_rural:
            school.rural = is_rural
        rural += is_rural
    db.session.flush()
    return rural


def _contains(column: ColumnElement[str] | Any, text: str) -> ColumnElement[bool]:
    """SQL: ``column`` contains ``text`` ignoring case, ``%`` and ``_`` taken literally."""
    words = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{words}%", escape="\\")


def search_schools(term: str, limit: int = SEARCH_LIMIT) -> list[School]:
    """Schools a person may mean by ``term``: at most ``limit``, by name.

    ``term`` may be a URN (all digits), part of the school's name, its town (the local
    authority's name, or a postcode district such as ``"SW1A"``) or its postcode (full, in any
    case and spacing, or its beginning). Case is ignored and ``%`` and ``_`` are taken
    literally. An empty term, or one longer than :data:`SEARCH_MAX_LENGTH`, finds nothing.
    """
    term = " ".join(str(term or "").split())
    if not term or len(term) > SEARCH_MAX_LENGTH or limit < 1:
        return []
    if term.isdigit():
        match = School.urn == int(term) if int(term) <= MAX_INTEGER else false()
    else:
        matches = [_contains(School.name, term), _contains(School.la_name, term)]
        compact = term.replace(" ", "").upper()
        try:
            matches.append(School.postcode == normalise_postcode(term))
        except PostcodeError:
            if _DISTRICT_RE.fullmatch(compact):
                matches.append(School.postcode.like(f"{compact} %"))
            if _PARTIAL_POSTCODE_RE.fullmatch(compact) and len(compact) > 4:
                # The start of a full postcode, typed with or without its space.
                matches.append(func.replace(School.postcode, " ", "").like(f"{compact}%"))
        match = or_(*matches)
    query = select(School).where(match).order_by(School.name, School.urn).limit(limit)
    return list(db.session.scalars(query))
