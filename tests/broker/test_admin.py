"""Admin pages: users, areas, school imports."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import func, select

from broker.extensions import db
from broker.models import AuditEntry, School, User
from tests.conftest import PASSWORD, csrf_token_from

SAMPLE = Path(__file__).parent / "data" / "gias_sample.csv"


def test_admin_creates_a_coordinator_scoped_to_areas(client, auth, make_user, make_area):
    admin = make_user(role="admin")
    camden = make_area(name="Camden")
    auth.login(admin)
    page = client.get("/admin/users/new")
    token = csrf_token_from(page.get_data(as_text=True))
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": token,
            "name": "Coord",
            "email": "coord@example.org",
            "role": "coordinator",
            "areas": [str(camden.id)],
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302
    coordinator = db.session.scalar(select(User).where(User.email == "coord@example.org"))
    assert coordinator.role == "coordinator"
    assert [a.name for a in coordinator.areas] == ["Camden"]
    listing = client.get("/admin/users?role=coordinator").get_data(as_text=True)
    assert "coord@example.org" in listing and admin.email not in listing


def test_admin_deactivates_a_user_who_then_cannot_sign_in(client, auth, make_user):
    admin = make_user(role="admin")
    other = make_user(role="admin", email="other@example.org")
    auth.login(admin)
    token = csrf_token_from(client.get("/admin/users").get_data(as_text=True))
    response = client.post(f"/admin/users/{other.id}/active", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, other.id).active is False
    # Admins cannot lock themselves out.
    client.post(f"/admin/users/{admin.id}/active", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(User, admin.id).active is True
    auth.logout()
    auth.login(other)
    assert client.get("/admin/").status_code == 302


def test_admin_imports_schools_from_an_upload(client, auth, make_user):
    auth.login(make_user(role="admin"))
    token = csrf_token_from(client.get("/admin/import").get_data(as_text=True))
    response = client.post(
        "/admin/import",
        data={"csrf_token": token, "file": (io.BytesIO(SAMPLE.read_bytes()), "edubase.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "created" in body and "rows skipped" in body
    assert db.session.scalar(select(func.count()).select_from(School)) > 0
    last = db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()))
    assert last == "schools.imported"  # after the sign-in's own entry
    areas = client.get("/admin/areas").get_data(as_text=True)
    assert "Camden" in areas


def test_admin_import_rejects_a_file_of_the_wrong_shape(client, auth, make_user):
    auth.login(make_user(role="admin"))
    token = csrf_token_from(client.get("/admin/import").get_data(as_text=True))
    response = client.post(
        "/admin/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"a,b\n1,2\n"), "wrong.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "lacks URN" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(School)) == 0


def test_admin_pages_are_closed_to_coordinators(client, auth, make_user):
    auth.login(make_user(role="coordinator"))
    for url in ("/admin/", "/admin/users", "/admin/areas", "/admin/import"):
        assert client.get(url).status_code == 403, url
