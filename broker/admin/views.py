"""Pages for admins: users, areas, imports and settings."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from broker.admin.forms import StaffUserForm
from broker.auth.access import role_guard
from broker.extensions import db
from broker.models import Area, Employer, EncounterRequest, Match, Offer, School, User
from broker.pagination import paginate
from broker.services import accounts
from broker.services.errors import ServiceError

bp = Blueprint("admin", __name__)
bp.before_request(role_guard("admin"))


@bp.get("/")
def dashboard():
    counts = {
        label: db.session.scalar(select(func.count()).select_from(model))
        for label, model in [
            ("Schools", School),
            ("Employers", Employer),
            ("Offers", Offer),
            ("Requests", EncounterRequest),
            ("Matches", Match),
            ("Users", User),
            ("Areas", Area),
        ]
    }
    return render_template("admin/dashboard.html", counts=counts)


@bp.get("/users")
def users():
    query = select(User).order_by(User.role, User.email)
    if role := request.args.get("role"):
        query = query.where(User.role == role)
    page = paginate(query, page=request.args.get("page", 1, type=int))
    return render_template("admin/users.html", page=page)


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    form = StaffUserForm()
    form.areas.choices = [
        SelectChoice(a.id, a.name) for a in db.session.scalars(select(Area).order_by(Area.name))
    ]
    if form.validate_on_submit():
        try:
            accounts.create_user(
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                password=form.password.data,
                areas=[db.session.get(Area, i) for i in form.areas.data],
                by=current_user,
            )
        except ServiceError as exc:
            db.session.rollback()
            getattr(form, exc.field or "email", form.email).errors.append(exc.message)
        else:
            db.session.commit()
            flash("User created.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/new_user.html", form=form), 400 if form.errors else 200
