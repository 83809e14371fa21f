"""Pages for employers: their organisation, offers, matches, impact and calendar."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from broker import clock
from broker.auth.access import get_or_404, role_guard
from broker.calendarpages import register_calendar_pages
from broker.employer.forms import EvidenceForm, OfferForm, ProfileForm
from broker.evidencepages import send_evidence
from broker.extensions import db
from broker.formutil import id_arg, school_year_arg, this_school_year
from broker.matchpages import (
    VISIBLE_MATCH_STATUSES,
    FeedbackForm,
    ReasonForm,
    filter_matches,
    register_match_pages,
)
from broker.models import (
    ENCOUNTER_TYPES,
    OFFER_STATUSES,
    PROVIDER_KINDS,
    Employer,
    EmployerDocument,
    EncounterRequest,
    Match,
    Offer,
    School,
)
from broker.pagination import paginate
from broker.services import (
    calendar,
    employer_checks,
    figures,
    impact,
    matches,
    offers,
    profiles,
    vetting,
)
from broker.statuses import MatchStatus
from broker.web import redirect_on_refusal

bp = Blueprint("employer", __name__)

MATCH_SORTS = {
    "newest": (Match.id.desc(),),
    "school": (School.name, Match.id),
    "year": (EncounterRequest.year_group, Match.id),
    "pupils": (Match.pupils.desc(), Match.id),
    "status": (Match.status, Match.id),
    "offer": (Offer.title, Match.id),
}


# Calendar apps fetch the feed without a session; its signed token is the credential.
bp.before_request(role_guard("employer", public=("employer.calendar_feed",)))


def _today():
    # The broker's working day (Europe/London), as the services count it.
    return clock.today()


def _employer() -> Employer:
    return current_user.employer


def _own_offer(offer_id: int) -> Offer:
    return get_or_404(Offer, offer_id, lambda o: o.employer_id == current_user.employer_id)


def _own_match(match_id: int) -> Match:
    return get_or_404(Match, match_id, lambda m: m.offer.employer_id == current_user.employer_id)


@bp.get("/")
def dashboard():
    employer = _employer()
    today = _today()
    offer_counts = dict(
        db.session.execute(
            select(Offer.status, func.count())
            .where(Offer.employer_id == employer.id)
            .group_by(Offer.status)
        ).all()
    )
    blocked = db.session.scalar(
        select(func.count())
        .select_from(Offer)
        .join(Employer, Offer.employer_id == Employer.id)
        .where(
            Offer.employer_id == employer.id,
            Offer.status == "open",
            vetting.blocked_offer_clause(today),
        )
    )
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Match)
        .join(Offer, Match.offer_id == Offer.id)
        .where(
            Match.offer_id.in_(select(Offer.id).where(Offer.employer_id == employer.id)),
            Match.status == MatchStatus.APPROVED,
            Match.employer_response.is_(None),
        )
    )
    return render_template(
        "employer/dashboard.html",
        employer=employer,
        offers=offer_counts,
        matches=figures.match_counts(employer_id=employer.id),
        pupils_reached=figures.pupils_reached(employer_id=employer.id),
        vetting_items=vetting.vetting_items(employer, today),
        evidence=employer_checks.evidence_by_kind(employer),
        expiring=vetting.expiring_soon(employer, today),
        blocked=blocked,
        waiting=waiting,
    )


@bp.route("/profile", methods=["GET", "POST"])
def profile():
    employer = _employer()
    form = ProfileForm(obj=employer)
    if form.validate_on_submit():
        data = profiles.EmployerProfile(
            name=form.name.data,
            kind=form.kind.data,
            sector=form.sector.data,
            postcode=form.postcode.data,
            contact_name=form.contact_name.data or "",
            contact_email=form.contact_email.data or "",
            contact_phone=form.contact_phone.data or "",
            website=form.website.data or "",
            dbs_checked=form.dbs_checked.data,
            dbs_renewal_on=form.dbs_renewal_on.data,
            insurance_expires_on=form.insurance_expires_on.data,
            risk_assessment_on=form.risk_assessment_on.data,
        )
        profiles.update_employer_profile(employer, data, by=current_user, today=_today())
        flash("Your organisation's profile is saved.", "success")
        return redirect(url_for("employer.profile"))
    return render_template(
        "employer/profile.html", form=form, employer=employer,
        vetting_items=vetting.vetting_items(employer, _today()),
        evidence=employer_checks.evidence_by_kind(employer),
        requirements=vetting.REQUIREMENTS,
        risk_days=vetting.RISK_ASSESSMENT_VALID_DAYS,
    ), form.status


@bp.route("/evidence", methods=["GET", "POST"])
def evidence():
    employer = _employer()
    form = EvidenceForm()
    if form.validate_on_submit():
        upload = form.file.data
        employer_checks.save_document(
            employer, form.kind.data, upload.stream, upload.filename or "", by=current_user
        )
        flash("Document uploaded. A coordinator will check it.", "success")
        return redirect(url_for("employer.evidence"))
    return render_template(
        "employer/evidence.html", form=form, employer=employer,
        documents=employer_checks.documents_of(employer),
        names=employer_checks.EVIDENCE_NAMES,
        max_size=employer_checks.size_words(current_app.config["EVIDENCE_MAX_BYTES"]),
    ), form.status


@bp.get("/evidence/<id:document_id>")
def evidence_file(document_id: int):
    doc = get_or_404(
        EmployerDocument, document_id, lambda d: d.employer_id == current_user.employer_id
    )
    return send_evidence(doc)


@bp.get("/offers")
def offer_list():
    status = request.args.get("status", "")
    type_ = request.args.get("type", "")
    sort = request.args.get("sort", "newest")
    page = paginate(
        offers.offers_query(_employer(), status=status, type=type_, sort=sort),
        page=id_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"],
    )
    held = offers.pupils_held_by_offer([o.id for o in page.items])
    return render_template(
        "employer/offers.html", page=page, held=held, status=status, type=type_, sort=sort,
        statuses=OFFER_STATUSES, types=ENCOUNTER_TYPES,
    )


def _offer_data(form: OfferForm) -> offers.OfferData:
    return offers.OfferData(
        title=form.title.data,
        description=form.description.data or "",
        type=form.type.data,
        sector=form.sector.data,
        stem=form.stem.data,
        challenges_stereotype=form.challenges_stereotype.data,
        stereotype_note=form.stereotype_note.data or "",
        sen_support=list(form.sen_support.data or []),
        year_min=form.year_min.data,
        year_max=form.year_max.data,
        capacity=form.capacity.data,
        delivery=form.delivery.data,
        audience=form.audience.data,
        max_km=float(form.max_km.data),
        earliest=form.earliest.data,
        latest=form.latest.data,
        postcode=form.postcode.data or "",
        provider_encounter=bool(form.provider_encounter.data),
        provider_topics=list(form.provider_topics.data or []),
        days=form.days.data or 1,
        hours_a_day=float(form.hours_a_day.data or 1),
    )


@bp.route("/offers/new", methods=["GET", "POST"])
def offer_new():
    employer = _employer()
    form = OfferForm()
    if request.method == "GET":
        form.sector.data = employer.sector
        form.max_km.data = 25
        form.year_min.data, form.year_max.data = 7, 13
        form.days.data, form.hours_a_day.data = 1, 1
    form.capacity.description = employer_checks.ceilings_hint()
    if form.validate_on_submit():
        offer = offers.create_offer(employer, _offer_data(form), by=current_user, today=_today())
        if employer.matchable:
            flash("Your offer is open for matching.", "success")
        else:
            flash("Your offer is saved. It will be matched once your organisation has been "
                  "checked and is not suspended.", "info")
        return redirect(url_for("employer.offer_detail", offer_id=offer.id))
    return render_template(
        "employer/offer_form.html", form=form, offer=None,
        provider=employer.kind in PROVIDER_KINDS,
    ), form.status


@bp.get("/offers/<id:offer_id>")
def offer_detail(offer_id: int):
    offer = _own_offer(offer_id)
    held = matches.offer_pupils_held(offer)
    return render_template(
        "employer/offer.html", offer=offer, held=held,
        missing=vetting.missing_for(offer.employer, offer.type, _today()),
    )


@bp.route("/offers/<id:offer_id>/edit", methods=["GET", "POST"])
def offer_edit(offer_id: int):
    offer = _own_offer(offer_id)
    form = OfferForm(obj=offer)
    form.capacity.description = employer_checks.ceilings_hint()
    if form.validate_on_submit():
        saved = offers.update_offer(offer, _offer_data(form), by=current_user, today=_today())
        flash(saved.message, "success")
        return redirect(url_for("employer.offer_detail", offer_id=offer.id))
    return render_template(
        "employer/offer_form.html", form=form, offer=offer,
        provider=offer.employer.kind in PROVIDER_KINDS,
    ), form.status


def _offer_action(offer_id: int, action, done: str):
    offer = _own_offer(offer_id)
    ReasonForm().validate_or_400()
    result = action(offer)
    flash(done, "success")
    return redirect(url_for("employer.offer_detail", offer_id=result.id))


@bp.post("/offers/<id:offer_id>/pause")
@redirect_on_refusal("employer.offer_detail")
def offer_pause(offer_id: int):
    return _offer_action(
        offer_id, lambda o: offers.pause_offer(o, by=current_user),
        "Offer paused: it will not be matched until you reopen it.",
    )


@bp.post("/offers/<id:offer_id>/reopen")
@redirect_on_refusal("employer.offer_detail")
def offer_reopen(offer_id: int):
    return _offer_action(
        offer_id, lambda o: offers.reopen_offer(o, by=current_user, today=_today()),
        "Offer reopened for matching.",
    )


@bp.post("/offers/<id:offer_id>/close")
@redirect_on_refusal("employer.offer_detail")
def offer_close(offer_id: int):
    return _offer_action(
        offer_id, lambda o: offers.close_offer(o, by=current_user), "Offer closed.",
    )


@bp.post("/offers/<id:offer_id>/copy")
@redirect_on_refusal("employer.offer_detail")
def offer_copy(offer_id: int):
    return _offer_action(
        offer_id, lambda o: offers.copy_offer(o, by=current_user, today=_today()),
        "Offer copied with its dates a year on. Check the details below.",
    )


def _matches_query(employer: Employer, status: str, type_: str, sort: str):
    query = (
        select(Match)
        .join(Offer, Match.offer_id == Offer.id)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(School, EncounterRequest.school_id == School.id)
        # An IN over the employer's offers lets the planner use (status, offer_id); a plain
        # join on Offer.employer_id scans every match nationally.
        .where(Match.offer_id.in_(select(Offer.id).where(Offer.employer_id == employer.id)))
        .options(
            contains_eager(Match.offer),
            contains_eager(Match.request).contains_eager(EncounterRequest.school),
        )
    )
    offer_id = id_arg("offer")
    if offer_id:
        query = query.where(Match.offer_id == offer_id)
    return filter_matches(query, status=status, type_=type_, sorts=MATCH_SORTS, sort=sort)


@bp.get("/matches")
def match_list():
    status = request.args.get("status", "")
    type_ = request.args.get("type", "")
    sort = request.args.get("sort", "newest")
    employer = _employer()
    page = paginate(
        _matches_query(employer, status, type_, sort),
        page=id_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"],
    )
    # The offer the list is narrowed to, when it is this employer's: an empty list then
    # says why (a closed offer is not matched), not that the matcher will run tonight.
    offer = db.session.get(Offer, id_arg("offer") or 0)
    if offer is not None and offer.employer_id != employer.id:
        offer = None
    return render_template(
        "employer/matches.html", page=page, status=status, type=type_, sort=sort,
        statuses=VISIBLE_MATCH_STATUSES, types=ENCOUNTER_TYPES, offer=offer,
    )


register_match_pages(
    bp, side="employer", own_match=_own_match, template="employer/match.html",
    feedback_form=FeedbackForm, delivered="Delivery recorded. Thank you!",
)


@bp.get("/impact")
def impact_page():
    employer = _employer()
    year = school_year_arg()  # none (or none that dates can hold): all time
    return render_template(
        "employer/impact.html", employer=employer, year=year,
        impact=impact.employer_impact(employer, year=year),
        this_year=this_school_year(),
        threshold=impact.DISADVANTAGED_FSM_PCT,
        rural_neighbours=impact.RURAL_MAX_NEIGHBOURS,
        rural_km=impact.RURAL_RADIUS_KM,
    )


register_calendar_pages(bp, model=Employer, own=_employer, events=calendar.employer_events)
