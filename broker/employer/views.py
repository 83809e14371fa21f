"""Pages for employers: their organisation, offers, matches and impact."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from broker.auth.access import role_guard
from broker.extensions import db
from broker.models import Offer
from broker.services import figures

bp = Blueprint("employer", __name__)
bp.before_request(role_guard("employer"))


@bp.get("/")
def dashboard():
    employer = current_user.employer
    offers = dict(
        db.session.execute(
            select(Offer.status, func.count())
            .where(Offer.employer_id == employer.id)
            .group_by(Offer.status)
        ).all()
    )
    return render_template(
        "employer/dashboard.html",
        employer=employer,
        offers=offers,
        matches=figures.match_counts(employer_id=employer.id),
        pupils_reached=figures.pupils_reached(employer_id=employer.id),
    )
