"""Forms for coordinators: they check shape; the services enforce the rules."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange


class ActionForm(FlaskForm):
    """A button that posts (approve): only the CSRF token."""


class RejectForm(FlaskForm):
    reason = TextAreaField(
        "Why reject it?",
        validators=[DataRequired(), Length(max=500)],
        description="The matcher will not propose this pair again.",
    )


class HandMatchForm(FlaskForm):
    request_id = IntegerField("Request number", validators=[DataRequired(), NumberRange(min=1)])
    offer_id = IntegerField("Offer number", validators=[DataRequired(), NumberRange(min=1)])
    pupils = IntegerField("Pupils", validators=[DataRequired(), NumberRange(min=1, max=1000)])
    note = StringField("Note (optional)", validators=[Length(max=200)])


class BulkApproveForm(FlaskForm):
    expected = HiddenField(validators=[DataRequired()])
