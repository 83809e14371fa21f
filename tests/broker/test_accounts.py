"""Accounts as people expect: password rules, reset by email, change of password and of
email address, and email preferences that the outbox honours."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import AuditEntry, User
from broker.services import accounts
from broker.services.errors import ServiceError
from broker.services.notify import ACCOUNT_TEMPLATES, EMAIL_KINDS, notify
from tests.broker.mail import link_in, queued
from tests.conftest import PASSWORD, AuthActions, csrf_token_from

NEW_PASSWORD = "lighthouse marmalade tandem"


def _post(client, page: str, url: str, data: dict):
    token = csrf_token_from(client.get(page).text)
    return client.post(url, data={**data, "csrf_token": token})


# --------------------------------------------------------------------------- password rules
def test_the_common_password_list_ships_with_the_package():
    listed = accounts.common_passwords()
    assert len(listed) > 19000
    assert {"password", "qwertyuiop", "1234567890"} <= listed
    readme = (Path(accounts.COMMON_PASSWORDS).parent / "README.md").read_text()
    assert "common_passwords.txt.gz" in readme and "BSD" in readme


@pytest.mark.parametrize(
    ("password", "email", "message"),
    [
        ("short", "a@b.example", "at least 10 characters"),
        ("x" * 201, "a@b.example", "at most 200 characters"),
        ("Sam.Taylor@School.example", "sam.taylor@school.example", "not your email address"),
        ("sam.taylor1", "sam.taylor1@school.example", "not your email address"),
        ("Password123", "a@b.example", "most common"),
        ("  1234567890 ", "a@b.example", "most common"),
    ],
)
def test_password_rules_refuse(app, password, email, message):
    with pytest.raises(ServiceError) as refused:
        accounts.check_password_rules(password, email)
    assert message in refused.value.message and refused.value.field == "password"


def test_password_rules_accept_a_good_password(app):
    accounts.check_password_rules(NEW_PASSWORD, "sam.taylor@school.example")


def test_admins_cannot_create_staff_with_a_common_password(app):
    with pytest.raises(ServiceError, match="most common"):
        accounts.create_user(email="c@example.org", name="C", role="admin", password="qwertyuiop")


# --------------------------------------------------------------------------- password reset
def test_password_reset_by_emailed_single_use_link(client, auth, make_user):
    user = make_user(role="admin", email="sam@example.org")
    response = _post(client, "/auth/forgot", "/auth/forgot", {"email": "Sam@Example.org"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/check-email?sent=reset")
    [message] = queued("password_reset", to="sam@example.org")
    link = link_in(message)

    page = client.get(link)
    assert page.status_code == 200 and "Choose a new password" in page.text
    weak = client.post(
        link,
        data={
            "csrf_token": csrf_token_from(page.text),
            "password": "qwertyuiop",
            "confirm": "qwertyuiop",
        },
    )
    assert weak.status_code == 400 and "most common" in weak.text
    done = client.post(
        link,
        data={
            "csrf_token": csrf_token_from(page.text),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/auth/login")
    assert queued("password_changed", to="sam@example.org")

    # The link works once.
    again = client.get(link)
    assert again.status_code == 400 and "already been used" in again.text
    assert auth.login(user).status_code == 200  # the old password no longer works
    assert auth.login(user, NEW_PASSWORD).status_code == 302
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"user.password_reset_requested", "user.password_reset"} <= actions


def test_a_reset_link_expires(client, make_user, frozen_clock, app):
    make_user(role="admin", email="sam@example.org")
    _post(client, "/auth/forgot", "/auth/forgot", {"email": "sam@example.org"})
    link = link_in(queued("password_reset")[0])
    frozen_clock.shift(timedelta(minutes=app.config["RESET_LINK_MINUTES"] - 1))
    assert client.get(link).status_code == 200
    frozen_clock.shift(timedelta(minutes=2))
    assert client.get(link).status_code == 400


def _reset_with_link(client, email: str) -> None:
    accounts.request_password_reset(email, ip=None)
    link = link_in(queued("password_reset", to=email)[-1])
    page = client.get(link)
    done = client.post(
        link,
        data={
            "csrf_token": csrf_token_from(page.text),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert done.status_code == 302


def test_a_reset_ends_every_session(app, make_user):
    user = make_user(role="admin", email="sam@example.org")
    signed_in = app.test_client()
    AuthActions(signed_in).login(user)
    assert signed_in.get("/admin/").status_code == 200
    _reset_with_link(app.test_client(), "sam@example.org")
    assert signed_in.get("/admin/").status_code == 302


def test_a_reset_confirms_an_unconfirmed_address(client, auth, make_user):
    user = make_user(role="admin", email="sam@example.org", email_verified_at=None)
    _reset_with_link(client, "sam@example.org")
    assert user.email_verified
    assert auth.login(user, NEW_PASSWORD).status_code == 302


def test_a_reset_for_an_unknown_address_answers_the_same_and_says_so_by_email(client, make_user):
    make_user(role="admin", email="known@example.org")
    known = _post(client, "/auth/forgot", "/auth/forgot", {"email": "known@example.org"})
    unknown = _post(client, "/auth/forgot", "/auth/forgot", {"email": "nobody@example.org"})
    assert (known.status_code, known.headers["Location"]) == (
        unknown.status_code,
        unknown.headers["Location"],
    )
    assert [m.to_email for m in queued("password_reset")] == ["known@example.org"]
    [notice] = queued("password_reset_no_account")
    assert notice.to_email == "nobody@example.org" and "/auth/reset/" not in notice.body_text


# --------------------------------------------------------------------------- change password
def test_changing_the_password_needs_the_current_one(client, auth, make_user):
    user = make_user(role="admin")
    auth.login(user)
    wrong = _post(
        client,
        "/auth/account",
        "/auth/account/password",
        {"current_password": "not my password", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    assert user.check_password(PASSWORD)
    done = _post(
        client,
        "/auth/account",
        "/auth/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert user.check_password(NEW_PASSWORD)
    [notice] = queued("password_changed")
    assert notice.to_email == user.email
    assert (
        db.session.scalar(
            select(AuditEntry).where(AuditEntry.action == "user.password_changed")
        ).user_id
        == user.id
    )


# --------------------------------------------------------------------------- change email
@pytest.fixture
def lead(make_user, make_school):
    school = make_school(careers_leader_email="lead@hillside.example")
    return make_user(role="school", school_id=school.id, email="lead@hillside.example")


def test_changing_the_email_address_is_confirmed_at_the_new_one(client, auth, lead, app):
    auth.login(lead)
    wrong = _post(
        client,
        "/auth/account",
        "/auth/account/email",
        {"email": "sam@newmail.example", "password": "not my password"},
    )
    assert wrong.status_code == 400 and "not your current password" in wrong.text
    asked = _post(
        client,
        "/auth/account",
        "/auth/account/email",
        {"email": "Sam@NewMail.example", "password": PASSWORD},
    )
    assert asked.status_code == 302
    assert lead.email == "lead@hillside.example"  # nothing changes yet
    [told] = queued("email_change_requested")
    assert told.to_email == "lead@hillside.example" and "sam@newmail.example" in told.body_text
    [confirm] = queued("email_change_verify")
    assert confirm.to_email == "sam@newmail.example"

    link = link_in(confirm)
    anyone = app.test_client()  # the link works wherever the new mailbox is read
    assert anyone.get(link).status_code == 302
    assert lead.email == "sam@newmail.example" and lead.email_verified
    assert lead.school.careers_leader_email == "sam@newmail.example"
    [changed] = queued("email_changed")
    assert changed.to_email == "lead@hillside.example"
    assert anyone.get(link).status_code == 400  # once only
    auth.logout()
    assert auth.login("sam@newmail.example").status_code == 302


def test_moving_to_a_taken_address_answers_the_same_and_tells_that_address(
    client, auth, lead, make_user
):
    make_user(role="admin", email="taken@example.org")
    auth.login(lead)
    response = _post(
        client,
        "/auth/account",
        "/auth/account/email",
        {"email": "taken@example.org", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert "We have emailed a link to taken@example.org" in client.get("/auth/account").text
    assert queued("email_change_verify") == []
    [notice] = queued("email_change_taken")
    assert notice.to_email == "taken@example.org"
    assert lead.email == "lead@hillside.example"


def test_a_password_change_cancels_a_pending_email_change(client, auth, lead):
    auth.login(lead)
    _post(
        client,
        "/auth/account",
        "/auth/account/email",
        {"email": "sam@newmail.example", "password": PASSWORD},
    )
    link = link_in(queued("email_change_verify")[0])
    _post(
        client,
        "/auth/account",
        "/auth/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert client.get(link).status_code == 400
    assert lead.email == "lead@hillside.example"


# --------------------------------------------------------------------------- preferences
def test_every_email_template_is_account_mail_or_a_kind_people_can_turn_off():
    templates = Path(__file__).resolve().parents[2] / "templates" / "email"
    names = {p.stem for p in templates.glob("*.txt") if not p.stem.startswith("_")}
    kinds = {t for kind in EMAIL_KINDS.values() for t in kind.templates}
    assert not kinds & ACCOUNT_TEMPLATES
    assert names == kinds | ACCOUNT_TEMPLATES


def test_email_preferences_are_saved_and_honoured(client, auth, lead, approved_match_for):
    match = approved_match_for(lead.school)
    auth.login(lead)
    page = client.get("/auth/account")
    assert "Updates on your matches" in page.text and "nightly summary" not in page.text
    response = client.post(
        "/auth/account/notifications",
        data={"csrf_token": csrf_token_from(page.text), "wanted": ["reminders"]},
    )
    assert response.status_code == 302
    assert lead.email_opt_outs == ["match_updates"]

    assert notify(lead, "match_approved", subject="s", dedupe_key="k1", match=match) is None
    assert notify(
        lead,
        "confirm_reminder",
        subject="s",
        dedupe_key="k2",
        match=match,
        starts_on=match.request.earliest,
    )
    # Account mail always goes.
    accounts.request_password_reset(lead.email, ip=None)
    assert queued("password_reset", to=lead.email)

    page = client.get("/auth/account")
    response = client.post(
        "/auth/account/notifications",
        data={"csrf_token": csrf_token_from(page.text), "wanted": ["match_updates", "reminders"]},
    )
    assert lead.email_opt_outs == []
    assert notify(lead, "match_approved", subject="s", dedupe_key="k3", match=match)


def test_a_coordinator_can_turn_off_the_nightly_summary_only(client, auth, make_user):
    coordinator = make_user(role="coordinator")
    auth.login(coordinator)
    page = client.get("/auth/account")
    assert "nightly summary" in page.text and "Updates on your matches" not in page.text
    refused = client.post(
        "/auth/account/notifications",
        data={"csrf_token": csrf_token_from(page.text), "wanted": ["match_updates"]},
    )
    assert refused.status_code == 400
    client.post("/auth/account/notifications", data={"csrf_token": csrf_token_from(page.text)})
    assert coordinator.email_opt_outs == ["run_summary"]


def test_unconfirmed_addresses_get_account_mail_only(
    app, make_user, approved_match_for, make_school
):
    school = make_school()
    person = make_user(role="school", school_id=school.id, email_verified_at=None)
    match = approved_match_for(school)
    assert notify(person, "match_approved", subject="s", dedupe_key="k", match=match) is None
    accounts.send_confirmation(person)
    assert queued("verify_email", to=person.email)


@pytest.fixture
def approved_match_for(make_match, make_request, make_offer):
    def make(school):
        return make_match(
            request=make_request(school=school), offer=make_offer(), status="approved"
        )

    return make


def test_the_account_page_is_linked_from_every_signed_in_page(client, auth, make_user):
    auth.login(make_user(role="admin"))
    assert 'href="/auth/account"' in client.get("/admin/").text


def test_staff_made_by_an_admin_count_as_confirmed(app):
    # Made by an admin or at the command line: the admin vouches for the address.
    user = accounts.create_user(
        email="c@example.org", name="C", role="admin", password=NEW_PASSWORD
    )
    assert user.email_verified
    assert db.session.scalar(select(User.session_version).where(User.id == user.id)) == 0
