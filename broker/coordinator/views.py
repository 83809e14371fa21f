"""Pages for coordinators: the approval queue, runs, and the gaps in their areas."""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from broker import clock
from broker.auth.access import can_see_school, get_or_404, role_guard
from broker.coordinator.forms import BulkApproveForm, HandMatchForm, RejectForm, SuspendForm
from broker.evidencepages import send_evidence
from broker.extensions import db
from broker.formutil import INT_MAX, EmptyForm, id_arg, safe_next
from broker.models import (
    ENCOUNTER_TYPES,
    Area,
    Employer,
    EmployerDocument,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
)
from broker.pagination import paginate
from broker.services import coordination, employer_checks, figures, vetting
from broker.services import matching as adapter
from broker.services.matches import approve_match, hand_match, reject_match
from broker.statuses import MatchStatus
from broker.web import redirect_on_refusal
from broker.wording import plural

bp = Blueprint("coordinator", __name__)
bp.before_request(role_guard("coordinator", "admin"))


def _areas() -> list[Area]:
    if current_user.role == "admin":
        return list(db.session.scalars(select(Area).order_by(Area.name)))
    return sorted(current_user.areas, key=lambda a: a.name)


def _filters() -> coordination.QueueFilters:
    """The queue's filters from the query string; ids no row can have are dropped."""
    filters = coordination.QueueFilters.from_args(request.args)

    def row_id(value: int | None) -> int | None:
        return value if value is not None and 1 <= value <= INT_MAX else None

    return replace(filters, area_id=row_id(filters.area_id), run_id=row_id(filters.run_id))


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
        employers_waiting=db.session.scalar(
            select(func.count()).select_from(
                employer_checks.checks_query(current_user, show="waiting").subquery()
            )
        ),
    )


@bp.get("/queue")
def queue():
    filters = _filters()
    page = paginate(
        coordination.queue_query(current_user, filters),
        page=id_arg("page") or 1,
        per_page=current_app.config.get("PAGE_SIZE", 25),
        key=Match.id,
    )
    return render_template(
        "coordinator/queue.html",
        page=page,
        filters=filters,
        areas=_areas(),
        types=ENCOUNTER_TYPES,
        form=EmptyForm(),
    )


@bp.get("/matches/<id:match_id>")
def match_detail(match_id: int):
    match = _match_or_404(match_id)
    alternatives = []
    if match.status == MatchStatus.PROPOSED:
        alternatives = adapter.alternatives_for(
            match.request, clock.today(), exclude=[match.offer_id]
        )
    return render_template(
        "coordinator/match.html",
        match=match,
        alternatives=alternatives,
        approve_form=EmptyForm(),
        reject_form=RejectForm(),
    )


def _next(**_: object) -> str:
    """Where the approve button's page asked to go back to (on this site), or the queue."""
    return safe_next(request.form.get("next"), "coordinator.queue")


@bp.post("/matches/<id:match_id>/approve")
@redirect_on_refusal(_next)
def approve(match_id: int):
    match = _match_or_404(match_id)
    EmptyForm().validate_or_400()
    approve_match(match, by=current_user)
    flash(f"Approved: {plural(match.pupils, 'pupil')} with {match.offer.employer.name}.", "success")
    return redirect(_next())


@bp.post("/matches/<id:match_id>/reject")
@redirect_on_refusal("coordinator.match_detail")
def reject(match_id: int):
    match = _match_or_404(match_id)
    form = RejectForm()
    if not form.validate_on_submit():
        # The form is on the match's page: say there what is missing or wrong.
        for error in form.reason.errors or ["Check the form and try again."]:
            flash(error, "error")
        return redirect(url_for(".match_detail", match_id=match.id))
    reject_match(match, by=current_user, reason=form.reason.data)
    flash("Rejected; the matcher will not propose this pair again.", "success")
    return redirect(url_for(".queue"))


@bp.route("/hand-match", methods=["GET", "POST"])
def hand_match_page():
    """Pick a request (by school and type), then one of the offers the rules allow for it."""
    form = HandMatchForm(request_id=id_arg("request_id"), offer_id=id_arg("offer_id"))
    if form.validate_on_submit():
        req = get_or_404(
            EncounterRequest, form.request_id.data, lambda r: can_see_school(current_user, r.school)
        )
        offer = db.session.get(Offer, form.offer_id.data)
        if offer is None:
            form.offer_id.errors.append("No offer has that number.")
        else:
            match = hand_match(
                req, offer, form.pupils.data, by=current_user, note=form.note.data or ""
            )
            flash("Match made and approved; both sides have been asked.", "success")
            return redirect(url_for(".match_detail", match_id=match.id))
    today = clock.today()
    chosen_id = form.request_id.data if request.method == "POST" else id_arg("request_id")
    school_q = request.args.get("school", "")[:100]
    type_ = request.args.get("type", "")
    type_ = type_ if type_ in ENCOUNTER_TYPES else ""
    context: dict = {"school_q": school_q, "type": type_, "types": ENCOUNTER_TYPES}
    if isinstance(chosen_id, int) and 1 <= chosen_id <= INT_MAX:
        # Another area's request is not the coordinator's: a 404, as for a match.
        chosen = get_or_404(
            EncounterRequest, chosen_id, lambda r: can_see_school(current_user, r.school)
        )
        employer_q = request.args.get("employer", "")[:100]
        offers, wanted, held_full = coordination.hand_match_offers(
            chosen, today, employer=employer_q, page=id_arg("page") or 1
        )
        context.update(
            chosen=chosen,
            offers=offers,
            wanted=wanted,
            held_full=held_full,
            employer_q=employer_q,
            why=adapter.explain_request(chosen, today),
        )
    else:
        context["requests"] = coordination.hand_match_requests(
            current_user, today, school=school_q, type_=type_, page=id_arg("page") or 1
        )
    return render_template("coordinator/hand_match.html", form=form, **context), form.status


def _bulk_page(**_: object) -> str:
    return url_for(".bulk_approve", **_filters().as_args())


@bp.route("/bulk-approve", methods=["GET", "POST"])
@redirect_on_refusal(_bulk_page)
def bulk_approve():
    filters = _filters()
    form = BulkApproveForm()
    if form.validate_on_submit():
        result = coordination.approve_filtered(current_user, filters, expected=form.expected.data)
        flash(
            f"Approved {plural(len(result.approved), 'match')} for "
            f"{plural(result.pupils, 'pupil')}"
            + (f"; {len(result.skipped)} skipped" if result.skipped else "")
            + ".",
            "success",
        )
        for match, reason in result.skipped[:10]:
            flash(f"Match {match.id} skipped: {reason}", "error")
        return redirect(url_for(".queue", **filters.as_args()))
    count, pupils = coordination.bulk_preview(current_user, filters)
    return render_template(
        "coordinator/bulk_confirm.html",
        form=BulkApproveForm(formdata=None, expected=count),
        filters=filters,
        count=count,
        pupils=pupils,
        limit=coordination.BULK_LIMIT,
    )


@bp.get("/runs")
def runs():
    page = paginate(
        select(MatchRun).order_by(MatchRun.id.desc()),
        page=id_arg("page") or 1,
        per_page=25,
    )
    return render_template("coordinator/runs.html", page=page)


@bp.get("/runs/<id:run_id>")
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
    return render_template(
        "coordinator/run.html", run=run, counts=counts,
        figures=figures.run_figures(run.figures or {}),
    )


@bp.get("/gaps")
def gaps():
    area_id = id_arg("area")
    pages = {name: id_arg(name) or 1 for name in ("cold_page", "schools_page", "offers_page")}
    # An area that is not the coordinator's is refused (NotAllowed): a 404, see broker.web.
    found = coordination.area_gaps(current_user, clock.today(), area_id=area_id, **pages)
    return render_template("coordinator/gaps.html", gaps=found, areas=_areas(), area_id=area_id)


# --- employers to check -------------------------------------------------------------------

CHECK_VIEWS = {
    "waiting": "Waiting to be checked",
    "suspended": "Suspended",
    "all": "All organisations",
}


def _checkable_employer(employer_id: int) -> Employer:
    return get_or_404(Employer, employer_id, lambda e: employer_checks.may_check(current_user, e))


@bp.get("/employers")
def employer_checks_page():
    show = request.args.get("show", "waiting")
    if show not in CHECK_VIEWS:
        show = "waiting"
    page = paginate(
        employer_checks.checks_query(current_user, show=show),
        page=id_arg("page") or 1,
        per_page=current_app.config.get("PAGE_SIZE", 25),
    )
    return render_template(
        "coordinator/employers.html", page=page, show=show, views=CHECK_VIEWS,
    )


@bp.get("/employers/<id:employer_id>")
def employer_check(employer_id: int):
    employer = _checkable_employer(employer_id)
    open_offers = db.session.scalar(
        select(func.count())
        .select_from(Offer)
        .where(Offer.employer_id == employer.id, Offer.status == "open")
    )
    return render_template(
        "coordinator/employer.html",
        employer=employer,
        members=sorted(employer.users, key=lambda u: u.id),
        open_offers=open_offers,
        vetting_items=vetting.vetting_items(employer, clock.today()),
        evidence=employer_checks.evidence_by_kind(employer),
        documents=employer_checks.documents_of(employer),
        names=employer_checks.EVIDENCE_NAMES,
        form=EmptyForm(),
        suspend_form=SuspendForm(),
    )


@bp.post("/employers/<id:employer_id>/verify")
@redirect_on_refusal("coordinator.employer_check")
def employer_verify(employer_id: int):
    employer = _checkable_employer(employer_id)
    EmptyForm().validate_or_400()
    employer_checks.verify_employer(employer, by=current_user)
    flash(f"{employer.name} is checked: its open offers are matched from now on.", "success")
    return redirect(url_for(".employer_check", employer_id=employer.id))


@bp.post("/employers/<id:employer_id>/suspend")
@redirect_on_refusal("coordinator.employer_check")
def employer_suspend(employer_id: int):
    employer = _checkable_employer(employer_id)
    form = SuspendForm()
    if not form.validate_on_submit():
        for error in form.reason.errors or ["Check the form and try again."]:
            flash(error, "error")
        return redirect(url_for(".employer_check", employer_id=employer.id))
    withdrawn = employer_checks.suspend_employer(employer, by=current_user, reason=form.reason.data)
    done = f"{employer.name} is suspended: its offers are not matched"
    if withdrawn:
        verb = "was" if len(withdrawn) == 1 else "were"
        done += f" and {plural(len(withdrawn), 'proposed match')} {verb} withdrawn"
    flash(done + ".", "success")
    return redirect(url_for(".employer_check", employer_id=employer.id))


@bp.post("/employers/<id:employer_id>/lift")
@redirect_on_refusal("coordinator.employer_check")
def employer_lift(employer_id: int):
    employer = _checkable_employer(employer_id)
    EmptyForm().validate_or_400()
    employer_checks.lift_suspension(employer, by=current_user)
    flash(f"{employer.name}'s suspension is lifted: its open offers are matched again.", "success")
    return redirect(url_for(".employer_check", employer_id=employer.id))


def _visible_document(document_id: int) -> EmployerDocument:
    return get_or_404(
        EmployerDocument, document_id, lambda d: employer_checks.may_see_document(current_user, d)
    )


@bp.get("/documents/<id:document_id>")
def document_file(document_id: int):
    return send_evidence(_visible_document(document_id))


def _document_employer_page(document_id: int) -> str:
    doc = db.session.get(EmployerDocument, document_id)
    if doc is None:
        return url_for(".employer_checks_page")
    return url_for(".employer_check", employer_id=doc.employer_id)


@bp.post("/documents/<id:document_id>/verify")
@redirect_on_refusal(_document_employer_page)
def document_verify(document_id: int):
    doc = _visible_document(document_id)
    EmptyForm().validate_or_400()
    employer_checks.verify_document(doc, by=current_user)
    flash(f"Marked verified: {employer_checks.EVIDENCE_NAMES[doc.kind]}.", "success")
    return redirect(url_for(".employer_check", employer_id=doc.employer_id))
