"""Forms for signing in and registering; they check shape, services enforce rules."""

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional

from broker.formutil import choices
from broker.models import EMPLOYER_KINDS
from broker.services.accounts import MIN_PASSWORD_LENGTH


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired()])


class _NewLogin(FlaskForm):
    name = StringField("Your name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=200)]
    )
    confirm = PasswordField(
        "Repeat password", validators=[DataRequired(), EqualTo("password", "Passwords differ.")]
    )


class EmployerRegistrationForm(_NewLogin):
    organisation = StringField("Organisation", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind of organisation", choices=choices(EMPLOYER_KINDS))
    sector = StringField(
        "Sector", validators=[DataRequired(), Length(max=80)], description="e.g. engineering"
    )
    postcode = StringField("Postcode", validators=[DataRequired(), Length(max=10)])


class SchoolRegistrationForm(_NewLogin):
    urn = IntegerField(
        "School URN",
        validators=[DataRequired(), NumberRange(min=100000, max=999999)],
        description="Your school's six-digit unique reference number from GIAS.",
    )
