"""Accounts: sign in and out, registration, email confirmation, password reset, and the
account page (password, email address, email preferences).

Every page here answers the same whether or not an email address has an account (see
``broker.services.accounts``); sign-in, registration and reset are rate limited
(``broker.auth.ratelimits``); sessions end as ``broker.auth.sessions`` describes.

Posts are committed by ``broker.web`` like every other view; the two links followed from an
email (confirming an address) change state on a GET, so they commit themselves.
"""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select
from wtforms import SelectChoice

from broker import clock
from broker.auth import ratelimits, sessions
from broker.auth.forms import (
    ChangeEmailForm,
    ChangePasswordForm,
    EmailPreferencesForm,
    EmployerRegistrationForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    SchoolRegistrationForm,
)
from broker.extensions import db
from broker.formutil import Form, int_arg, safe_next
from broker.models import School
from broker.services import accounts, privacy, schools
from broker.services.errors import ServiceError
from broker.services.notify import kinds_for

bp = Blueprint("auth", __name__)
bp.before_app_request(sessions.end_if_idle)
bp.app_errorhandler(429)(ratelimits.too_many_requests)


def _me():
    """The signed-in user itself, not the proxy (Flask-Login keeps what it is given)."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _show(form: Form, exc: ServiceError) -> None:
    """Roll back what the refused service did and show its message beside its field.

    Views here handle refusals themselves (``broker.web`` would otherwise redirect): some
    writes must stand whatever the answer, such as a failed sign-in's audit entry.
    """
    db.session.rollback()
    form.show_refusal(exc)


# --------------------------------------------------------------------------- sign in and out
@bp.route("/login", methods=["GET", "POST"])
@ratelimits.sign_in_limits
def login():
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.sign_in(form.email.data, form.password.data, ip=request.remote_addr)
        except accounts.EmailNotConfirmed as exc:
            flash(exc.message, "error")  # answered 200: the new link's email is committed
        else:
            if user is not None:
                sessions.start(user)
                return redirect(safe_next(request.args.get("next"), "index"))
            setattr(g, ratelimits.PASSWORD_WRONG, True)
            flash("Email or password not recognised.", "error")
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        accounts.sign_out(_me(), ip=request.remote_addr)
    sessions.end()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


# --------------------------------------------------------------------------- registration
def _register(form, make_registration, service, title: str, **page):
    status = 200
    if form.validate_on_submit():
        try:
            service(make_registration(form))
        except ServiceError as exc:
            _show(form, exc)
            status = 400
        else:
            # The same answer whether the address was new or already had an account.
            return redirect(url_for("auth.check_email", sent="confirm"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/register.html", form=form, title=title, **page), status


def _school_search(form: SchoolRegistrationForm) -> dict:
    """What the school registration page shows of a search (``?q=``) and a chosen school.

    ``?urn=`` (from "This is my school") fills the URN field and names the school, so the
    person can see they picked the right one; a URN typed and posted is left as typed.
    """
    term = " ".join(request.args.get("q", "").split())
    urn = int_arg("urn", min=100000, max=999999)
    if urn is not None and not form.is_submitted():
        form.urn.data = urn
    chosen = None
    if isinstance(form.urn.data, int) and 100000 <= form.urn.data <= 999999:
        chosen = db.session.scalar(select(School).where(School.urn == form.urn.data))
    return {
        "search_term": term,
        "search_too_long": len(term) > schools.SEARCH_MAX_LENGTH,
        "search_max": schools.SEARCH_MAX_LENGTH,
        "search_limit": schools.SEARCH_LIMIT,
        "found": schools.search_schools(term) if term else [],
        "chosen": chosen,
    }


@bp.route("/register/employer", methods=["GET", "POST"])
@ratelimits.register_limits
def register_employer():
    return _register(
        EmployerRegistrationForm(),
        lambda f: accounts.EmployerRegistration(
            organisation=f.organisation.data,
            kind=f.kind.data,
            sector=f.sector.data,
            postcode=f.postcode.data,
            name=f.name.data,
            email=f.email.data,
            password=f.password.data,
            phone=f.phone.data or "",
        ),
        accounts.register_employer,
        "Register your organisation",
    )


@bp.route("/register/school", methods=["GET", "POST"])
@ratelimits.register_limits
def register_school():
    form = SchoolRegistrationForm()
    return _register(
        form,
        lambda f: accounts.SchoolRegistration(
            urn=f.urn.data,
            name=f.name.data,
            email=f.email.data,
            password=f.password.data,
            phone=f.phone.data or "",
            job_title=f.job_title.data or "",
            evidence=f.evidence.data or "",
        ),
        accounts.register_school,
        "Register your school",
        **_school_search(form),
    )


@bp.get("/check-email")
def check_email():
    sent = request.args.get("sent")
    return render_template("auth/check_email.html", sent=sent if sent == "reset" else "confirm")


@bp.get("/confirm/<token>")
def confirm_email(token: str):
    try:
        accounts.confirm_email(token)
    except ServiceError as exc:
        db.session.rollback()
        return render_template("auth/link_refused.html", message=exc.message), 400
    db.session.commit()
    flash("Thank you: your email address is confirmed. You can sign in now.", "success")
    return redirect(url_for("auth.login"))


# --------------------------------------------------------------------------- password reset
@bp.route("/forgot", methods=["GET", "POST"])
@ratelimits.reset_limits
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data, ip=request.remote_addr)
        return redirect(url_for("auth.check_email", sent="reset"))
    return render_template("auth/forgot.html", form=form), 400 if form.errors else 200


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        accounts.read_link("reset", token)
    except ServiceError as exc:
        return render_template("auth/link_refused.html", message=exc.message, reset=True), 400
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except ServiceError as exc:
            _show(form, exc)
        else:
            sessions.end()
            flash("Your password is changed. Sign in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), 400 if form.errors else 200


# --------------------------------------------------------------------------- account page
def _preferences_form(formdata=None) -> EmailPreferencesForm:
    kinds = kinds_for(current_user.role)
    form = EmailPreferencesForm(
        formdata=formdata,
        wanted=[k for k in kinds if k not in (current_user.email_opt_outs or [])],
    )
    form.wanted.choices = [SelectChoice(name, kind.label) for name, kind in kinds.items()]
    return form


def _account_page(status: int = 200, **forms):
    return render_template(
        "auth/account.html",
        password_form=forms.get("password_form") or ChangePasswordForm(formdata=None),
        email_form=forms.get("email_form") or ChangeEmailForm(formdata=None),
        preferences_form=forms.get("preferences_form") or _preferences_form(),
    ), status


@bp.get("/account")
@login_required
def account():
    return _account_page()


@bp.get("/account/organisation-data")
@login_required
def organisation_data():
    """Everything held about the signed-in person's school or employer, as a JSON file."""
    org = current_user.school or current_user.employer
    if org is None:
        abort(404)  # coordinators and admins belong to no organisation
    body = json.dumps(privacy.export_organisation(org), indent=2, ensure_ascii=False)
    name = f"broker-{type(org).__name__.lower()}-{org.id}-{clock.today().isoformat()}.json"
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _refused(form, exc: ServiceError, **forms):
    if isinstance(exc, accounts.WrongPassword):
        setattr(g, ratelimits.PASSWORD_WRONG, True)
    _show(form, exc)
    return _account_page(400, **forms)


@bp.post("/account/password")
@login_required
@ratelimits.password_check_limits
def change_password():
    form = ChangePasswordForm()
    if not form.validate_on_submit():
        return _account_page(400, password_form=form)
    try:
        accounts.change_password(_me(), form.current_password.data, form.password.data)
    except ServiceError as exc:
        return _refused(form, exc, password_form=form)
    # Every other session has ended; this one goes on under the new session version.
    sessions.start(_me())
    flash("Your password is changed. You are signed out everywhere else.", "success")
    return redirect(url_for("auth.account"))


@bp.post("/account/email")
@login_required
@ratelimits.password_check_limits
def change_email():
    form = ChangeEmailForm()
    if not form.validate_on_submit():
        return _account_page(400, email_form=form)
    try:
        accounts.request_email_change(_me(), form.password.data, form.email.data)
    except ServiceError as exc:
        return _refused(form, exc, email_form=form)
    flash(
        f"We have emailed a link to {form.email.data.strip().lower()}. Your address changes "
        "when you follow it; until then, sign in with your current one.",
        "success",
    )
    return redirect(url_for("auth.account"))


@bp.get("/email/<token>")
def confirm_email_change(token: str):
    try:
        user = accounts.confirm_email_change(token)
    except ServiceError as exc:
        db.session.rollback()
        return render_template("auth/link_refused.html", message=exc.message), 400
    db.session.commit()
    flash(f"Your email address is now {user.email}. Sign in with it from now on.", "success")
    return redirect(url_for("auth.account" if current_user.is_authenticated else "auth.login"))


@bp.post("/account/notifications")
@login_required
def email_preferences():
    form = _preferences_form(request.form)
    if not form.validate_on_submit():
        return _account_page(400, preferences_form=form)
    try:
        accounts.set_email_preferences(_me(), set(form.wanted.data), by=_me())
    except ServiceError as exc:
        _show(form, exc)
        return _account_page(400, preferences_form=form)
    flash("Your email preferences are saved.", "success")
    return redirect(url_for("auth.account"))
