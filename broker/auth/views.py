"""Sign in, sign out and registration for employers and schools."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from broker.auth.forms import EmployerRegistrationForm, LoginForm, SchoolRegistrationForm
from broker.extensions import db
from broker.services import accounts
from broker.services.errors import ServiceError

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an absolute URL in ?next= would make us an open redirect.
    if target and not urlsplit(target).netloc and target.startswith("/"):
        return target
    return url_for("index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            flash("Email or password not recognised.", "error")
        else:
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
def logout():
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))


def _register(form, make_registration, service, title: str):
    status = 200
    if form.validate_on_submit():
        try:
            user = service(make_registration(form))
        except ServiceError as exc:
            db.session.rollback()
            field = getattr(form, exc.field, None) if exc.field else None
            if field is not None:
                field.errors.append(exc.message)
            else:
                flash(exc.message, "error")
            status = 400
        else:
            db.session.commit()
            login_user(user)
            flash("Welcome to the broker.", "success")
            return redirect(url_for("index"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/register.html", form=form, title=title), status


@bp.route("/register/employer", methods=["GET", "POST"])
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
def register_school():
    return _register(
        SchoolRegistrationForm(),
        lambda f: accounts.SchoolRegistration(
            urn=f.urn.data,
            name=f.name.data,
            email=f.email.data,
            password=f.password.data,
            phone=f.phone.data or "",
        ),
        accounts.register_school,
        "Register your school",
    )
