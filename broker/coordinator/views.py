"""Pages for coordinators: the approval queue, runs, and the gaps in their areas."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from broker import clock
from broker.auth.access import can_see_school, get_or_404, role_guard
from broker.coordinator.forms import ActionForm, BulkApproveForm, HandMatchForm, RejectForm
from broker.extensions import db
from broker.models import (
    ENCOUNTER_TYPES,
    Area,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
)
from broker.pagination import paginate
from broker.services import coordination, figures
from broker.services import matching as adapter
from broker.services.errors import ServiceError
from broker.services.matches import approve_match, hand_match, reject_match

bp = Blueprint("coordinator", __name__)
bp.before_request(role_guard("coordinator", "admin"))


def _areas() -> list[Area]:
    if current_user.role == "admin":
        return list(db.session.scalars(select(Area).order_by(Area.name)))
    return sorted(current_user.areas, key=lambda a: a.name)


def _match_or_404(match_id: int) -> Match:
    return get_or_404(Match, match_id, lambda m: can_see_school(current_user, m.request.school))


@bp.get("/")
def dashboard():
    area_ids = coordination.area_ids_for(current_user)
    query = select(func.count()).select_from(School)
    if area_ids is not None:
        query = query.where(School.area_id.in_(area_ids))
    last_run = db.session.scalar(select(MatchRun).order_by(MatchRun.id.desc()).limit(1))
    return render_template(
        "coordinator/dashboard.html",
        areas=current_user.areas if area_ids is not None else _areas(),
        schools=db.session.scalar(query),
        matches=figures.match_counts(area_ids=area_ids),
        last_run=last_run,
    )


@bp.get("/queue")
def queue():
    filters = coordination.QueueFilters.from_args(request.args)
    page = paginate(
        coordination.queue_query(current_user, filters),
        page=request.args.get("page", 1, type=int),
        per_page=current_app.config.get("PAGE_SIZE", 25),
        key=Match.id,
    )
    return render_template(
        "coordinator/queue.html",
        page=page,
        filters=filters,
        areas=_areas(),
        types=ENCOUNTER_TYPES,
        form=ActionForm(),
    )


@bp.get("/matches/<int:match_id>")
def match_detail(match_id: int):
    match = _match_or_404(match_id)
    alternatives = []
    if match.status == "proposed":
        alternatives = adapter.alternatives_for(
            match.request, clock.today(), exclude=[match.offer_id]
        )
    return render_template(
        "coordinator/match.html",
        match=match,
        alternatives=alternatives,
        approve_form=ActionForm(),
        reject_form=RejectForm(),
    )


@bp.post("/matches/<int:match_id>/approve")
def approve(match_id: int):
    match = _match_or_404(match_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        approve_match(match, by=current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        flash(f"Approved: {match.pupils} pupils with {match.offer.employer.name}.", "success")
    return redirect(request.form.get("next") or url_for(".queue"))


@bp.post("/matches/<int:match_id>/reject")
def reject(match_id: int):
    match = _match_or_404(match_id)
    form = RejectForm()
    if form.validate_on_submit():
        try:
            reject_match(match, by=current_user, reason=form.reason.data)
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("Rejected; the matcher will not propose this pair again.", "success")
            return redirect(url_for(".queue"))
    else:
        flash("Say why the match is rejected.", "error")
    return redirect(url_for(".match_detail", match_id=match.id))


@bp.route("/hand-match", methods=["GET", "POST"])
def hand_match_page():
    form = HandMatchForm(
        request_id=request.args.get("request_id", type=int),
        offer_id=request.args.get("offer_id", type=int),
    )
    if form.validate_on_submit():
        req = get_or_404(
            EncounterRequest, form.request_id.data, lambda r: can_see_school(current_user, r.school)
        )
        offer = db.session.get(Offer, form.offer_id.data)
        if offer is None:
            form.offer_id.errors.append("No offer has that number.")
        else:
            try:
                match = hand_match(
                    req, offer, form.pupils.data, by=current_user, note=form.note.data or ""
                )
            except ServiceError as exc:
                db.session.rollback()
                target = getattr(form, f"{exc.field}_id", None) or getattr(
                    form, exc.field or "", None
                )
                (target.errors if target is not None else form.form_errors).append(exc.message)
            else:
                db.session.commit()
                flash("Match made and approved; both sides have been asked.", "success")
                return redirect(url_for(".match_detail", match_id=match.id))
    return render_template("coordinator/hand_match.html", form=form)


@bp.route("/bulk-approve", methods=["GET", "POST"])
def bulk_approve():
    filters = coordination.QueueFilters.from_args(request.args)
    form = BulkApproveForm()
    if form.validate_on_submit():
        try:
            result = coordination.approve_filtered(
                current_user, filters, expected=int(form.expected.data)
            )
        except (ServiceError, ValueError) as exc:
            db.session.rollback()
            flash(getattr(exc, "message", "Check the selection again."), "error")
            return redirect(url_for(".bulk_approve", **filters.as_args()))
        db.session.commit()
        flash(
            f"Approved {len(result.approved)} matches for {result.pupils} pupils"
            + (f"; {len(result.skipped)} skipped" if result.skipped else "")
            + ".",
            "success",
        )
        for match, reason in result.skipped[:10]:
            flash(f"Match {match.id} skipped: {reason}", "error")
        return redirect(url_for(".queue", **filters.as_args()))
    count, pupils = coordination.bulk_preview(current_user, filters)
    form.expected.data = str(count)
    return render_template(
        "coordinator/bulk_confirm.html",
        form=form,
        filters=filters,
        count=count,
        pupils=pupils,
        limit=coordination.BULK_LIMIT,
    )


@bp.get("/runs")
def runs():
    page = paginate(
        select(MatchRun).order_by(MatchRun.id.desc()),
        page=request.args.get("page", 1, type=int),
        per_page=25,
    )
    return render_template("coordinator/runs.html", page=page)


@bp.get("/runs/<int:run_id>")
def run_detail(run_id: int):
    run = db.session.get(MatchRun, run_id)
    if run is None:
        abort(404)
    counts = {
        status: n
        for status, n in db.session.execute(
            select(Match.status, func.count()).where(Match.run_id == run.id).group_by(Match.status)
        )
    }
    return render_template("coordinator/run.html", run=run, counts=counts)


@bp.get("/gaps")
def gaps():
    area_id = request.args.get("area", type=int)
    pages = {
        name: max(1, request.args.get(name, 1, type=int) or 1)
        for name in ("cold_page", "schools_page", "offers_page")
    }
    try:
        found = coordination.area_gaps(current_user, clock.today(), area_id=area_id, **pages)
    except ServiceError:
        abort(404)
    return render_template("coordinator/gaps.html", gaps=found, areas=_areas(), area_id=area_id)
