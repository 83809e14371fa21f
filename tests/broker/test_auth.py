"""Registration with a confirmed email address, sign-in, sign-out, role checks and CSRF.

Registration and sign-in answer the same whether or not an address has an account, and do
the same work (one password hash each way).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, Employer, User
from broker.services import accounts
from tests.broker.mail import link_in, queued
from tests.conftest import PASSWORD, csrf_token_from


def _post_form(client, url, data):
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def _employer_form(**overrides):
    data = {
        "organisation": "Severn Engineering",
        "kind": "business",
        "sector": "engineering",
        "postcode": "bs1 4dj",
        "name": "Asha Patel",
        "email": "Asha@Severn.example",
        "phone": "",
        "password": PASSWORD,
        "confirm": PASSWORD,
    }
    data.update(overrides)
    return data


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_employer_registers_confirms_email_then_signs_in(client, auth):
    response = _post_form(client, "/auth/register/employer", _employer_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/check-email?sent=confirm")
    user = db.session.scalar(select(User).where(User.email == "asha@severn.example"))
    assert user is not None and user.role == "employer" and not user.email_verified
    assert user.password_hash != PASSWORD and user.check_password(PASSWORD)
    employer = user.employer
    assert employer.name == "Severn Engineering"
    assert employer.postcode == "BS1 4DJ"
    assert 51.4 < employer.lat < 51.5 and -2.7 < employer.lon < -2.5
    assert db.session.scalar(select(AuditEntry.action)) == "employer.registered"
    # Not signed in yet, and signing in before confirming only sends the link again.
    assert client.get("/employer/").status_code == 302
    refused = auth.login("asha@severn.example")
    assert refused.status_code == 200 and "Confirm your email address first" in refused.text
    assert client.get("/employer/").status_code == 302

    [message] = queued("verify_email")
    assert message.to_email == "asha@severn.example"
    confirmed = client.get(link_in(message))
    assert confirmed.status_code == 302 and user.email_verified
    assert auth.login("asha@severn.example").status_code == 302
    page = client.get("/employer/")
    assert page.status_code == 200
    assert "Severn Engineering" in page.get_data(as_text=True)


def test_confirmation_link_is_signed_and_expires(client, make_user, frozen_clock, app):
    from datetime import timedelta

    user = make_user(role="admin", email_verified_at=None)
    token = accounts.link_token("verify", user)
    assert client.get(f"/auth/confirm/{token}x").status_code == 400
    assert client.get(f"/auth/confirm/{accounts.link_token('reset', user)}").status_code == 400
    frozen_clock.shift(timedelta(hours=app.config["VERIFY_LINK_HOURS"], seconds=1))
    response = client.get(f"/auth/confirm/{token}")
    assert response.status_code == 400 and "expired" in response.text
    assert not user.email_verified


def test_employer_registration_rejects_unknown_postcode_and_writes_nothing(client):
    response = _post_form(
        client,
        "/auth/register/employer",
        _employer_form(organisation="Nowhere Ltd", postcode="ZZ99 9ZZ", email="n@nowhere.example"),
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "ZZ99 9ZZ" in body or "ZZ99" in body
    assert _count(Employer) == 0
    assert _count(User) == 0


def test_employer_registration_rejects_malformed_postcode(client):
    response = _post_form(
        client,
        "/auth/register/employer",
        _employer_form(postcode="not a postcode", email="b@bad.example"),
    )
    assert response.status_code == 400
    assert "postcode" in response.get_data(as_text=True).lower()
    assert _count(User) == 0


def test_school_registers_by_urn_and_gets_its_details(client, make_school, auth):
    # An address at the school's own web domain is verified when it is confirmed (see
    # test_school_claims.py for everyone else).
    school = make_school(urn=137000, name="Hillside Academy", website="www.hillside.example")
    response = _post_form(
        client,
        "/auth/register/school",
        {
            "urn": "137000",
            "name": "Careers Lead",
            "email": "lead@hillside.example",
            "job_title": "Careers leader",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "lead@hillside.example"))
    assert user.school_id == school.id and user.school_status == "pending"
    client.get(link_in(queued("verify_email")[0]))
    assert user.school_status == "verified"
    assert school.careers_leader_email == "lead@hillside.example"
    auth.login(user)
    assert "Hillside Academy" in client.get("/school/").get_data(as_text=True)


def test_school_registration_with_unknown_urn_names_the_field(client):
    response = _post_form(
        client,
        "/auth/register/school",
        {
            "urn": "123456",
            "name": "X",
            "email": "x@x.example",
            "job_title": "Careers leader",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "No school with URN 123456" in response.get_data(as_text=True)
    assert _count(User) == 0


@pytest.fixture
def hashes(monkeypatch):
    """Count password hash computations (creating and checking) wherever they happen."""
    import werkzeug.security

    import broker.models

    calls: list[str] = []

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)

        return wrapper

    generate = counting("generate", werkzeug.security.generate_password_hash)
    check = counting("check", werkzeug.security.check_password_hash)
    monkeypatch.setattr(broker.models, "generate_password_hash", generate)
    monkeypatch.setattr(broker.models, "check_password_hash", check)
    monkeypatch.setattr(accounts, "generate_password_hash", generate)
    monkeypatch.setattr(accounts, "check_password_hash", check)
    accounts._dummy_hash()  # made once per process, before anything is counted
    return calls


def _page_without_token(response) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', response.get_data(as_text=True))


def test_registering_a_taken_email_answers_like_a_new_one_and_tells_the_owner(
    client, make_user, hashes
):
    owner = make_user(email="taken@example.org", role="admin")
    hashes.clear()
    new = _post_form(client, "/auth/register/employer", _employer_form(email="new@example.org"))
    new_work = list(hashes)
    hashes.clear()
    taken = _post_form(
        client,
        "/auth/register/employer",
        _employer_form(organisation="Dup", email="TAKEN@example.org"),
    )
    assert (taken.status_code, taken.headers["Location"]) == (
        new.status_code,
        new.headers["Location"],
    )
    assert hashes == new_work == ["generate"]
    assert _count(Employer) == 1  # the new one only: nothing was made for the taken address
    assert [m.to_email for m in queued("verify_email")] == ["new@example.org"]
    [notice] = queued("account_exists")
    assert notice.to_email == owner.email and "already has an" in notice.body_text


def test_password_rules_are_enforced_at_registration(client):
    email = "asha.patel.works@severn.example"
    for password, message in [
        ("short", "Choose a password of 10 to 200 characters."),
        (email.upper(), "Choose a password that is not your email address."),
        ("Asha.Patel.Works", "Choose a password that is not your email address."),
        ("qwertyuiop", "This password is one of the most common ones"),
    ]:
        response = _post_form(
            client,
            "/auth/register/employer",
            _employer_form(email=email, password=password, confirm=password),
        )
        assert response.status_code == 400, password
        assert message in response.get_data(as_text=True), password
    assert _count(User) == 0


def test_login_logout_and_wrong_password(client, auth, make_user):
    user = make_user(role="admin", email="admin@example.org")
    bad = auth.login(user, password="wrong password!")
    assert bad.status_code == 200 and "not recognised" in bad.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302  # still signed out
    good = auth.login(user)
    assert good.status_code == 302
    assert client.get("/admin/").status_code == 200
    assert user.last_login_at is not None
    auth.logout()
    assert client.get("/admin/").status_code == 302


def test_sign_in_answers_the_same_and_hashes_once_for_known_and_unknown_emails(
    client, auth, make_user, hashes
):
    known = make_user(role="admin", email="known@example.org")
    make_user(role="admin", email="gone@example.org", active=False)
    answers = {}
    for email, password in [
        ("known@example.org", "wrong password!"),
        ("nobody@example.org", "wrong password!"),
        ("gone@example.org", PASSWORD),
    ]:
        hashes.clear()
        response = auth.login(email, password)
        assert hashes == ["check"], email
        answers[email] = (response.status_code, _page_without_token(response))
    assert len(set(answers.values())) == 1
    assert client.get("/admin/").status_code == 302
    hashes.clear()
    assert auth.login(known).status_code == 302 and hashes == ["check"]


def test_login_refuses_inactive_user(client, auth, make_user):
    user = make_user(role="admin", active=False)
    auth.login(user)
    assert client.get("/admin/").status_code == 302


def test_login_next_must_be_local(client, make_user):
    user = make_user(role="admin")
    page = client.get("/auth/login")
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(
        "/auth/login?next=https://evil.example/",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert "evil.example" not in response.headers["Location"]


def test_post_without_csrf_token_is_rejected(client, make_user):
    user = make_user(role="admin")
    response = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_roles_cannot_open_other_blueprints(client, auth, make_user, make_employer, make_school):
    employer_user = make_user(role="employer", employer_id=make_employer().id)
    auth.login(employer_user)
    assert client.get("/employer/").status_code == 200
    for url in ("/school/", "/coordinator/", "/admin/", "/admin/users", "/admin/audit"):
        assert client.get(url).status_code == 403, url
    auth.logout()
    school_user = make_user(role="school", school_id=make_school().id)
    auth.login(school_user)
    assert client.get("/school/").status_code == 200
    for url in ("/employer/", "/coordinator/", "/admin/"):
        assert client.get(url).status_code == 403, url


def test_anonymous_is_sent_to_login(client):
    for url in ("/employer/", "/school/", "/coordinator/", "/admin/", "/auth/account"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]


def test_session_cookie_is_http_only(client, auth, make_user):
    response = auth.login(make_user(role="admin"))
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
