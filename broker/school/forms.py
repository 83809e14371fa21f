"""Forms for schools; they check shape, services enforce the rules.

The forms for answering, cancelling, delivering and giving feedback on a match are in
``broker.matchpages``, shared with employers.
"""

from __future__ import annotations

from wtforms import BooleanField, EmailField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, InputRequired, Optional

from broker.employer.forms import POSTCODE_TYPED, MultiCheckboxField
from broker.formutil import (
    DateField,
    DecimalField,
    Form,
    InRange,
    IntegerField,
    MaxLength,
    choices,
    column_length,
)
from broker.models import ENCOUNTER_TYPES, SCHOOL_GENDERS, SEN_CODES, School, SchoolBlackout

#: More pupils than any school in England has on roll.
MAX_ROLL = 20_000
#: More pupils than any year group has; a request is for one year group at most.
MAX_YEAR_GROUP = 2000


class SchoolProfileForm(Form):
    postcode = StringField("Postcode", validators=[DataRequired(), MaxLength(POSTCODE_TYPED)])
    gender = SelectField("Intake", choices=choices(SCHOOL_GENDERS, {
        "mixed": "Mixed", "girls": "Girls", "boys": "Boys"}))
    pupils = IntegerField("Pupils on roll", validators=[Optional(), InRange(0, MAX_ROLL)])
    fsm_pct = DecimalField("Pupils eligible for free school meals (%)", places=1,
                           validators=[Optional(), InRange(0, 100)])
    careers_leader_name = StringField(
        "Careers leader",
        validators=[Optional(), MaxLength(column_length(School.careers_leader_name))],
    )
    careers_leader_email = EmailField(
        "Careers leader's email",
        validators=[Optional(), MaxLength(column_length(School.careers_leader_email)), Email()],
    )
    careers_leader_phone = StringField(
        "Careers leader's phone",
        validators=[Optional(), MaxLength(column_length(School.careers_leader_phone))],
    )
    sen_profile = MultiCheckboxField("SEN needs among your pupils", choices=choices(SEN_CODES))


def _year_group(year: int) -> IntegerField:
    return IntegerField(f"Year {year}", validators=[Optional(), InRange(0, MAX_YEAR_GROUP)])


class YearGroupsForm(Form):
    """Pupils per year group; a blank removes the count."""

    y7 = _year_group(7)
    y8 = _year_group(8)
    y9 = _year_group(9)
    y10 = _year_group(10)
    y11 = _year_group(11)
    y12 = _year_group(12)
    y13 = _year_group(13)


class BlackoutForm(Form):
    starts_on = DateField("First day", validators=[InputRequired()])
    ends_on = DateField("Last day", validators=[InputRequired()])
    reason = StringField(
        "What for",
        validators=[DataRequired(), MaxLength(column_length(SchoolBlackout.reason))],
        description="e.g. exam season, INSET day, Year 10 trip",
    )


class RequestForm(Form):
    type = SelectField("Type of encounter", choices=choices(ENCOUNTER_TYPES))
    year_group = IntegerField("Year group", validators=[InputRequired(), InRange(7, 13)],
                              description="7 to 13")
    pupils = IntegerField("Pupils", validators=[InputRequired(), InRange(1, MAX_YEAR_GROUP)])
    earliest = DateField("Earliest date", validators=[InputRequired()])
    latest = DateField("Latest date", validators=[InputRequired()])
    stem_goal = BooleanField("We want this to open STEM careers")
    stereotype_goal = BooleanField("We want role models who challenge a gender stereotype")
    sen_needs = MultiCheckboxField("SEN needs in this group", choices=choices(SEN_CODES))
    provider_only = BooleanField(
        "Only a provider encounter (Provider Access Legislation)",
        description="Only offers a college, training or apprenticeship provider or university "
        "marked as provider encounters will be proposed.",
    )
    notes = TextAreaField("Notes for the employer", validators=[Optional(), MaxLength(4000)])
