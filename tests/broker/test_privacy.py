"""Privacy (issue 10): an organisation downloads its own data, an admin erases a person or an
organisation (personal data gone, counts and the audit trail kept), the outbox's text is
purged after OUTBOX_RETENTION_DAYS, and a public privacy notice.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from broker.extensions import db
from broker.models import (
    AuditEntry,
    Employer,
    Encounter,
    Feedback,
    Match,
    OutboxMessage,
    School,
    SchoolYearGroup,
    User,
)
from broker.services import audit
from jobs import tasks
from jobs.registry import JOBS
from tests.conftest import csrf_token_from
from tests.frozen import NOW, at, days


@pytest.fixture
def two(make_school, make_employer, make_user, make_request, make_offer, make_match):
    """Two employers and two schools, each with a person, an offer or request and a match."""
    sides = {}
    for tag in ("a", "b"):
        school = make_school(
            name=f"School {tag.upper()}",
            careers_leader_name=f"Leader {tag}",
            careers_leader_email=f"leader-{tag}@school.example",
            careers_leader_phone="01234 567890",
        )
        db.session.add(SchoolYearGroup(school=school, year_group=9, pupils=180))
        employer = make_employer(
            name=f"Employer {tag.upper()}",
            contact_name=f"Contact {tag}",
            contact_email=f"contact-{tag}@employer.example",
            contact_phone="07700 900000",
        )
        offer = make_offer(employer=employer, title=f"Talk by {tag.upper()}")
        request = make_request(school=school, notes=f"Notes of {tag}")
        match = make_match(request=request, offer=offer, status="delivered")
        encounter = Encounter(match=match, delivered_on=days(-3), pupils_reached=20)
        db.session.add(encounter)
        school_user = make_user(
            role="school",
            school_id=school.id,
            email=f"s-{tag}@x.example",
            name=f"School person {tag}",
        )
        employer_user = make_user(
            role="employer",
            employer_id=employer.id,
            email=f"e-{tag}@x.example",
            name=f"Employer person {tag}",
        )
        db.session.add(encounter)
        db.session.add(
            Feedback(
                encounter=encounter,
                by_role="employer",
                rating=5,
                comment=f"Great, thanks Ms {tag}",
                by_id=employer_user.id,
            )
        )
        audit.record("offer.created", offer, by=employer_user, ip="192.0.2.1")
        audit.record(
            "auth.sign_in_failed",
            employer_user,
            by=None,
            email=employer_user.email,
            ip="192.0.2.7",
            reason="credentials",
        )
        db.session.commit()
        sides[tag] = {
            "school": school,
            "employer": employer,
            "offer": offer,
            "request": request,
            "match": match,
            "school_user": school_user,
            "employer_user": employer_user,
        }
    return sides


def _export(client, auth, user) -> dict:
    auth.login(user)
    response = client.get("/auth/account/organisation-data")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    return json.loads(response.get_data(as_text=True))


# --- download -------------------------------------------------------------------------------


def test_an_employer_downloads_its_own_data_only(client, auth, two):
    data = _export(client, auth, two["a"]["employer_user"])
    text = json.dumps(data)
    assert data["organisation"]["name"] == "Employer A"
    assert data["organisation"]["contact_email"] == "contact-a@employer.example"
    assert [p["email"] for p in data["people"]] == ["e-a@x.example"]
    assert [o["title"] for o in data["offers"]] == ["Talk by A"]
    assert [m["id"] for m in data["matches"]] == [two["a"]["match"].id]
    assert data["matches"][0]["encounter"]["pupils_reached"] == 20
    assert data["matches"][0]["encounter"]["feedback"][0]["comment"] == "Great, thanks Ms a"
    assert {a["action"] for a in data["audit"]} >= {"offer.created", "auth.sign_in_failed"}
    # The other organisations: nothing of B; of the school on the other side, only its name.
    for other in (
        "Employer B",
        "e-b@x.example",
        "Talk by B",
        "s-a@x.example",
        "Leader a",
        "School B",
        "Notes of a",
    ):
        assert other not in text, other


def test_a_school_downloads_its_own_data_only(client, auth, two):
    data = _export(client, auth, two["b"]["school_user"])
    text = json.dumps(data)
    assert data["organisation"]["careers_leader_email"] == "leader-b@school.example"
    assert data["year_groups"] == [{"year_group": 9, "pupils": 180}]
    assert [r["notes"] for r in data["requests"]] == ["Notes of b"]
    assert [p["email"] for p in data["people"]] == ["s-b@x.example"]
    for other in ("School A", "s-a@x.example", "Notes of a", "e-b@x.example", "contact-b@"):
        assert other not in text, other


def test_the_account_page_links_the_download_and_staff_have_none(client, auth, two, make_user):
    auth.login(two["a"]["school_user"])
    assert "/auth/account/organisation-data" in client.get("/auth/account").get_data(as_text=True)
    auth.logout()
    auth.login(make_user(role="coordinator"))
    assert client.get("/auth/account/organisation-data").status_code == 404


def test_the_download_needs_a_sign_in(client, two):
    assert client.get("/auth/account/organisation-data").status_code == 302


# --- erasure --------------------------------------------------------------------------------


def _post(client, url: str):
    token = csrf_token_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token})


@pytest.mark.parametrize("role", ["coordinator", "employer", "school"])
def test_only_admins_may_erase(client, auth, two, make_user, role):
    a = two["a"]
    user = {
        "coordinator": make_user(role="coordinator", areas=[a["school"].area]),
        "employer": a["employer_user"],
        "school": a["school_user"],
    }[role]
    auth.login(user)
    victim = two["b"]["employer_user"]
    for url in (
        f"/admin/users/{victim.id}/erase",
        f"/admin/employers/{two['b']['employer'].id}/erase",
        f"/admin/schools/{two['b']['school'].id}/erase",
    ):
        assert client.get(url).status_code in (302, 403)
        assert client.post(url, data={}).status_code in (302, 400, 403)
    db.session.expire_all()
    assert db.session.get(User, victim.id).email == "e-b@x.example"
    assert db.session.get(Employer, two["b"]["employer"].id).contact_name == "Contact b"


def test_an_admin_erases_a_person_after_confirming(client, auth, two, make_user):
    admin = make_user(role="admin")
    person = two["a"]["employer_user"]
    matches_before = db.session.scalar(select(func.count(Match.id)))
    db.session.add(
        OutboxMessage(
            dedupe_key="x1",
            to_email=person.email,
            subject="Hello",
            template="match_approved",
            body_text="Dear Employer person a",
            body_html="<p>Dear Employer person a</p>",
            status="sent",
        )
    )
    db.session.add(
        OutboxMessage(
            dedupe_key="x2",
            to_email=person.email,
            subject="Soon",
            template="match_approved",
            body_text="Dear Employer person a",
            status="pending",
        )
    )
    db.session.commit()
    auth.login(admin)
    url = f"/admin/users/{person.id}/erase"
    page = client.get(url)
    assert page.status_code == 200
    assert "Erase for good" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, person.id).email == "e-a@x.example"  # the GET changed nothing
    response = _post(client, url)
    assert response.status_code == 302
    db.session.expire_all()
    erased = db.session.get(User, person.id)
    assert erased.email == f"erased-{person.id}@erased.invalid"
    assert "Employer person" not in erased.name
    assert erased.active is False
    # Nothing of them is left in the outbox, feedback or the audit rows about them...
    outbox = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "x1"))
    assert (outbox.to_email, outbox.body_text, outbox.body_html) == (erased.email, "", "")
    unsent = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == "x2"))
    assert (unsent.status, unsent.body_text, unsent.to_email) == ("failed", "", erased.email)
    assert db.session.scalar(select(Feedback.comment).where(Feedback.by_id == person.id)) == ""
    rows = db.session.scalars(
        select(AuditEntry).where(
            (AuditEntry.user_id == person.id)
            | ((AuditEntry.object_type == "User") & (AuditEntry.object_id == person.id))
        )
    ).all()
    assert "e-a@x.example" not in json.dumps([r.details for r in rows])
    assert "192.0.2" not in json.dumps([r.details for r in rows])
    # ...but the rows stay, referring to them by id, with the erasure recorded.
    actions = [r.action for r in rows]
    assert "offer.created" in actions and "auth.sign_in_failed" in actions
    done = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.erased"))
    assert (done.object_id, done.user_id) == (person.id, admin.id)
    assert db.session.scalar(select(func.count(Match.id))) == matches_before
    # They cannot sign in, under either address.
    auth.logout()
    auth.login("e-a@x.example")
    assert client.get("/employer/").status_code == 302
    auth.login(erased.email)
    assert client.get("/employer/").status_code == 302


def test_an_admin_erases_an_employer_counts_and_trail_kept(client, auth, two, make_user):
    admin = make_user(role="admin")
    employer = two["a"]["employer"]
    trail_before = db.session.scalar(select(func.count(AuditEntry.id)))
    auth.login(admin)
    assert _post(client, f"/admin/employers/{employer.id}/erase").status_code == 302
    db.session.expire_all()
    employer = db.session.get(Employer, employer.id)
    assert (employer.contact_name, employer.contact_email, employer.contact_phone) == (
        None,
        None,
        None,
    )
    assert employer.name == f"Erased organisation {employer.id}"
    assert all(u.email.endswith("@erased.invalid") and not u.active for u in employer.users)
    match = db.session.get(Match, two["a"]["match"].id)
    assert match.status == "delivered" and match.encounter.pupils_reached == 20
    assert db.session.scalar(select(func.count(AuditEntry.id))) > trail_before
    assert (
        db.session.scalar(select(AuditEntry.user_id).where(AuditEntry.action == "employer.erased"))
        == admin.id
    )
    # The other employer is untouched.
    assert db.session.get(Employer, two["b"]["employer"].id).contact_email == (
        "contact-b@employer.example"
    )


def test_an_admin_erases_a_school_cohort_counts_kept(client, auth, two, make_user):
    auth.login(make_user(role="admin"))
    school = two["a"]["school"]
    assert _post(client, f"/admin/schools/{school.id}/erase").status_code == 302
    db.session.expire_all()
    school = db.session.get(School, school.id)
    assert school.careers_leader_name is None and school.careers_leader_email is None
    assert school.careers_leader_phone is None
    assert school.name == "School A" and school.pupils == 900
    assert [(y.year_group, y.pupils) for y in school.year_groups] == [(9, 180)]
    assert db.session.get(User, two["a"]["school_user"].id).active is False


def test_an_admin_cannot_erase_themselves(client, auth, make_user):
    admin = make_user(role="admin")
    auth.login(admin)
    _post(client, f"/admin/users/{admin.id}/erase")
    db.session.expire_all()
    assert db.session.get(User, admin.id).active


# --- the outbox -----------------------------------------------------------------------------


def _message(key: str, *, created: int, status: str = "sent") -> None:
    db.session.add(
        OutboxMessage(
            dedupe_key=key,
            to_email="a@b.example",
            subject="S",
            template="match_approved",
            body_text="text",
            body_html="<p>h</p>",
            status=status,
            created_at=at(created),
        )
    )


def test_outbox_text_is_purged_after_the_retention_days(app):
    assert app.config["OUTBOX_RETENTION_DAYS"] == 90
    _message("old", created=-91)
    _message("recent", created=-89)
    _message("old-failed", created=-200, status="failed")
    _message("old-pending", created=-100, status="pending")  # not sent yet: kept to send
    db.session.commit()
    assert tasks.purge(NOW) == {"outbox_emptied": 2}
    db.session.expire_all()
    bodies = {
        m.dedupe_key: (m.body_text, m.body_html) for m in db.session.scalars(select(OutboxMessage))
    }
    assert bodies == {
        "old": ("", ""),
        "recent": ("text", "<p>h</p>"),
        "old-failed": ("", ""),
        "old-pending": ("text", "<p>h</p>"),
    }
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 4  # the rows stay


def test_the_retention_is_configurable_and_the_job_is_scheduled(app, frozen_clock):
    app.config["OUTBOX_RETENTION_DAYS"] = 7
    _message("week-old", created=-8)
    db.session.commit()
    assert tasks.purge(NOW) == {"outbox_emptied": 1}
    assert JOBS["purge"].func is tasks.purge
    _message("later", created=0)
    db.session.commit()
    frozen_clock.shift(86400 * 8)
    from broker import clock

    assert tasks.purge(clock.now()) == {"outbox_emptied": 1}


# --- the notice -----------------------------------------------------------------------------


def test_the_privacy_notice_is_public_and_linked_from_every_page(client, auth, make_user):
    page = client.get("/privacy")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for words in ("no names, ever", "90 days", "Who can see it", "erase", "download"):
        assert words in text, words
    assert 'href="/privacy"' in client.get("/auth/login").get_data(as_text=True)
    auth.login(make_user(role="admin"))
    assert 'href="/privacy"' in client.get("/admin/").get_data(as_text=True)
