"""Insights pages: the coverage map, charts, fairness, where one more offer helps most, exports.

Coordinators see their areas, admins the country (or one area); employers have their own
page (where their kind of offer is needed) and schools their own export, each guarded on
its own. Pages read what the nightly run stored; nothing is solved on a view.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

from broker import clock
from broker.auth.access import can_see_school, get_or_404, role_guard
from broker.extensions import db
from broker.formutil import EmptyForm, id_arg
from broker.insights import pages, svg
from broker.models import ENCOUNTER_TYPES, Area, EncounterRequest, Match, Offer, School
from broker.services import coverage, exports, fairness, insights
from broker.services.errors import NotAllowed
from broker.statuses import LIVE

__all__ = ["bp"]

bp = Blueprint("insights", __name__)

_staff = role_guard("coordinator", "admin")
# Pages for other roles, each guarded on its own.
_GUARDS = {
    "insights.employer_needs": role_guard("employer"),
    "insights.school_encounters": role_guard("school"),
    "insights.refresh": role_guard("admin"),
}


@bp.before_request
def guard():
    return _GUARDS.get(request.endpoint or "", _staff)()


@bp.app_template_global()
def insights_lead():
    """The coordinator dashboard's lead (map and three numbers) for the signed-in user."""
    try:
        area_ids = coverage.scope(current_user)
    except NotAllowed:
        return None
    return pages.lead(area_ids, clock.today(), insights.latest_snapshot())


@bp.app_template_filter("needs_sentence")
def needs_sentence(g):
    return pages.needs_sentence(g)


@bp.app_template_filter("attr_strftime")
def attr_strftime(day, fmt: str) -> str:
    return day.strftime(fmt)


@bp.app_template_filter("reached_pct")
def reached_pct(month, schools: int) -> float | None:
    """A month's share of schools reached so far (None for months to come)."""
    if month.future:
        return None
    return round(100 * month.schools_reached / schools) if schools else 0


bp.add_app_template_global(svg.bars, "bars_chart")
bp.add_app_template_global(svg.line_chart, "line_chart")


def _scope() -> tuple[list[int] | None, int | None]:
    area_id = id_arg("area")
    try:
        return coverage.scope(current_user, area_id), area_id
    except NotAllowed:
        abort(404)


def _areas() -> list[Area]:
    if current_user.role == "admin":
        return list(db.session.scalars(select(Area).order_by(Area.name)))
    return sorted(current_user.areas, key=lambda a: a.name)


def _csv(text: str, name: str) -> Response:
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/")
def overview():
    area_ids, area_id = _scope()
    today = clock.today()
    snapshot = insights.latest_snapshot()
    return render_template(
        "insights/overview.html",
        views=pages.map_views(area_ids, today, snapshot),
        headline=pages.headline(area_ids, today),
        snapshot=snapshot,
        areas=_areas(),
        area_id=area_id,
        colours=svg.COVERAGE_COLOURS,
    )


@bp.get("/needs")
def needs():
    area_ids, area_id = _scope()
    kind = request.args.get("type") or None
    if kind not in (None, *ENCOUNTER_TYPES):
        abort(404)
    snapshot = insights.latest_snapshot()
    types = {kind} if kind else None
    found = insights.gains_for(snapshot, area_ids, types=types, limit=15)
    # Every kind of encounter at least once: the list itself favours big offers (fairs).
    per_type = [] if kind else insights.best_per_type(snapshot, area_ids)
    ids = {s for g in found + per_type for s in g["schools"]}
    return render_template(
        "insights/needs.html",
        gains=found,
        per_type=per_type,
        names=dict(
            db.session.execute(
                select(School.id, School.name).where(School.id.in_(ids or {-1}))
            ).all()
        ),
        view=pages.map_views(
            area_ids, clock.today(), snapshot, n_gains=10, types=types, show_offers=False
        )[0]
        if area_ids is None
        else pages.map_view(
            area_ids, clock.today(), snapshot, n_gains=10, types=types, show_offers=False
        ),
        snapshot=snapshot,
        areas=_areas(),
        area_id=area_id,
        kind=kind,
        types=ENCOUNTER_TYPES,
        km=insights.REACH_KM,
        refresh_form=EmptyForm() if current_user.role == "admin" else None,
    )


@bp.get("/fairness")
def fairness_page():
    area_ids, area_id = _scope()
    snapshot = insights.latest_snapshot()
    today = clock.today()
    report = pages.national(
        area_ids,
        ("fairness", today, getattr(snapshot, "id", None)),
        lambda: fairness.fairness_report(area_ids, today, snapshot),
    )
    return render_template("insights/fairness.html", report=report, areas=_areas(), area_id=area_id)


@bp.get("/charts")
def charts():
    area_ids, area_id = _scope()
    today = clock.today()
    months, schools = pages.national(
        area_ids, ("months", today), lambda: coverage.coverage_by_month(area_ids, today)
    )
    return render_template(
        "insights/charts.html",
        months=months,
        schools=schools,
        supply=pages.national(
            area_ids, ("supply", today), lambda: coverage.supply_demand(area_ids, today)
        ),
        history=coverage.run_history(area_ids),
        areas=_areas(),
        area_id=area_id,
        national=area_ids is None,
    )


@bp.get("/schools/<id:school_id>")
def school(school_id: int):
    found = get_or_404(School, school_id, lambda s: can_see_school(current_user, s))
    today = clock.today()
    level = coverage.school_coverage(None, today, school_id=found.id)
    requests_ = list(
        db.session.scalars(
            select(EncounterRequest)
            .where(
                EncounterRequest.school_id == found.id,
                EncounterRequest.status == "open",
                EncounterRequest.latest >= today,
            )
            .order_by(EncounterRequest.earliest, EncounterRequest.id)
        )
    )
    matches = list(
        db.session.scalars(
            select(Match)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .where(
                EncounterRequest.school_id == found.id,
                EncounterRequest.latest >= clock.school_year_start(today),
                Match.status.in_(LIVE),
            )
            .order_by(Match.id)
        )
    )
    return render_template(
        "insights/school.html",
        school=found,
        coverage=level.get(found.id, "none"),
        open_requests=requests_,
        matches=matches,
    )


@bp.get("/export/coverage.csv")
def coverage_export():
    area_ids, _ = _scope()
    today = clock.today()
    text = pages.national(
        area_ids, ("coverage.csv", today), lambda: exports.coverage_csv(area_ids, today)
    )
    return _csv(text, "coverage.csv")


@bp.get("/export/encounters.csv")
def encounters_export():
    area_ids, _ = _scope()
    return _csv(exports.encounters_csv(None, area_ids, clock.today()), "encounters.csv")


@bp.get("/export/runs.csv")
def runs_export():
    return _csv(exports.runs_csv(), "match-runs.csv")


@bp.get("/my-school/encounters.csv")
def school_encounters():
    """A school's own encounters this year, per year group, for its records and its MIS."""
    return _csv(
        exports.encounters_csv([current_user.school_id], None, clock.today()), "encounters.csv"
    )


@bp.get("/employer")
def employer_needs():
    """Where an employer's kind of offer is needed, near its base."""
    employer = current_user.employer
    kinds = set(
        db.session.scalars(select(Offer.type).where(Offer.employer_id == employer.id).distinct())
    )
    reach = max(
        [
            float(k)
            for k in db.session.scalars(
                select(Offer.max_km).where(Offer.employer_id == employer.id)
            )
        ]
        or [25.0]
    )
    chosen = request.args.get("type") or None
    if chosen not in (None, *ENCOUNTER_TYPES):
        abort(404)
    types = {chosen} if chosen else (kinds or None)
    snapshot = insights.latest_snapshot()
    found = insights.gains_for(
        snapshot,
        None,
        types=types,
        near=(employer.lat, employer.lon, reach + insights.REACH_KM),
        limit=10,
    )
    return render_template(
        "insights/employer.html",
        employer=employer,
        gains=found,
        kinds=sorted(kinds),
        chosen=chosen,
        types=ENCOUNTER_TYPES,
        reach=reach,
        snapshot=snapshot,
        km=insights.REACH_KM,
    )


@bp.post("/refresh")
def refresh():
    """Recompute the insights now (admins; the nightly match does it every night)."""
    EmptyForm().validate_or_400()
    snapshot = insights.refresh_insights(clock.now())
    flash(
        f"Insights recomputed in {snapshot.seconds:.1f} s: {len(snapshot.gains)} suggestions.",
        "success",
    )
    return redirect(url_for(".needs"))
