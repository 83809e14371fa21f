"""Forms for admins."""

from flask_wtf import FlaskForm
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
