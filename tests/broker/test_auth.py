"""Registration, login, logout, role checks and CSRF."""

from __future__ import annotations

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, Employer, User
from tests.conftest import PASSWORD, csrf_token_from


def _post_form(client, url, data):
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def test_employer_registers_and_lands_on_dashboard(client):
    response = _post_form(
        client,
        "/auth/register/employer",
        {
            "organisation": "Severn Engineering",
            "kind": "business",
            "sector": "engineering",
            "postcode": "bs1 4dj",
            "name": "Asha Patel",
            "email": "Asha@Severn.example",
            "phone": "",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "asha@severn.example"))
    assert user is not None and user.role == "employer"
    assert user.password_hash != PASSWORD and user.check_password(PASSWORD)
    employer = user.employer
    assert employer.name == "Severn Engineering"
    assert employer.postcode == "BS1 4DJ"
    assert 51.4 < employer.lat < 51.5 and -2.7 < employer.lon < -2.5
    assert db.session.scalar(select(AuditEntry.action)) == "employer.registered"
    page = client.get("/employer/")
    assert page.status_code == 200
    assert "Severn Engineering" in page.get_data(as_text=True)


def test_employer_registration_rejects_unknown_postcode_and_writes_nothing(client):
    response = _post_form(
        client,
        "/auth/register/employer",
        {
            "organisation": "Nowhere Ltd",
            "kind": "business",
            "sector": "retail",
            "postcode": "ZZ99 9ZZ",
            "name": "N",
            "email": "n@nowhere.example",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "ZZ99 9ZZ" in body or "ZZ99" in body
    assert db.session.scalar(select(func.count()).select_from(Employer)) == 0
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_employer_registration_rejects_malformed_postcode(client):
    response = _post_form(
        client,
        "/auth/register/employer",
        {
            "organisation": "Bad Postcode Ltd",
            "kind": "business",
            "sector": "retail",
            "postcode": "not a postcode",
            "name": "N",
            "email": "b@bad.example",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "postcode" in response.get_data(as_text=True).lower()
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_school_registers_by_urn_and_gets_its_details(client, make_school):
    school = make_school(urn=137000, name="Hillside Academy")
    response = _post_form(
        client,
        "/auth/register/school",
        {
            "urn": "137000",
            "name": "Careers Lead",
            "email": "lead@hillside.example",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "lead@hillside.example"))
    assert user.school_id == school.id
    assert school.careers_leader_email == "lead@hillside.example"
    assert "Hillside Academy" in client.get("/school/").get_data(as_text=True)


def test_school_registration_with_unknown_urn_names_the_field(client):
    response = _post_form(
        client,
        "/auth/register/school",
        {
            "urn": "123456",
            "name": "X",
            "email": "x@x.example",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "No school with URN 123456" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_duplicate_email_and_short_password_are_refused(client, make_user):
    make_user(email="taken@example.org")
    response = _post_form(
        client,
        "/auth/register/employer",
        {
            "organisation": "Dup",
            "kind": "business",
            "sector": "retail",
            "postcode": "SW1A 1AA",
            "name": "D",
            "email": "TAKEN@example.org",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)
    response = _post_form(
        client,
        "/auth/register/employer",
        {
            "organisation": "Short",
            "kind": "business",
            "sector": "retail",
            "postcode": "SW1A 1AA",
            "name": "S",
            "email": "s@example.org",
            "password": "short",
            "confirm": "short",
        },
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


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
    for url in ("/school/", "/coordinator/", "/admin/", "/admin/users"):
        assert client.get(url).status_code == 403, url
    auth.logout()
    school_user = make_user(role="school", school_id=make_school().id)
    auth.login(school_user)
    assert client.get("/school/").status_code == 200
    for url in ("/employer/", "/coordinator/", "/admin/"):
        assert client.get(url).status_code == 403, url


def test_anonymous_is_sent_to_login(client):
    for url in ("/employer/", "/school/", "/coordinator/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/auth/login" in response.headers["Location"]


def test_session_cookie_is_http_only(client, auth, make_user):
    response = auth.login(make_user(role="admin"))
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
