"""Forms for employers; they check shape, services enforce the rules.

The forms for answering, cancelling, delivering and giving feedback on a match are in
``broker.matchpages``, shared with schools.
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
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
)
from wtforms.widgets import CheckboxInput, ListWidget

from broker.formutil import choices
from broker.models import (
    EMPLOYER_KINDS,
    ENCOUNTER_TYPES,
    OFFER_DELIVERY,
    SCHOOL_GENDERS,
    SEN_CODES,
)


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes, easier on a phone than a multi-select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ProfileForm(FlaskForm):
    name = StringField("Organisation name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind of organisation", choices=choices(EMPLOYER_KINDS))
    sector = StringField(
        "Sector",
        validators=[DataRequired(), Length(max=80)],
        description="e.g. engineering, health and care, finance",
    )
    postcode = StringField("Postcode", validators=[DataRequired(), Length(max=16)])
    contact_name = StringField("Contact name", validators=[Optional(), Length(max=120)])
    contact_email = EmailField("Contact email", validators=[Optional(), Email(), Length(max=254)])
    contact_phone = StringField("Contact phone", validators=[Optional(), Length(max=40)])
    website = StringField("Website", validators=[Optional(), URL(), Length(max=200)])
    dbs_checked = BooleanField("Our volunteers who work with pupils are DBS-checked")
    dbs_renewal_on = DateField(
        "DBS checks due for renewal on",
        validators=[Optional()],
        description="Needed for mentoring offers.",
    )
    insurance_expires_on = DateField(
        "Employers' liability insurance expires on",
        validators=[Optional()],
        description="Needed for workplace visits and work experience.",
    )
    risk_assessment_on = DateField(
        "Risk assessment for visits and work experience carried out on",
        validators=[Optional()],
        description="Valid for 12 months. Needed for workplace visits and work experience.",
    )


class OfferForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=5000)])
    type = SelectField("Type of encounter", choices=choices(ENCOUNTER_TYPES))
    sector = StringField("Sector", validators=[DataRequired(), Length(max=80)])
    stem = BooleanField("A STEM role or sector")
    challenges_stereotype = BooleanField("Our role models challenge a gender stereotype")
    stereotype_note = StringField(
        "Which stereotype",
        validators=[Optional(), Length(max=200)],
        description="e.g. female engineers, male nurses",
    )
    sen_support = MultiCheckboxField("SEN we can support", choices=choices(SEN_CODES))
    year_min = IntegerField(
        "Youngest year group", validators=[InputRequired()], description="7 to 13"
    )
    year_max = IntegerField(
        "Oldest year group", validators=[InputRequired()], description="7 to 13"
    )
    capacity = IntegerField("Capacity (pupils in total)", validators=[InputRequired()])
    delivery = SelectField("Where it happens", choices=choices(OFFER_DELIVERY))
    max_km = DecimalField(
        "How far it travels (km)",
        places=1,
        validators=[InputRequired()],
        description="How far you will travel, or pupils may come from.",
    )
    audience = SelectField(
        "Audience",
        choices=choices(
            SCHOOL_GENDERS, {"mixed": "Any pupils", "girls": "Girls only", "boys": "Boys only"}
        ),
    )
    earliest = DateField("Available from", validators=[InputRequired()])
    latest = DateField("Available until", validators=[InputRequired()])
    postcode = StringField(
        "Postcode where it happens",
        validators=[Optional(), Length(max=16)],
        description="Leave blank to use your organisation's postcode.",
    )
