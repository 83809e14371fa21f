"""Forms for school membership: inviting, refusing or removing, accepting an invitation."""

from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from broker.formutil import Form, MaxLength
from broker.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH


class InviteForm(Form):
    email = EmailField(
        "Email address of the person to invite",
        validators=[DataRequired(), Email(), MaxLength(254)],
        description="They get a link to choose a password; it works once.",
    )


class DecisionReasonForm(Form):
    reason = StringField("Reason (optional)", validators=[Optional(), MaxLength(300)])


class AcceptInvitationForm(Form):
    name = StringField("Your name", validators=[DataRequired(), MaxLength(120)])
    phone = StringField("Phone", validators=[Optional(), MaxLength(40)])
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD_LENGTH, max=MAX_PASSWORD_LENGTH),
            MaxLength(MAX_PASSWORD_LENGTH),
        ],
        description=f"At least {MIN_PASSWORD_LENGTH} characters, not your email address and "
        "not a common password.",
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[
            DataRequired(),
            MaxLength(MAX_PASSWORD_LENGTH),
            EqualTo("password", "The passwords differ."),
        ],
    )
