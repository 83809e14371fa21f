"""Sign-ins, failed sign-ins and sign-outs go to the audit log, which admins read and filter
on a paginated page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from broker.extensions import db
from broker.models import AuditEntry
from broker.services import audit
from tests.conftest import PASSWORD
from tests.frozen import NOW, TODAY


def _entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
    )


def test_sign_ins_failures_and_sign_outs_are_audited(client, auth, make_user):
    user = make_user(role="admin", email="sam@example.org")
    auth.login(user, password="wrong password!")
    auth.login("nobody@example.org", password="wrong password!")
    auth.login(user)
    auth.logout()

    failed = _entries("auth.sign_in_failed")
    assert [(e.object_type, e.object_id, e.user_id) for e in failed] == [
        ("User", user.id, None),
        ("User", None, None),
    ]
    assert [e.details["email"] for e in failed] == ["sam@example.org", "nobody@example.org"]
    assert all(e.details["ip"] == "127.0.0.1" for e in failed)
    [signed_in] = _entries("auth.signed_in")
    [signed_out] = _entries("auth.signed_out")
    assert (signed_in.user_id, signed_in.object_id) == (user.id, user.id)
    assert (signed_out.user_id, signed_out.object_id) == (user.id, user.id)


def _log(action, obj_type, obj_id, by, at):
    entry = AuditEntry(
        action=action,
        object_type=obj_type,
        object_id=obj_id,
        user_id=by.id if by else None,
        details={},
        at=at,
    )
    db.session.add(entry)
    return entry


def test_admins_filter_the_audit_log(client, auth, make_user):
    admin = make_user(role="admin", email="admin@example.org")
    sam = make_user(role="coordinator", email="sam@example.org")
    _log("auth.signed_in", "User", sam.id, sam, NOW - timedelta(days=3))
    _log("auth.sign_in_failed", "User", sam.id, None, NOW - timedelta(days=2))
    _log("match.approved", "Match", 41, sam, NOW - timedelta(days=1))
    _log("match.approved", "Match", 42, admin, NOW)
    db.session.commit()
    auth.login(admin)  # itself logged: auth.signed_in by admin, now

    def shown(**args):
        query = audit.log_query(audit.AuditFilters.from_args(args))
        return [(e.action, e.object_id) for e, _ in db.session.execute(query)]

    assert shown(action="match.approved") == [("match.approved", 42), ("match.approved", 41)]
    assert shown(action="auth.") == [
        ("auth.signed_in", admin.id),
        ("auth.sign_in_failed", sam.id),
        ("auth.signed_in", sam.id),
    ]
    # A person: what they did, and what was done to their account (the failed sign-in).
    assert shown(user="SAM@") == [
        ("match.approved", 41),
        ("auth.sign_in_failed", sam.id),
        ("auth.signed_in", sam.id),
    ]
    assert shown(object_type="Match", object_id="41") == [("match.approved", 41)]
    from_day = (TODAY - timedelta(days=2)).isoformat()
    to_day = (TODAY - timedelta(days=1)).isoformat()
    assert shown(date_from=from_day, date_to=to_day) == [
        ("match.approved", 41),
        ("auth.sign_in_failed", sam.id),
    ]
    assert shown(object_id="not a number", date_from="31/02") == shown()

    page = client.get("/admin/audit", query_string={"action": "match.approved"})
    assert page.status_code == 200
    body = page.text
    assert "Match #42" in body and "Match #41" in body
    assert "<td>match.approved</td>" in body and "<td>auth.signed_in</td>" not in body
    assert "admin@example.org" in body and "sam@example.org" in body
    assert 'href="/admin/audit"' in client.get("/admin/").text


def test_the_audit_log_page_is_paginated(client, auth, make_user):
    admin = make_user(role="admin")
    for n in range(30):
        _log("offer.updated", "Offer", n, admin, NOW - timedelta(minutes=n))
    db.session.commit()
    auth.login(admin)
    first = client.get("/admin/audit", query_string={"action": "offer.updated"}).text
    assert "Offer #0<" in first and "Offer #29<" not in first
    assert "Page 1 of 2" in first
    second = client.get("/admin/audit", query_string={"action": "offer.updated", "page": 2}).text
    assert "Offer #29<" in second and "Offer #0<" not in second


def test_impossible_filters_are_ignored_not_a_500(client, auth, make_user):
    auth.login(make_user(role="admin"))
    for query in ({"object_id": str(2**63)}, {"date_to": "9999-12-31"},
                  {"date_from": "0001-01-01"}, {"page": str(2**63)}):
        assert client.get("/admin/audit", query_string=query).status_code == 200, query


def test_only_admins_read_the_audit_log(client, auth, make_user):
    auth.login(make_user(role="coordinator"))
    assert client.get("/admin/audit").status_code == 403
    auth.logout()
    assert client.get("/admin/audit").status_code == 302


def test_passwords_never_reach_the_audit_log(client, auth, make_user):
    user = make_user(role="admin")
    auth.login(user, password="a secret wrong guess")
    auth.login(user)
    for entry in db.session.scalars(select(AuditEntry)):
        text = str(entry.details)
        assert PASSWORD not in text and "a secret wrong guess" not in text
