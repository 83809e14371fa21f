"""Pages for schools: profile, requests, matches, delivery and the governors' view."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from broker.auth.access import role_guard
from broker.extensions import db
from broker.models import EncounterRequest
from broker.services import figures

bp = Blueprint("school", __name__)
bp.before_request(role_guard("school"))


@bp.get("/")
def dashboard():
    school = current_user.school
    requests = dict(
        db.session.execute(
            select(EncounterRequest.status, func.count())
            .where(EncounterRequest.school_id == school.id)
            .group_by(EncounterRequest.status)
        ).all()
    )
    return render_template(
        "school/dashboard.html",
        school=school,
        requests=requests,
        matches=figures.match_counts(school_id=school.id),
        pupils_reached=figures.pupils_reached(school_id=school.id),
    )
