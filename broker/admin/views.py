"""Pages for admins: users, areas, imports and settings."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.utils import secure_filename
from wtforms import SelectChoice

from broker import clock
from broker.admin.forms import SchoolsImportForm, StaffUserForm
from broker.auth.access import get_or_404, role_guard
from broker.extensions import db
from broker.formutil import EmptyForm, id_arg
from broker.gias import SchoolFileError
from broker.models import Area, Employer, School, User
from broker.pagination import paginate
from broker.services import accounts, audit, figures, privacy
from broker.services.schools import load_schools
from broker.web import redirect_on_refusal

bp = Blueprint("admin", __name__)
bp.before_request(role_guard("admin"))


@bp.get("/")
def dashboard():
    return render_template("admin/dashboard.html", counts=figures.site_counts())


@bp.get("/users")
def users():
    query = select(User).order_by(User.role, User.email)
    if role := request.args.get("role"):
        query = query.where(User.role == role)
    page = paginate(query, page=id_arg("page") or 1)
    return render_template("admin/users.html", page=page, form=EmptyForm())


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    form = StaffUserForm()
    form.areas.choices = [
        SelectChoice(a.id, a.name) for a in db.session.scalars(select(Area).order_by(Area.name))
    ]
    if form.validate_on_submit():
        accounts.create_user(
            email=form.email.data,
            name=form.name.data,
            role=form.role.data,
            password=form.password.data,
            areas=[db.session.get(Area, i) for i in form.areas.data],
            by=current_user,
        )
        flash("User created.", "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/new_user.html", form=form), form.status


@bp.get("/areas")
def areas():
    schools = (
        select(Area, func.count(School.id).label("schools"))
        .outerjoin(School, School.area_id == Area.id)
        .group_by(Area.id)
        .order_by(Area.name)
    )
    page = paginate(schools, page=id_arg("page") or 1, rows=True)
    return render_template("admin/areas.html", page=page)


@bp.route("/users/<id:user_id>/active", methods=["POST"])
@redirect_on_refusal(lambda user_id: url_for("admin.users"))
def toggle_active(user_id: int):
    EmptyForm().validate_or_400()
    user = get_or_404(User, user_id, lambda u: True)  # admins see every user
    accounts.set_active(user, not user.active, by=current_user)
    flash(f"{user.email} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))


@bp.route("/users/<id:user_id>/erase", methods=["GET", "POST"])
@redirect_on_refusal(lambda user_id: url_for("admin.users"))
def erase_user(user_id: int):
    """Erase a person's personal data on their request, after a confirmation page."""
    user = get_or_404(User, user_id, lambda u: True)
    form = EmptyForm()
    if form.validate_on_submit():
        privacy.erase_user(user, by=current_user)
        flash(f"The personal data of user {user.id} has been erased.", "success")
        return redirect(url_for("admin.users"))
    return render_template(
        "admin/erase.html", form=form, what=user, kind="person", erased=privacy.is_erased(user)
    ), form.status


@bp.route("/schools/<id:school_id>/erase", methods=["GET", "POST"])
@redirect_on_refusal(lambda school_id: url_for("admin.users"))
def erase_school(school_id: int):
    """Erase a school's people and careers leader's details on request, after confirmation."""
    return _erase_organisation(get_or_404(School, school_id, lambda s: True), "school")


@bp.route("/employers/<id:employer_id>/erase", methods=["GET", "POST"])
@redirect_on_refusal(lambda employer_id: url_for("admin.users"))
def erase_employer(employer_id: int):
    """Erase an employer's people and contact details on request, after confirmation."""
    return _erase_organisation(get_or_404(Employer, employer_id, lambda e: True), "employer")


def _erase_organisation(org: School | Employer, kind: str):
    form = EmptyForm()
    if form.validate_on_submit():
        name = org.name
        privacy.erase_organisation(org, by=current_user)
        flash(f"The personal data of {name} has been erased.", "success")
        return redirect(url_for("admin.users"))
    return render_template(
        "admin/erase.html", form=form, what=org, kind=kind, erased=False
    ), form.status


@bp.route("/import", methods=["GET", "POST"])
def import_schools():
    form = SchoolsImportForm()
    report = None
    if form.validate_on_submit():
        upload = form.file.data
        # Read from memory under the uploaded file's own name, never a path on this server,
        # so that no message about the file can show where the server keeps things.
        source = io.BytesIO(upload.read())
        source.name = secure_filename(upload.filename or "") or "the uploaded file"
        try:
            report = load_schools(source, quiet=True)
        except SchoolFileError as exc:
            # A file the importer cannot read: shown on the form (the 400 rolls back).
            form.file.errors.append(str(exc))
        else:
            audit.record("schools.imported", "School", by=current_user, summary=report.summary())
            flash(f"Imported: {report.summary()}.", "success")
    return render_template("admin/import.html", form=form, report=report), form.status


def _uk_time(at: datetime) -> datetime:
    # SQLite hands back naive UTC times, PostgreSQL aware ones.
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(clock.LONDON)


@bp.get("/audit")
def audit_log():
    filters = audit.AuditFilters.from_args(request.args)
    page = paginate(audit.log_query(filters), page=id_arg("page") or 1, rows=True)
    page.items = [(entry, email, _uk_time(entry.at)) for entry, email in page.items]
    actions, object_types = audit.known_values()
    return render_template(
        "admin/audit.html",
        page=page,
        filters=filters,
        actions=actions,
        object_types=object_types,
    )
