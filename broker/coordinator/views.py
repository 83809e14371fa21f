"""Pages for coordinators: the approval queue, runs, and the gaps in their areas."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from broker.auth.access import role_guard
from broker.extensions import db
from broker.models import School
from broker.services import figures

bp = Blueprint("coordinator", __name__)
bp.before_request(role_guard("coordinator", "admin"))


@bp.get("/")
def dashboard():
    area_ids = [a.id for a in current_user.areas]
    schools = db.session.scalar(
        select(func.count()).select_from(School).where(School.area_id.in_(area_ids))
    )
    return render_template(
        "coordinator/dashboard.html",
        areas=current_user.areas,
        schools=schools,
        matches=figures.match_counts(area_ids=area_ids),
    )
