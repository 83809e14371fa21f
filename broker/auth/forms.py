"""Forms for accounts: signing in, registering, passwords, email and email preferences.

They check shape; the rules (password strength, who owns which address) live in
``broker.services.accounts``.
"""

from wtforms import (
    EmailField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional

from broker.formutil import Form, InRange, IntegerField, MaxLength, choices
from broker.models import EMPLOYER_KINDS
from broker.services.accounts import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

PASSWORD_HINT = (
    f"At least {MIN_PASSWORD_LENGTH} characters, not your email address and not a common "
    "password. A few unrelated words make a good one."
)


def _new_password(label: str = "Password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=MAX_PASSWORD_LENGTH,
                message=f"Choose a password of {MIN_PASSWORD_LENGTH} to "
                f"{MAX_PASSWORD_LENGTH} characters.",
            ),
            MaxLength(MAX_PASSWORD_LENGTH),
        ],
        description=PASSWORD_HINT,
    )


def _repeat(label: str = "Repeat password") -> PasswordField:
    return PasswordField(
        label, validators=[
            DataRequired(),
            MaxLength(MAX_PASSWORD_LENGTH),
            EqualTo("password", "The passwords differ."),
        ]
    )


class LoginForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Email(), MaxLength(254)])
    password = PasswordField("Password", validators=[DataRequired(), MaxLength(1000)])


class _NewLogin(Form):
    name = StringField("Your name", validators=[DataRequired(), MaxLength(120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), MaxLength(254)])
    phone = StringField("Phone", validators=[Optional(), MaxLength(40)])
    password = _new_password()
    confirm = _repeat()


class EmployerRegistrationForm(_NewLogin):
    organisation = StringField("Organisation", validators=[DataRequired(), MaxLength(200)])
    kind = SelectField("Kind of organisation", choices=choices(EMPLOYER_KINDS))
    sector = StringField(
        "Sector", validators=[DataRequired(), MaxLength(80)], description="e.g. engineering"
    )
    postcode = StringField("Postcode", validators=[DataRequired(), MaxLength(10)])


class SchoolRegistrationForm(_NewLogin):
    urn = IntegerField(
        "School URN",
        validators=[DataRequired(), InRange(100000, 999999)],
        description="Your school's six-digit unique reference number from GIAS.",
    )
    # Shown to whoever verifies that the person works at the school (issue 10).
    job_title = StringField(
        "Your role at the school",
        validators=[DataRequired(), MaxLength(120)],
        description="e.g. careers leader, deputy head",
    )
    evidence = TextAreaField(
        "Anything that helps us check you work there (optional)",
        validators=[Optional(), MaxLength(1000)],
        description="For example a page of the school's website that names you. Until a "
        "coordinator or a member of your school has checked, you see only a waiting page.",
    )


class ForgotPasswordForm(Form):
    email = EmailField("Email", validators=[DataRequired(), Email(), MaxLength(254)])


class ResetPasswordForm(Form):
    password = _new_password("New password")
    confirm = _repeat("Repeat the new password")


class ChangePasswordForm(Form):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), MaxLength(1000)]
    )
    password = _new_password("New password")
    confirm = _repeat("Repeat the new password")


class ChangeEmailForm(Form):
    email = EmailField(
        "New email address",
        validators=[DataRequired(), Email(), MaxLength(254)],
        description="We email a link to the new address; the change happens when you follow it.",
    )
    password = PasswordField("Current password", validators=[DataRequired(), MaxLength(1000)])


class EmailPreferencesForm(Form):
    """Which kinds of email to get; the view fills the choices for the person's role."""

    wanted = SelectMultipleField(
        "Email me about",
        choices=[],
        option_widget=widgets.CheckboxInput(),
        widget=widgets.ListWidget(prefix_label=False),
        validate_choice=True,
    )
