"""Forms for coordinators: they check shape; the services enforce the rules."""

from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Optional
from wtforms.widgets import HiddenInput

from broker.formutil import INT_MAX, Form, InRange, IntegerField, MaxLength


class RejectForm(Form):
    reason = TextAreaField(
        "Why reject it?",
        validators=[DataRequired("Say why the match is rejected."), MaxLength(500)],
        description="The matcher will not propose this pair again.",
    )


class HandMatchForm(Form):
    request_id = IntegerField("Request number", validators=[DataRequired(), InRange(1, INT_MAX)])
    offer_id = IntegerField("Offer number", validators=[DataRequired(), InRange(1, INT_MAX)])
    pupils = IntegerField("Pupils", validators=[DataRequired(), InRange(1, 1000)])
    note = StringField("Note (optional)", validators=[Optional(), MaxLength(200)])


class BulkApproveForm(Form):
    # How many matches the coordinator saw: the approval is refused if the queue changed.
    expected = IntegerField(widget=HiddenInput(), validators=[InputRequired(), InRange(0, INT_MAX)])


class SuspendForm(Form):
    reason = TextAreaField(
        "Why suspend it?",
        validators=[DataRequired("Say why the organisation is suspended."), MaxLength(500)],
        description="Shown to the organisation and kept in the audit log.",
    )
