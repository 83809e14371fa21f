"""CSV exports: encounters per school and year group, coverage per school, match runs.

Every text cell goes through :func:`safe_cell`: a spreadsheet treats a cell that starts with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return before one) as a formula, so a school
or employer called ``=HYPERLINK(...)`` could run something on a coordinator's computer.
Such cells are written with a leading apostrophe, which spreadsheets show as text. Numbers
stay numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select

from broker import clock
from broker.extensions import db
from broker.models import (
    Area,
    Employer,
    Encounter,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
)
from broker.services.coverage import school_coverage
from broker.statuses import LOCKED, MatchStatus

__all__ = ["coverage_csv", "encounters_csv", "runs_csv", "safe_cell", "to_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Return ``value`` ready for a CSV cell that a spreadsheet cannot run as a formula.

    >>> safe_cell("=1+2"), safe_cell("-cmd"), safe_cell("@SUM(A1)"), safe_cell("Ok"), safe_cell(-3)
    ("'=1+2", "'-cmd", "'@SUM(A1)", 'Ok', -3)
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = value.isoformat() if isinstance(value, date) else str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Write rows under a header as CSV text, every cell made safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


def encounters_csv(school_ids: list[int] | None, area_ids: list[int] | None, today: date) -> str:
    """This school year's encounters, booked or delivered, per school and year group.

    One row per match approved, accepted or delivered on a request of this school year, in
    the schools (or areas) given; for a school's own records and its MIS.
    """
    year_start = clock.school_year_start(today)
    query = (
        select(
            School.urn,
            School.name,
            EncounterRequest.year_group,
            EncounterRequest.type,
            Match.status,
            Encounter.delivered_on,
            Match.scheduled_on,
            Match.pupils,
            Encounter.pupils_reached,
            Employer.name,
            Offer.sector,
            Offer.stem,
            Match.id,
        )
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(School, EncounterRequest.school_id == School.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Employer, Offer.employer_id == Employer.id)
        .outerjoin(Encounter, Encounter.match_id == Match.id)
        .where(Match.status.in_(LOCKED), EncounterRequest.latest >= year_start)
        .order_by(School.name, School.urn, EncounterRequest.year_group, Match.id)
    )
    if school_ids is not None:
        query = query.where(School.id.in_(school_ids or [-1]))
    if area_ids is not None:
        query = query.where(School.area_id.in_(area_ids or [-1]))
    rows = (
        [
            urn,
            school,
            year,
            kind,
            status,
            delivered or scheduled,
            reached if reached is not None else pupils,
            employer,
            sector,
            stem,
            match_id,
        ]
        for (
            urn,
            school,
            year,
            kind,
            status,
            delivered,
            scheduled,
            pupils,
            reached,
            employer,
            sector,
            stem,
            match_id,
        ) in db.session.execute(query)
    )
    return to_csv(
        [
            "urn",
            "school",
            "year_group",
            "encounter_type",
            "status",
            "date",
            "pupils",
            "employer",
            "sector",
            "stem",
            "match_id",
        ],
        rows,
    )


def coverage_csv(area_ids: list[int] | None, today: date) -> str:
    """Coverage per school in the areas: this year's level, encounters and open requests."""
    coverage = school_coverage(area_ids, today)
    year_start = clock.school_year_start(today)
    in_areas = (
        []
        if area_ids is None
        else [
            EncounterRequest.school_id.in_(
                select(School.id).where(School.area_id.in_(area_ids or [-1]))
            )
        ]
    )
    counts: dict[int, list[int]] = {}
    for school_id, status, pupils in db.session.execute(
        select(EncounterRequest.school_id, Match.status, Match.pupils)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(
            Match.status.in_(LOCKED),
            EncounterRequest.latest >= year_start,
            *in_areas,
        )
    ):
        c = counts.setdefault(int(school_id), [0, 0, 0, 0])
        if status == MatchStatus.DELIVERED:
            c[0] += 1
            c[1] += pupils
        else:
            c[2] += 1
            c[3] += pupils
    open_req: dict[int, list[int]] = {}
    for school_id, has in db.session.execute(
        select(EncounterRequest.school_id, EncounterRequest.has_candidate).where(
            EncounterRequest.status == "open", EncounterRequest.latest >= today, *in_areas
        )
    ):
        o = open_req.setdefault(int(school_id), [0, 0])
        o[0] += 1
        o[1] += has is False
    query = (
        select(
            School.id,
            School.urn,
            School.name,
            Area.name,
            School.postcode,
            School.kind,
            School.fsm_pct,
            School.rural,
        )
        .outerjoin(Area, School.area_id == Area.id)
        .order_by(Area.name, School.name, School.id)
    )
    if area_ids is not None:
        query = query.where(School.area_id.in_(area_ids or [-1]))
    rows = [
        [
            *columns,
            coverage.get(school_id, "none"),
            *counts.get(school_id, [0, 0, 0, 0]),
            *open_req.get(school_id, [0, 0]),
        ]
        for school_id, *columns in db.session.execute(query)
    ]
    return to_csv(
        [
            "urn",
            "school",
            "area",
            "postcode",
            "kind",
            "fsm_pct",
            "rural",
            "coverage",
            "encounters_delivered",
            "pupils_reached",
            "encounters_booked",
            "pupils_booked",
            "open_requests",
            "cold_spot_requests",
        ],
        rows,
    )


def runs_csv(limit: int = 1000) -> str:
    """The match runs, newest first, with their figures."""
    rows = []
    for run in db.session.scalars(select(MatchRun).order_by(MatchRun.id.desc()).limit(limit)):
        f = run.figures or {}
        changes = run.changes or {}
        rows.append(
            [
                run.id,
                run.kind,
                run.status,
                run.started_at.isoformat() if run.started_at else "",
                run.finished_at.isoformat() if run.finished_at else "",
                f.get("requests"),
                f.get("offers"),
                f.get("pupils_requested"),
                f.get("pupils_matched"),
                f.get("proposals"),
                f.get("cold_spots"),
                changes.get("added"),
                changes.get("kept"),
                changes.get("withdrawn"),
                (f.get("seconds") or {}).get("total"),
                run.error,
            ]
        )
    return to_csv(
        [
            "run",
            "kind",
            "status",
            "started_at",
            "finished_at",
            "requests",
            "offers",
            "pupils_requested",
            "pupils_matched",
            "proposals",
            "cold_spots",
            "added",
            "kept",
            "withdrawn",
            "seconds",
            "error",
        ],
        rows,
    )
