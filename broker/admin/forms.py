"""Forms for admins."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length

from broker.formutil import choices
from broker.services.accounts import MIN_PASSWORD_LENGTH


class StaffUserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField("Role", choices=choices(["coordinator", "admin"]))
    areas = SelectMultipleField("Areas", coerce=int)
    password = PasswordField(
        "Initial password", validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH)]
    )


class SchoolsImportForm(FlaskForm):
    file = FileField(
        "Schools CSV",
        validators=[FileRequired(), FileAllowed(["csv"], "Upload a .csv file.")],
        description="A GIAS extract (edubasealldata*.csv) or a file in the shipped format.",
    )


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that change state."""
