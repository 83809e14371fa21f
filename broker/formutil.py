"""What every blueprint's forms share: the base form, fields that refuse what cannot be stored.

Every form subclasses :class:`Form` (a button that only posts uses :class:`EmptyForm`), so a
service's refusal appears beside the field it names (see :mod:`broker.web`). Fields take
only what the database and the date arithmetic can hold, and each message names its field:

- text fields carry :class:`MaxLength`, sized from their column by :func:`column_length`;
- whole numbers carry :class:`InRange`, never beyond :data:`INT_MAX` (PostgreSQL's
  ``integer``);
- :class:`DecimalField` refuses ``NaN``, ``sNaN`` and infinities;
- :class:`DateField` takes dates from :data:`FIRST_DATE` to :data:`LAST_DATE`.

Query-string helpers (:func:`int_arg`, :func:`id_arg`, :func:`school_year_arg`) read what a
person may type into an address bar without failing on it, and :func:`safe_next` keeps a
``next`` address on this site.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask import abort, flash, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy.orm import InstrumentedAttribute
from wtforms import DateField as _DateField
from wtforms import DecimalField as _DecimalField
from wtforms import Field, SelectChoice, ValidationError
from wtforms import IntegerField as _IntegerField

from broker import clock
from broker.services.errors import ServiceError
from broker.templating import label

__all__ = [
    "FIRST_DATE",
    "INT_MAX",
    "LAST_DATE",
    "DateField",
    "DecimalField",
    "EmptyForm",
    "Form",
    "InRange",
    "IntegerField",
    "MaxLength",
    "choices",
    "column_length",
    "id_arg",
    "int_arg",
    "safe_next",
    "school_year_arg",
    "this_school_year",
]

#: The largest value of an ``integer`` column on PostgreSQL (ids, counts, URNs).
INT_MAX = 2**31 - 1
#: The dates forms accept: wide enough for any real encounter or certificate, and far enough
#: from year 1 and year 9999 that moving a date a year on never overflows.
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)


def choices(
    values: Iterable[object], labels: Mapping[Any, str] | None = None
) -> list[SelectChoice]:
    """Return select options for vocabulary codes, labelled for people."""
    return [SelectChoice(value, (labels or {}).get(value) or label(value)) for value in values]


def column_length(column: InstrumentedAttribute[Any]) -> int:
    """Return the declared length of a ``String(n)`` model column, for a form's MaxLength."""
    length = getattr(column.property.columns[0].type, "length", None)
    if not length:
        raise ValueError(f"{column} has no declared length")
    return int(length)


def _name(field: Field) -> str:
    return str(field.label.text).rstrip("?: ") or field.name


class MaxLength:
    """Refuse text longer than ``max`` characters, naming the field.

    Give text columns of the database their column's length (:func:`column_length`); an
    unlimited ``Text`` column still gets a limit, so a form cannot store a novel.
    """

    def __init__(self, max: int) -> None:
        self.max = max
        self.field_flags = {"maxlength": max}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data is not None and len(field.data) > self.max:
            raise ValidationError(
                f"{_name(field)}: use at most {self.max:,} characters "
                f"(this has {len(field.data):,})."
            )


class InRange:
    """Refuse a number outside ``min`` to ``max`` (inclusive), naming the field."""

    def __init__(self, min: int | float, max: int | float) -> None:
        if max > INT_MAX:
            raise ValueError(f"max {max} is beyond what an integer column holds")
        self.min, self.max = min, max
        self.field_flags = {"min": min, "max": max}

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if field.data is None:
            return  # InputRequired or Optional decides whether a blank is allowed
        if not self.min <= field.data <= self.max:
            raise ValidationError(
                f"{_name(field)}: give a number from {self.min:,} to {self.max:,}."
            )


class IntegerField(_IntegerField):
    """A whole number; what is not one is refused with a message naming the field.

    Give it :class:`InRange` too: Python's integers have no limit, the database's do.
    """

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{_name(self)}: give a whole number, e.g. 12.") from None


class DecimalField(_DecimalField):
    """A decimal number; ``NaN``, ``sNaN`` and infinities are refused, naming the field.

    (WTForms takes them, and comparing a signalling NaN raises instead of answering.)
    """

    # WTForms is untyped: the parsed Decimal once the form validates, else None.
    data: Any

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{_name(self)}: give a number, e.g. 12.5.") from None
        value: Any = self.data
        if isinstance(value, decimal.Decimal) and not value.is_finite():
            self.data = None
            raise ValueError(f"{_name(self)}: give a number, e.g. 12.5.")


class DateField(_DateField):
    """A date from :data:`FIRST_DATE` to :data:`LAST_DATE`; others are refused, naming the field."""

    # WTForms is untyped: the parsed date once the form validates, else None.
    data: Any

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError(f"{_name(self)}: give a date as YYYY-MM-DD.") from None
        value: Any = self.data
        if value is not None and not FIRST_DATE <= value <= LAST_DATE:
            self.data = None
            raise ValueError(
                f"{_name(self)}: give a date from {FIRST_DATE.year} to {LAST_DATE.year}."
            )


def request_state() -> dict[str, Any]:
    """What this request remembers about its forms and a refusal (see :mod:`broker.web`).

    Kept on the request, not on ``flask.g``: ``g`` belongs to the app context, which outlives
    a request whenever one was pushed already (the tests, a command calling the app).
    """
    state: dict[str, Any] = request.environ.setdefault("broker.forms", {})
    return state


@dataclass
class Refusal:
    """A service's refusal of what a form asked, waiting to be shown on that form."""

    error: ServiceError
    form: str  # the form's key: which form, on a page that has several, it belongs to


class Form(FlaskForm):
    """The base of every form: shows a service's refusal beside the field it names.

    When a service refuses (raises :class:`~broker.services.errors.ServiceError`) after
    :meth:`validate_on_submit` said yes, :mod:`broker.web` rolls back and runs the view
    again; this time :meth:`validate_on_submit` says no and the form carries the refusal,
    beside its field (or flashed, if it names none), so the view renders the form with a 400
    exactly as for any other invalid input.
    """

    refused: bool = False

    def _key(self) -> str:
        return f"{type(self).__module__}.{type(self).__qualname__}:{self._prefix}"

    def validate_on_submit(self, extra_validators: Any = None) -> bool:
        """Return whether the form was posted and is valid, and no service refused it."""
        if not super().validate_on_submit(extra_validators):
            return False
        state = request_state()
        refusal: Refusal | None = state.get("refusal")
        if refusal is not None and refusal.form == self._key():
            state["refusal"] = None
            self.show_refusal(refusal.error)
            return False
        if self._fields.keys() - {"csrf_token"}:
            # A refusal can be shown beside this form's fields: see broker.web.
            state["submitted_form"] = self._key()
        return True

    def show_refusal(self, error: ServiceError) -> None:
        """Put a service's message beside the field it names, or flash it."""
        self.refused = True
        name = error.field or ""
        # A service names what it checks ("offer"); the form may ask for its number ("offer_id").
        field = self._fields.get(name) or self._fields.get(f"{name}_id")
        if field is not None and name != "csrf_token":
            field.errors = [*field.errors, error.message]
        else:
            flash(error.message, "error")

    @property
    def status(self) -> int:
        """The status to render the form's page with: 400 once it has been refused."""
        return 400 if self.errors or self.refused else 200

    def validate_or_400(self) -> None:
        """Abort with a 400 naming what is wrong unless the form was posted and is valid.

        For buttons, whose page is elsewhere: there is no form here to show errors beside,
        so a service's refusal goes where the view says (``broker.web.redirect_on_refusal``)
        or back to the page the button was on.
        """
        if not FlaskForm.validate_on_submit(self):
            problems = [e for errors in self.errors.values() for e in errors]
            abort(400, description=" ".join(str(p) for p in problems) or None)


class EmptyForm(Form):
    """A form with nothing but its CSRF token, for buttons that change state."""


def int_arg(name: str, *, min: int = 0, max: int = INT_MAX) -> int | None:
    """Return query argument ``name`` as a whole number from ``min`` to ``max``, else None."""
    value = request.args.get(name, type=int)
    if value is None or not min <= value <= max:
        return None
    return value


def id_arg(name: str) -> int | None:
    """Return query argument ``name`` as a row id (1 to :data:`INT_MAX`), else None."""
    return int_arg(name, min=1)


def school_year_arg(name: str = "year") -> int | None:
    """Return query argument ``name`` as a school year that dates can hold, else None.

    A school year is the calendar year it starts in; years outside the dates forms accept
    (:data:`FIRST_DATE` to :data:`LAST_DATE`) are ignored rather than failing.
    """
    return int_arg(name, min=FIRST_DATE.year, max=LAST_DATE.year - 1)


def this_school_year() -> int:
    """Return the school year of the broker's today."""
    return clock.school_year_of(clock.today())


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` if it is a path on this site, else ``default`` (an endpoint).

    Refuses absolute and scheme-relative addresses (an open redirect), backslashes (which
    browsers read as slashes) and control characters (a header cannot carry them).
    """
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not urlsplit(target).netloc
    ):
        return target
    return url_for(default)
