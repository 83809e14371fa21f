"""Small helpers shared by every blueprint's forms and form-handling views."""

from __future__ import annotations

from collections.abc import Iterable

from flask import flash
from flask_wtf import FlaskForm
from wtforms import SelectChoice

from broker.extensions import db
from broker.services.errors import ServiceError
from broker.templating import label


def choices(
    values: Iterable[object], labels: dict[object, str] | None = None
) -> list[SelectChoice]:
    """Return select options for vocabulary codes, labelled for people."""
    return [SelectChoice(value, (labels or {}).get(value) or label(value)) for value in values]


def show_service_error(form: FlaskForm | None, exc: ServiceError) -> None:
    """Roll back and show a service's refusal next to its field, or as a message."""
    db.session.rollback()
    field = getattr(form, exc.field, None) if form is not None and exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")
