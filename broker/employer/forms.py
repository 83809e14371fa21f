"""Forms for employers; they check shape, services enforce the rules.

The forms for answering, cancelling, delivering and giving feedback on a match are in
``broker.matchpages``, shared with schools.
"""

from __future__ import annotations

from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Email, InputRequired, Optional
from wtforms.widgets import CheckboxInput, ListWidget

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
from broker.models import (
    EMPLOYER_KINDS,
    ENCOUNTER_TYPES,
    EVIDENCE_KINDS,
    MAX_DAYS,
    MAX_HOURS_A_DAY,
    OFFER_DELIVERY,
    PROVIDER_TOPICS,
    SCHOOL_GENDERS,
    SEN_CODES,
    Employer,
    Offer,
)
from broker.services.offers import MAX_KM

#: Postcodes are typed with any spacing and stored normalised ("SW1A 1AA") in 10 characters.
POSTCODE_TYPED = 16
#: More pupils than any offer reaches (a national virtual talk included).
MAX_CAPACITY = 100_000


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice shown as checkboxes, easier on a phone than a multi-select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ProfileForm(Form):
    name = StringField("Organisation name",
                       validators=[DataRequired(), MaxLength(column_length(Employer.name))])
    kind = SelectField("Kind of organisation", choices=choices(EMPLOYER_KINDS))
    sector = StringField("Sector",
                         validators=[DataRequired(), MaxLength(column_length(Employer.sector))],
                         description="e.g. engineering, health and care, finance")
    postcode = StringField("Postcode", validators=[DataRequired(), MaxLength(POSTCODE_TYPED)])
    contact_name = StringField(
        "Contact name", validators=[Optional(), MaxLength(column_length(Employer.contact_name))]
    )
    contact_email = EmailField(
        "Contact email",
        validators=[Optional(), MaxLength(column_length(Employer.contact_email)), Email()],
    )
    contact_phone = StringField(
        "Contact phone", validators=[Optional(), MaxLength(column_length(Employer.contact_phone))]
    )
    website = StringField(
        "Website", validators=[Optional(), MaxLength(column_length(Employer.website)), URL()]
    )
    dbs_checked = BooleanField("Our volunteers who work with pupils are DBS-checked")
    dbs_renewal_on = DateField("DBS checks due for renewal on", validators=[Optional()],
                               description="Needed for mentoring offers.")
    insurance_expires_on = DateField(
        "Employers' liability insurance expires on", validators=[Optional()],
        description="Needed for workplace visits and work experience.",
    )
    risk_assessment_on = DateField(
        "Risk assessment for visits and work experience carried out on",
        validators=[Optional()],
        description="Valid for 12 months. Needed for workplace visits and work experience.",
    )


class OfferForm(Form):
    title = StringField("Title", validators=[DataRequired(), MaxLength(column_length(Offer.title))])
    description = TextAreaField("Description", validators=[Optional(), MaxLength(5000)])
    type = SelectField("Type of encounter", choices=choices(ENCOUNTER_TYPES))
    sector = StringField("Sector",
                         validators=[DataRequired(), MaxLength(column_length(Offer.sector))])
    stem = BooleanField("A STEM role or sector")
    challenges_stereotype = BooleanField("Our role models challenge a gender stereotype")
    stereotype_note = StringField(
        "Which stereotype",
        validators=[Optional(), MaxLength(column_length(Offer.stereotype_note))],
        description="e.g. female engineers, male nurses",
    )
    sen_support = MultiCheckboxField("SEN we can support", choices=choices(SEN_CODES))
    year_min = IntegerField("Youngest year group", validators=[InputRequired(), InRange(7, 13)],
                            description="7 to 13")
    year_max = IntegerField("Oldest year group", validators=[InputRequired(), InRange(7, 13)],
                            description="7 to 13")
    # Blank is one day of one hour, as offers were before durations were asked for.
    days = IntegerField(
        "Days", validators=[Optional(), InRange(1, MAX_DAYS)],
        description="How many days each pupil takes part: 5 for a week's placement.",
    )
    hours_a_day = DecimalField(
        "Hours a day", places=1, validators=[Optional(), InRange(0.5, int(MAX_HOURS_A_DAY))],
        description="Hours each pupil spends on it each day: about 6 for a placement, "
        "1 for a talk. Schools count hours towards the aim of 50 hours of work experience.",
    )
    provider_encounter = BooleanField(
        "A provider encounter (Provider Access Legislation)",
        description="For colleges, training and apprenticeship providers and universities: "
        "schools must give pupils in years 8-9 and 10-11 two of these each, by 28 February.",
    )
    provider_topics = MultiCheckboxField(
        "It covers (all four are needed)", choices=choices(PROVIDER_TOPICS, PROVIDER_TOPICS)
    )
    capacity = IntegerField("Capacity (pupils in total)",
                            validators=[InputRequired(), InRange(1, MAX_CAPACITY)])
    delivery = SelectField("Where it happens", choices=choices(OFFER_DELIVERY))
    max_km = DecimalField("How far it travels (km)", places=1,
                          validators=[InputRequired(), InRange(0, MAX_KM)],
                          description="How far you will travel, or pupils may come from.")
    audience = SelectField("Audience", choices=choices(SCHOOL_GENDERS, {
        "mixed": "Any pupils", "girls": "Girls only", "boys": "Boys only"}))
    earliest = DateField("Available from", validators=[InputRequired()])
    latest = DateField("Available until", validators=[InputRequired()])
    postcode = StringField("Postcode where it happens",
                           validators=[Optional(), MaxLength(POSTCODE_TYPED)],
                           description="Leave blank to use your organisation's postcode.")


class EvidenceForm(Form):
    """Upload a vetting document; the service checks its type and size."""

    kind = SelectField("Which document", choices=choices(EVIDENCE_KINDS, {
        "insurance": "Employers' liability insurance certificate",
        "risk_assessment": "Risk assessment",
    }))
    file = FileField(
        "File (PDF, PNG or JPEG)", validators=[FileRequired("Choose a file to upload.")]
    )
