"""Forms for admins."""

from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length

from broker.formutil import Form, MaxLength, choices, column_length
from broker.models import User
from broker.services.accounts import MIN_PASSWORD_LENGTH


class StaffUserForm(Form):
    name = StringField("Name", validators=[DataRequired(), MaxLength(column_length(User.name))])
    email = EmailField(
        "Email", validators=[DataRequired(), MaxLength(column_length(User.email)), Email()]
    )
    role = SelectField("Role", choices=choices(["coordinator", "admin"]))
    areas = SelectMultipleField("Areas", coerce=int)
    password = PasswordField(
        "Initial password",
        # Only its hash is stored; the limit keeps hashing a posted novel off the server.
        validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH), MaxLength(200)],
    )


class SchoolsImportForm(Form):
    file = FileField(
        "Schools CSV",
        validators=[FileRequired(), FileAllowed(["csv"], "Upload a .csv file.")],
        description="A GIAS extract (edubasealldata*.csv) or a file in the shipped format.",
    )
