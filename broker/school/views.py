"""Pages for schools: profile, requests, matches, delivery, the year's plan and calendar."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from broker import clock
from broker.auth.access import get_or_404, role_guard
from broker.calendarpages import register_calendar_pages
from broker.extensions import db
from broker.formutil import EmptyForm, id_arg, int_arg, this_school_year
from broker.matchpages import (
    VISIBLE_MATCH_STATUSES,
    ReasonForm,
    SchoolFeedbackForm,
    filter_matches,
    register_match_pages,
)
from broker.models import (
    ENCOUNTER_TYPES,
    REQUEST_STATUSES,
    Employer,
    EncounterRequest,
    Match,
    Offer,
    School,
    SchoolBlackout,
)
from broker.pagination import paginate
from broker.school.forms import BlackoutForm, RequestForm, SchoolProfileForm, YearGroupsForm
from broker.services import calendar, compass, figures, impact, matches, profiles, requests
from broker.services import matching as adapter
from broker.statuses import MatchStatus
from broker.web import redirect_on_refusal
from broker.wording import why_nothing_matched

bp = Blueprint("school", __name__)

MATCH_SORTS = {
    "newest": (Match.id.desc(),),
    "employer": (Employer.name, Match.id),
    "year": (EncounterRequest.year_group, Match.id),
    "pupils": (Match.pupils.desc(), Match.id),
    "status": (Match.status, Match.id),
    "type": (Offer.type, Match.id),
}


# Calendar apps fetch the feed without a session; its signed token is the credential.
bp.before_request(
    role_guard("school", public=("school.calendar_feed", "school.provider_access"))
)


def _today():
    # The broker's working day (Europe/London), as the services count it.
    return clock.today()


def _school() -> School:
    return current_user.school


def _own_request(request_id: int) -> EncounterRequest:
    return get_or_404(
        EncounterRequest, request_id, lambda r: r.school_id == current_user.school_id
    )


def _own_match(match_id: int) -> Match:
    return get_or_404(Match, match_id, lambda m: m.request.school_id == current_user.school_id)


@bp.get("/")
def dashboard():
    school = _school()
    request_counts = dict(
        db.session.execute(
            select(EncounterRequest.status, func.count())
            .where(EncounterRequest.school_id == school.id)
            .group_by(EncounterRequest.status)
        ).all()
    )
    waiting = db.session.scalar(
        select(func.count())
        .select_from(Match)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(
            EncounterRequest.school_id == school.id,
            Match.status == MatchStatus.APPROVED,
            Match.school_response.is_(None),
        )
    )
    to_record = db.session.scalar(
        select(func.count())
        .select_from(Match)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .where(EncounterRequest.school_id == school.id, Match.status == MatchStatus.ACCEPTED)
    )
    return render_template(
        "school/dashboard.html",
        school=school,
        requests=request_counts,
        matches=figures.match_counts(school_id=school.id),
        pupils_reached=figures.pupils_reached(school_id=school.id),
        waiting=waiting,
        to_record=to_record,
    )


def _profile_page(status: int = 200, **forms):
    school = _school()
    form = forms.get("form") or SchoolProfileForm(formdata=None, obj=school)
    years_form = forms.get("years_form")
    if years_form is None:
        counts = {yg.year_group: yg.pupils for yg in school.year_groups}
        years_form = YearGroupsForm(formdata=None, data={f"y{y}": counts.get(y)
                                                          for y in profiles.YEAR_GROUPS})
    return render_template(
        "school/profile.html", school=school, form=form, years_form=years_form,
        blackout_form=forms.get("blackout_form") or BlackoutForm(formdata=None),
    ), status


@bp.get("/profile")
def profile():
    return _profile_page()


@bp.post("/profile")
def profile_save():
    school = _school()
    form = SchoolProfileForm()
    if not form.validate_on_submit():
        return _profile_page(form.status, form=form)
    data = profiles.SchoolProfile(
        postcode=form.postcode.data,
        gender=form.gender.data,
        pupils=form.pupils.data,
        fsm_pct=float(form.fsm_pct.data) if form.fsm_pct.data is not None else None,
        careers_leader_name=form.careers_leader_name.data or "",
        careers_leader_email=form.careers_leader_email.data or "",
        careers_leader_phone=form.careers_leader_phone.data or "",
        sen_profile=list(form.sen_profile.data or []),
    )
    profiles.update_school_profile(school, data, by=current_user)
    flash("Your school's profile is saved.", "success")
    return redirect(url_for("school.profile"))


@bp.post("/profile/year-groups")
def year_groups_save():
    form = YearGroupsForm()
    if not form.validate_on_submit():
        return _profile_page(form.status, years_form=form)
    counts = {y: getattr(form, f"y{y}").data for y in profiles.YEAR_GROUPS}
    profiles.set_year_groups(_school(), counts, by=current_user)
    flash("Pupils per year group saved.", "success")
    return redirect(url_for("school.profile") + "#year-groups")


@bp.post("/profile/blackouts")
def blackout_add():
    form = BlackoutForm()
    if not form.validate_on_submit():
        return _profile_page(form.status, blackout_form=form)
    profiles.add_blackout(
        _school(), starts_on=form.starts_on.data, ends_on=form.ends_on.data,
        reason=form.reason.data, by=current_user,
    )
    flash("Dates to avoid added; the matcher will not propose encounters on them.", "success")
    return redirect(url_for("school.profile") + "#avoid")


@bp.post("/profile/blackouts/<id:blackout_id>/delete")
@redirect_on_refusal(lambda blackout_id: url_for("school.profile") + "#avoid")
def blackout_delete(blackout_id: int):
    blackout = get_or_404(
        SchoolBlackout, blackout_id, lambda b: b.school_id == current_user.school_id
    )
    EmptyForm().validate_or_400()
    profiles.remove_blackout(blackout, by=current_user)
    flash("Dates removed.", "success")
    return redirect(url_for("school.profile") + "#avoid")


@bp.get("/requests")
def request_list():
    status = request.args.get("status", "")
    type_ = request.args.get("type", "")
    year = int_arg("year")
    sort = request.args.get("sort", "newest")
    page = paginate(
        requests.requests_query(_school(), status=status, type=type_, year=year, sort=sort),
        page=id_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"],
    )
    held = requests.pupils_held_by_request([r.id for r in page.items])
    # Only this page's open requests are explained: one engine check for the page.
    why = adapter.explain_requests([r for r in page.items if r.status == "open"], _today())
    return render_template(
        "school/requests.html", page=page, held=held, why=why, status=status, type=type_,
        year=year,
        sort=sort, statuses=REQUEST_STATUSES, types=ENCOUNTER_TYPES,
    )


def _request_data(form: RequestForm) -> requests.RequestData:
    return requests.RequestData(
        type=form.type.data,
        year_group=form.year_group.data,
        pupils=form.pupils.data,
        earliest=form.earliest.data,
        latest=form.latest.data,
        stem_goal=form.stem_goal.data,
        stereotype_goal=form.stereotype_goal.data,
        sen_needs=list(form.sen_needs.data or []),
        notes=form.notes.data or "",
        provider_only=bool(form.provider_only.data),
    )


@bp.route("/requests/new", methods=["GET", "POST"])
def request_new():
    school = _school()
    form = RequestForm()
    if request.method == "GET":
        form.sen_needs.data = list(school.sen_profile or [])
    if form.validate_on_submit():
        made = requests.create_request(
            school, _request_data(form), by=current_user, today=_today()
        )
        found = adapter.explain_request(made, _today())
        if found.no_fit:
            # Said at once, while the request is fresh: its page says what would help.
            flash("Request saved, but as it stands no offer could serve it. "
                  + why_nothing_matched(found), "warning")
            return redirect(url_for("school.request_edit", request_id=made.id))
        flash("Request saved: the matcher will look for an employer tonight.", "success")
        return redirect(url_for("school.request_list"))
    return render_template("school/request_form.html", form=form, req=None, held=0), form.status


@bp.route("/requests/<id:request_id>/edit", methods=["GET", "POST"])
def request_edit(request_id: int):
    req = _own_request(request_id)
    form = RequestForm(obj=req)
    if form.validate_on_submit():
        saved = requests.update_request(req, _request_data(form), by=current_user)
        flash(saved.message, "success")
        return redirect(url_for("school.request_list"))
    held = matches.request_pupils_held(req)
    why = adapter.explain_request(req, _today()) if req.status == "open" else None
    return render_template("school/request_form.html", form=form, req=req, held=held, why=why,
                           withdraw_form=ReasonForm(formdata=None)), form.status


@bp.post("/requests/<id:request_id>/withdraw")
@redirect_on_refusal("school.request_edit")
def request_withdraw(request_id: int):
    req = _own_request(request_id)
    form = ReasonForm()
    form.validate_or_400()
    requests.withdraw_request(req, by=current_user, reason=form.reason.data or "")
    flash("Request withdrawn.", "success")
    return redirect(url_for("school.request_list"))


def _matches_query(school: School, status: str, type_: str, year: int | None, sort: str):
    query = (
        select(Match)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(Offer, Match.offer_id == Offer.id)
        .join(Employer, Offer.employer_id == Employer.id)
        # An IN over the school's requests lets the planner use (status, request_id).
        .where(Match.request_id.in_(
            select(EncounterRequest.id).where(EncounterRequest.school_id == school.id)
        ))
        .options(
            contains_eager(Match.request),
            contains_eager(Match.offer).contains_eager(Offer.employer),
        )
    )
    if year is not None:
        query = query.where(EncounterRequest.year_group == year)
    return filter_matches(query, status=status, type_=type_, sorts=MATCH_SORTS, sort=sort)


@bp.get("/matches")
def match_list():
    status = request.args.get("status", "")
    type_ = request.args.get("type", "")
    year = int_arg("year")
    sort = request.args.get("sort", "newest")
    page = paginate(
        _matches_query(_school(), status, type_, year, sort),
        page=id_arg("page") or 1,
        per_page=current_app.config["PAGE_SIZE"],
    )
    return render_template(
        "school/matches.html", page=page, status=status, type=type_, year=year, sort=sort,
        statuses=VISIBLE_MATCH_STATUSES, types=ENCOUNTER_TYPES,
    )


register_match_pages(
    bp, side="school", own_match=_own_match, template="school/match.html",
    feedback_form=SchoolFeedbackForm, delivered="Delivery recorded. Now tell us how it went.",
)


def _year() -> int:
    year = int_arg("year")
    this_year = this_school_year()
    if year is None or not this_year - 10 <= year <= this_year + 2:
        return this_year
    return year


@bp.get("/plan")
def plan():
    school = _school()
    year = _year()
    return render_template(
        "school/plan.html", school=school, year=year, plans=impact.school_plan(school, year),
        types=ENCOUNTER_TYPES, workplace=impact.WORKPLACE_TYPES,
        this_year=clock.school_year_of(_today()),
        hours=impact.school_hours(school, year), hours_aim=impact.HOURS_AIM,
        provider=impact.provider_phases(school, year),
        provider_deadline=clock.provider_deadline(year),
        against_last=compass.against_last_year(school, year),
    )


@bp.get("/<id:urn>/provider-access")
def provider_access(urn: int):
    """The school's provider access policy statement: public, no sign-in needed."""
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        abort(404)
    year = this_school_year()
    return render_template(
        "school/provider_access.html", school=school, year=year,
        lines=impact.provider_encounters(school, year),
        phases=impact.provider_phases(school, year),
        deadline=clock.provider_deadline(year), today=_today(),
    )


@bp.get("/report")
def report():
    school = _school()
    year = _year()
    lines = impact.governors_report(school, year)
    return render_template(
        "school/report.html", school=school, year=year, lines=lines,
        plans=impact.school_plan(school, year),
        hours=impact.school_hours(school, year), hours_aim=impact.HOURS_AIM,
        provider=impact.provider_phases(school, year),
        provider_deadline=clock.provider_deadline(year),
        pupils=sum(line.pupils for line in lines),
        generated_on=_today(),
    )


@bp.get("/compass.csv")
def compass_export():
    """The school's Compass-shaped figures for a school year: banded shares per phase."""
    school = _school()
    year = _year()
    return Response(
        compass.compass_csv(school, year),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="compass-{year}.csv"'},
    )


register_calendar_pages(bp, model=School, own=_school, events=calendar.school_events)
