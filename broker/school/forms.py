"""Forms for schools; they check shape, services enforce the rules.

The forms for answering, cancelling, delivering and giving feedback on a match are in
``broker.matchpages``, shared with employers.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from broker.employer.forms import MultiCheckboxField
from broker.formutil import choices
from broker.models import ENCOUNTER_TYPES, SCHOOL_GENDERS, SEN_CODES


class SchoolProfileForm(FlaskForm):
    postcode = StringField("Postcode", validators=[DataRequired(), Length(max=16)])
    gender = SelectField(
        "Intake",
        choices=choices(SCHOOL_GENDERS, {"mixed": "Mixed", "girls": "Girls", "boys": "Boys"}),
    )
    pupils = IntegerField("Pupils on roll", validators=[Optional(), NumberRange(min=0)])
    fsm_pct = DecimalField(
        "Pupils eligible for free school meals (%)",
        places=1,
        validators=[Optional(), NumberRange(min=0, max=100)],
    )
    careers_leader_name = StringField("Careers leader", validators=[Optional(), Length(max=120)])
    careers_leader_email = EmailField(
        "Careers leader's email", validators=[Optional(), Email(), Length(max=254)]
    )
    careers_leader_phone = StringField(
        "Careers leader's phone", validators=[Optional(), Length(max=40)]
    )
    sen_profile = MultiCheckboxField("SEN needs among your pupils", choices=choices(SEN_CODES))


class YearGroupsForm(FlaskForm):
    """Pupils per year group; a blank removes the count."""

    y7 = IntegerField("Year 7", validators=[Optional(), NumberRange(min=0, max=2000)])
    y8 = IntegerField("Year 8", validators=[Optional(), NumberRange(min=0, max=2000)])
    y9 = IntegerField("Year 9", validators=[Optional(), NumberRange(min=0, max=2000)])
    y10 = IntegerField("Year 10", validators=[Optional(), NumberRange(min=0, max=2000)])
    y11 = IntegerField("Year 11", validators=[Optional(), NumberRange(min=0, max=2000)])
    y12 = IntegerField("Year 12", validators=[Optional(), NumberRange(min=0, max=2000)])
    y13 = IntegerField("Year 13", validators=[Optional(), NumberRange(min=0, max=2000)])


class BlackoutForm(FlaskForm):
    starts_on = DateField("First day", validators=[InputRequired()])
    ends_on = DateField("Last day", validators=[InputRequired()])
    reason = StringField(
        "What for",
        validators=[DataRequired(), Length(max=120)],
        description="e.g. exam season, INSET day, Year 10 trip",
    )


class RequestForm(FlaskForm):
    type = SelectField("Type of encounter", choices=choices(ENCOUNTER_TYPES))
    year_group = IntegerField("Year group", validators=[InputRequired()], description="7 to 13")
    pupils = IntegerField("Pupils", validators=[InputRequired()])
    earliest = DateField("Earliest date", validators=[InputRequired()])
    latest = DateField("Latest date", validators=[InputRequired()])
    stem_goal = BooleanField("We want this to open STEM careers")
    stereotype_goal = BooleanField("We want role models who challenge a gender stereotype")
    sen_needs = MultiCheckboxField("SEN needs in this group", choices=choices(SEN_CODES))
    notes = TextAreaField("Notes for the employer", validators=[Optional(), Length(max=4000)])
