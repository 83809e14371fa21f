"""A small JSON API: health for load balancers, and school look-up by URN for registration."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import select, text

from broker.extensions import db
from broker.models import School

bp = Blueprint("api", __name__)


@bp.before_request
def guard():
    # Read-only public data only: anything that is not is behind the role blueprints.
    if request.method != "GET":
        abort(405)


@bp.get("/health")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify(status="ok")


@bp.get("/schools/<id:urn>")  # a URN too big to store is simply not found
def school_by_urn(urn: int):
    school = db.session.scalar(select(School).where(School.urn == urn))
    if school is None:
        abort(404)
    return jsonify(urn=school.urn, name=school.name, postcode=school.postcode, la=school.la_name)
