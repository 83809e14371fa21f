"""Sessions that end: sign-out, a password change and deactivation end every session of the
user, an idle session is signed out, and the CSRF token changes at sign-in.

Flask keeps the session in a signed cookie; these tests replay old cookies, as someone who
copied one would, and check that the server no longer honours them.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import PASSWORD, AuthActions, csrf_token_from


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _replay(client, value: str) -> None:
    client.set_cookie("session", value, domain="localhost")


@pytest.fixture
def accepted_match(make_school, make_employer, make_offer, make_request, make_match):
    school = make_school(name="Hillside Academy")
    employer = make_employer(
        name="Severn Engineering",
        contact_email="asha@severn.example",
        contact_phone="0117 496 0000",
    )
    match = make_match(
        offer=make_offer(employer=employer),
        request=make_request(school=school),
        status="accepted",
        school_response="accepted",
        employer_response="accepted",
    )
    return match, school


def test_old_cookie_no_longer_opens_a_match_page_with_contacts_after_sign_out(
    client, auth, make_user, accepted_match
):
    match, school = accepted_match
    user = make_user(role="school", school_id=school.id)
    auth.login(user)
    page = client.get(f"/school/matches/{match.id}")
    assert page.status_code == 200 and "asha@severn.example" in page.text
    copied = _session_cookie(client)

    auth.logout()
    _replay(client, copied)
    replayed = client.get(f"/school/matches/{match.id}")
    assert replayed.status_code == 302
    assert "/auth/login" in replayed.headers["Location"]
    assert "asha@severn.example" not in replayed.text
    # Nor later on, when the old cookie would still have been within its lifetime.
    assert (
        "asha@severn.example"
        not in client.get(f"/school/matches/{match.id}", follow_redirects=True).text
    )


def test_signing_out_ends_the_users_sessions_on_every_device(app, make_user):
    user = make_user(role="admin")
    laptop, phone = app.test_client(), app.test_client()
    AuthActions(laptop).login(user)
    AuthActions(phone).login(user)
    assert phone.get("/admin/").status_code == 200
    AuthActions(laptop).logout()
    assert phone.get("/admin/").status_code == 302


def test_a_password_change_ends_other_sessions_but_keeps_this_one(app, make_user):
    user = make_user(role="admin")
    here, elsewhere = app.test_client(), app.test_client()
    AuthActions(here).login(user)
    AuthActions(elsewhere).login(user)
    copied = _session_cookie(here)
    token = csrf_token_from(here.get("/auth/account").text)
    new = "a brand new passphrase"
    response = here.post(
        "/auth/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "password": new,
            "confirm": new,
        },
    )
    assert response.status_code == 302
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 302
    _replay(here, copied)
    assert here.get("/admin/").status_code == 302


def test_deactivation_ends_the_users_sessions(app, make_user, make_employer):
    admin = make_user(role="admin")
    person = make_user(role="employer", employer_id=make_employer().id)
    theirs, admins = app.test_client(), app.test_client()
    AuthActions(theirs).login(person)
    assert theirs.get("/employer/").status_code == 200
    AuthActions(admins).login(admin)
    token = csrf_token_from(admins.get("/admin/users").text)
    admins.post(f"/admin/users/{person.id}/active", data={"csrf_token": token})
    assert not person.active
    assert theirs.get("/employer/").status_code == 302
    # Reactivating does not bring the old session back.
    token = csrf_token_from(admins.get("/admin/users").text)
    admins.post(f"/admin/users/{person.id}/active", data={"csrf_token": token})
    assert person.active
    assert theirs.get("/employer/").status_code == 302


def test_an_idle_session_is_signed_out(client, auth, make_user, frozen_clock, app):
    user = make_user(role="admin")
    auth.login(user)
    idle = timedelta(minutes=app.config["IDLE_TIMEOUT_MINUTES"])
    # Activity keeps the session going past the timeout counted from sign-in...
    frozen_clock.shift(idle - timedelta(minutes=5))
    assert client.get("/admin/").status_code == 200
    frozen_clock.shift(idle - timedelta(minutes=5))
    assert client.get("/admin/").status_code == 200
    # ...but not a pause longer than it.
    copied = _session_cookie(client)
    frozen_clock.shift(idle + timedelta(minutes=1))
    response = client.get("/admin/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert "without activity" in client.get(response.headers["Location"]).text
    _replay(client, copied)
    assert client.get("/admin/").status_code == 302


def test_the_csrf_token_changes_at_sign_in(client, make_user):
    user = make_user(role="admin")
    before = csrf_token_from(client.get("/auth/login").text)
    response = client.post(
        "/auth/login", data={"email": user.email, "password": PASSWORD, "csrf_token": before}
    )
    assert response.status_code == 302
    after = csrf_token_from(client.get("/admin/users").text)
    assert after and after != before
    # A token from before signing in no longer works for a signed-in action.
    refused = client.post(f"/admin/users/{user.id}/active", data={"csrf_token": before})
    assert refused.status_code == 400
    assert user.active


def test_a_cookie_from_before_session_versions_does_not_sign_in(client, auth, make_user):
    user = make_user(role="admin")
    auth.login(user)
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)  # as cookies were written before versions
    assert client.get("/admin/").status_code == 302
