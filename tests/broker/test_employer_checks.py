"""Employers are checked before they reach pupils (issue 10, "Anyone can flood the country").

The flood as it was reproduced: a new, unchecked employer posts a virtual talk for
2,147,483,647 pupils and the next nightly run proposes it to every school in the country.
Now its offers are left out of every kind of matching until a coordinator of its area (or
an admin) has checked it; one offer's capacity has a ceiling per encounter type; a
coordinator can suspend an organisation; vetting evidence is uploaded and checked.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import AuditEntry, EmployerDocument, Match, MatchEvent, OutboxMessage
from broker.services import accounts, employer_checks, matches, offers
from broker.services import matching as adapter
from broker.services.errors import NotAllowed, ServiceError
from tests.frozen import NOW, days
from tests.pagetext import parse, table, text

PDF = b"%PDF-1.4\n% test certificate\n"
INT_MAX = 2**31 - 1


@pytest.fixture
def evidence_dir(app, tmp_path: Path) -> Path:
    folder = tmp_path / "evidence"
    app.config["EVIDENCE_DIR"] = str(folder)
    return folder


@pytest.fixture
def country(make_area, make_school, make_request):
    """Schools in three areas, each with an open request for a talk."""
    places = [
        ("SW1A 1AA", 51.501, -0.142),
        ("M1 1AE", 53.480, -2.242),
        ("NE1 4ST", 54.970, -1.610),
    ]
    areas, requests = [], []
    for postcode, lat, lon in places:
        area = make_area()
        school = make_school(area=area, postcode=postcode, lat=lat, lon=lon)
        areas.append(area)
        requests.append(make_request(school=school, pupils=40))
    return areas, requests


def _offer_data(**overrides):
    values = dict(
        title="Engineering talk",
        type="talk",
        sector="engineering",
        year_min=8,
        year_max=11,
        capacity=60,
        earliest=days(34),
        latest=days(120),
        delivery="virtual",
        max_km=25.0,
    )
    values.update(overrides)
    return offers.OfferData(**values)


def _proposals(offer) -> list[Match]:
    return list(db.session.scalars(select(Match).where(Match.offer_id == offer.id)))


# --- the flood ------------------------------------------------------------------------------


def test_the_flood_unchecked_employers_huge_virtual_talk_gets_no_proposals(
    app, country, make_employer, make_offer, make_user
):
    areas, requests = country
    stranger = make_employer(name="Flood Ltd", verified_at=None, area=areas[0])
    flood = make_offer(employer=stranger, delivery="virtual", capacity=INT_MAX)

    run = adapter.run_matching(NOW)
    db.session.commit()

    assert run.status == "finished"
    assert _proposals(flood) == []
    # The run itself works: a checked employer's modest talk is proposed in the same country.
    honest = make_offer(employer=make_employer(area=areas[0]), delivery="virtual", capacity=500)
    adapter.run_matching(NOW)
    db.session.commit()
    assert {m.request_id for m in _proposals(honest)} == {r.id for r in requests}
    assert _proposals(flood) == []


def test_a_newly_registered_employer_reaches_no_school_until_checked(app, country, make_user):
    areas, requests = country
    user = accounts.register_employer(
        accounts.EmployerRegistration(
            organisation="Brand New Ltd", kind="business", sector="engineering",
            postcode="SW1A 2AA", name="Newcomer", email="new@brand-new.example",
            password="a long and unusual passphrase",
        )
    )
    employer = user.employer
    assert employer.verified_at is None and employer.area_id == areas[0].id
    # The largest virtual talk the ceiling allows, posted the day it registered.
    offer = offers.create_offer(employer, _offer_data(capacity=2000), by=user, today=days(0))
    adapter.run_matching(NOW)
    db.session.commit()
    assert _proposals(offer) == []

    employer_checks.verify_employer(employer, by=make_user(role="coordinator", areas=[areas[0]]))
    adapter.run_matching(NOW)
    db.session.commit()
    assert {m.request_id for m in _proposals(offer)} == {r.id for r in requests}


def test_once_checked_the_capacity_beyond_the_ceiling_is_refused(
    app, country, make_employer, make_user
):
    areas, _ = country
    employer = make_employer(verified_at=None, area=areas[0])
    person = make_user(role="employer", employer_id=employer.id)
    coordinator = make_user(role="coordinator", areas=[areas[0]])
    employer_checks.verify_employer(employer, by=coordinator)

    with pytest.raises(ServiceError) as refused:
        offers.create_offer(employer, _offer_data(capacity=INT_MAX), by=person, today=days(0))
    assert refused.value.field == "capacity"
    assert "take at most 2000 pupils" in refused.value.message
    with pytest.raises(ServiceError, match="at most 300 pupils"):
        offers.create_offer(
            employer, _offer_data(delivery="at_school", capacity=301), by=person, today=days(0)
        )
    offer = offers.create_offer(employer, _offer_data(capacity=2000), by=person, today=days(0))
    with pytest.raises(ServiceError, match="at most 300 pupils"):
        offers.update_offer(
            offer, _offer_data(delivery="at_school", capacity=2000), by=person, today=days(0)
        )
    with pytest.raises(ServiceError, match="at most 10 pupils"):
        employer_checks.check_capacity("work_experience", "at_workplace", 11)


def test_offer_form_shows_the_ceiling_and_refuses_beyond_it(
    app, client, auth, no_csrf, make_employer, make_user
):
    employer = make_employer()
    auth.login(make_user(role="employer", employer_id=employer.id))
    page = client.get("/employer/offers/new").get_data(as_text=True)
    assert "talk 300 (2000 virtual)" in text(parse(page))
    answer = client.post("/employer/offers/new", data={
        "title": "Talk to everyone", "type": "talk", "sector": "engineering",
        "year_min": 8, "year_max": 11, "capacity": 5000, "delivery": "virtual",
        "audience": "mixed", "max_km": 25, "earliest": days(34).isoformat(),
        "latest": days(120).isoformat(),
    })
    assert answer.status_code == 400
    shown = text(parse(answer.get_data(as_text=True)))
    assert "Capacity: employer talk offers (virtual) take at most 2000 pupils each" in shown


def test_ceilings_are_configurable_and_checked(app):
    app.config["CAPACITY_CEILINGS"] = employer_checks.check_ceilings('{"talk": {"virtual": 100}}')
    assert employer_checks.capacity_ceiling("talk", "virtual") == 100
    assert employer_checks.capacity_ceiling("talk", "at_school") == 300
    with pytest.raises(ServiceError, match="at most 100 pupils"):
        employer_checks.check_capacity("talk", "virtual", 101)
    with pytest.raises(ValueError, match='unknown encounter type "tlak"'):
        employer_checks.check_ceilings('{"tlak": {"virtual": 1}}')
    with pytest.raises(ValueError, match="whole number"):
        employer_checks.check_ceilings('{"talk": {"virtual": 0}}')


def test_unchecked_employers_offer_is_not_proposed_at_once_nor_matched_by_hand(
    app, country, make_employer, make_user
):
    areas, requests = country
    employer = make_employer(verified_at=None, area=areas[0])
    person = make_user(role="employer", employer_id=employer.id)
    offer = offers.create_offer(employer, _offer_data(), by=person, today=days(0))
    db.session.commit()
    assert _proposals(offer) == []  # the incremental run left it out

    coordinator = make_user(role="coordinator", areas=[areas[0]])
    with pytest.raises(ServiceError, match="not checked"):
        matches.hand_match(requests[0], offer, 10, by=coordinator)

    employer_checks.verify_employer(employer, by=coordinator)
    db.session.commit()
    made = matches.hand_match(requests[0], offer, 10, by=coordinator)
    assert made.status == "approved"


def test_employer_pages_say_plainly_the_organisation_waits_to_be_checked(
    app, client, auth, make_employer, make_user
):
    employer = make_employer(verified_at=None)
    auth.login(make_user(role="employer", employer_id=employer.id))
    waiting = "Your organisation is waiting to be checked; your offers will be matched once it is"
    for url in ("/employer/", "/employer/offers", "/employer/profile"):
        assert waiting in text(parse(client.get(url).get_data(as_text=True)))
    employer.verified_at = NOW
    db.session.commit()
    assert waiting not in client.get("/employer/").get_data(as_text=True)


# --- who checks -----------------------------------------------------------------------------


def test_coordinator_of_the_area_checks_from_the_queue_with_the_evidence(
    app, client, auth, no_csrf, country, make_employer, make_user
):
    areas, _ = country
    employer = make_employer(
        name="New Co", verified_at=None, area=areas[0], website="https://new.example",
        contact_name="Sam Lead", contact_email="sam@new.example",
    )
    make_employer(name="Elsewhere Co", verified_at=None, area=areas[1])
    coordinator = make_user(role="coordinator", name="Cora Ordinator", areas=[areas[0]])
    auth.login(coordinator)

    dashboard = text(parse(client.get("/coordinator/").get_data(as_text=True)))
    assert "1 organisation waiting to be checked" in dashboard
    listing = client.get("/coordinator/employers").get_data(as_text=True)
    assert [row["Organisation"] for row in table(listing, "employers")] == ["New Co"]
    page = text(parse(client.get(f"/coordinator/employers/{employer.id}").get_data(as_text=True)))
    for shown in ("Business", "engineering", "SW1A 2AA", "https://new.example", "Sam Lead"):
        assert shown in page

    answer = client.post(f"/coordinator/employers/{employer.id}/verify")
    assert answer.status_code == 302
    db.session.refresh(employer)
    assert employer.verified_at is not None and employer.verified_by_id == coordinator.id
    assert db.session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "employer.verified", AuditEntry.object_id == employer.id
        )
    ) is not None


def test_a_coordinator_of_another_area_cannot_verify_or_suspend(
    app, client, auth, no_csrf, country, make_employer, make_offer, make_match, make_user
):
    areas, requests = country
    employer = make_employer(verified_at=None, area=areas[0])
    other = make_user(role="coordinator", areas=[areas[1]])

    with pytest.raises(NotAllowed):
        employer_checks.verify_employer(employer, by=other)
    with pytest.raises(NotAllowed):
        employer_checks.suspend_employer(employer, by=other, reason="no reason")

    auth.login(other)
    assert client.get(f"/coordinator/employers/{employer.id}").status_code == 404
    assert client.post(f"/coordinator/employers/{employer.id}/verify").status_code == 404
    answer = client.post(f"/coordinator/employers/{employer.id}/suspend", data={"reason": "x"})
    assert answer.status_code == 404
    db.session.refresh(employer)
    assert employer.verified_at is None and employer.suspended_at is None
    # An admin may check any organisation.
    admin = make_user(role="admin")
    employer_checks.verify_employer(employer, by=admin)
    assert employer.verified_by_id == admin.id


# --- suspension -----------------------------------------------------------------------------


def test_suspension_withdraws_unapproved_proposals_writes_audit_and_leaves_matching(
    app, client, auth, no_csrf, country, make_employer, make_offer, make_match, make_user
):
    areas, requests = country
    employer = make_employer(area=areas[0])
    offer = make_offer(employer=employer, delivery="virtual", capacity=200)
    proposed = make_match(offer=offer, request=requests[0], status="proposed", pupils=40)
    approved = make_match(offer=offer, request=requests[1], status="approved", pupils=40)
    person = make_user(role="employer", employer_id=employer.id)
    coordinator = make_user(role="coordinator", areas=[areas[0]])

    auth.login(coordinator)
    answer = client.post(
        f"/coordinator/employers/{employer.id}/suspend", data={"reason": "Safeguarding concern"}
    )
    assert answer.status_code == 302

    db.session.refresh(proposed)
    db.session.refresh(approved)
    assert proposed.status == "superseded"
    assert approved.status == "approved"  # approved matches stay for the coordinator
    event = db.session.scalar(
        select(MatchEvent).where(
            MatchEvent.match_id == proposed.id, MatchEvent.to_status == "superseded"
        )
    )
    assert "Safeguarding concern" in event.reason
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "employer.suspended"))
    assert entry.object_id == employer.id and entry.user_id == coordinator.id
    assert entry.details["reason"] == "Safeguarding concern"
    assert entry.details["matches"] == [proposed.id]

    # Its offers leave matching: the next nightly run proposes nothing for it.
    adapter.run_matching(NOW)
    db.session.commit()
    assert [m.status for m in _proposals(offer) if m.status == "proposed"] == []

    # The employer is told plainly, by email and on its pages.
    mail = db.session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.to_email == person.email, OutboxMessage.template == "employer_suspended"
        )
    )
    assert "Safeguarding concern" in mail.body_text
    auth.logout()
    auth.login(person)
    page = text(parse(client.get("/employer/").get_data(as_text=True)))
    assert "Your organisation is suspended" in page and "Safeguarding concern" in page

    # Lifted, its offer is matched again.
    employer_checks.lift_suspension(employer, by=coordinator)
    db.session.commit()
    adapter.run_matching(NOW)
    db.session.commit()
    assert any(m.status == "proposed" for m in _proposals(offer))
    assert db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "employer.suspension_lifted")
    ) is not None


def test_a_suspension_needs_a_reason(app, country, make_employer, make_user):
    areas, _ = country
    employer = make_employer(area=areas[0])
    coordinator = make_user(role="coordinator", areas=[areas[0]])
    with pytest.raises(ServiceError, match="Say why"):
        employer_checks.suspend_employer(employer, by=coordinator, reason="   ")
    assert employer.suspended_at is None


# --- vetting evidence -----------------------------------------------------------------------


def _upload(client, content: bytes, filename: str, kind: str = "insurance"):
    return client.post(
        "/employer/evidence",
        data={"kind": kind, "file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def test_evidence_is_stored_under_a_random_name_and_served_only_to_those_allowed(
    app, client, auth, no_csrf, evidence_dir, country, make_employer, make_user
):
    areas, _ = country
    employer = make_employer(area=areas[0])
    auth.login(make_user(role="employer", employer_id=employer.id))
    assert _upload(client, PDF, "../../../etc/passwd.pdf").status_code == 302

    doc = db.session.scalar(select(EmployerDocument))
    assert doc.content_type == "application/pdf" and doc.filename == "etc_passwd.pdf"
    stored = list(evidence_dir.iterdir())
    assert [p.name for p in stored] == [doc.stored_name] and "passwd" not in doc.stored_name
    with client.get(f"/employer/evidence/{doc.id}") as own:
        assert own.status_code == 200 and own.data == PDF
        assert "attachment" in own.headers["Content-Disposition"]

    # Another employer: not theirs (404), whatever the id.
    auth.logout()
    auth.login(make_user(role="employer", employer_id=make_employer(area=areas[0]).id))
    assert client.get(f"/employer/evidence/{doc.id}").status_code == 404
    assert client.get(f"/coordinator/documents/{doc.id}").status_code == 403
    # A coordinator of another area: 404; of the employer's area: the file.
    auth.logout()
    auth.login(make_user(role="coordinator", areas=[areas[1]]))
    assert client.get(f"/coordinator/documents/{doc.id}").status_code == 404
    assert client.post(f"/coordinator/documents/{doc.id}/verify").status_code == 404
    auth.logout()
    auth.login(make_user(role="coordinator", areas=[areas[0]]))
    with client.get(f"/coordinator/documents/{doc.id}") as theirs:
        assert theirs.status_code == 200 and theirs.data == PDF


def test_upload_errors_say_what_is_wrong_and_never_show_a_server_path(
    app, client, auth, no_csrf, evidence_dir, make_employer, make_user
):
    # Small enough that the test client keeps the upload in memory.
    app.config["EVIDENCE_MAX_BYTES"] = 200 * 1024
    employer = make_employer()
    auth.login(make_user(role="employer", employer_id=employer.id))
    for content, message in (
        (b"<html><script>alert(1)</script></html>", "Upload a PDF, PNG or JPEG file."),
        (PDF + b"x" * (200 * 1024), "The file is too large: at most 200 KB."),
    ):
        answer = _upload(client, content, "certificate.pdf")
        body = answer.get_data(as_text=True)
        assert answer.status_code == 400
        assert message in body
        assert str(evidence_dir) not in body and app.instance_path not in body
    assert db.session.scalar(select(EmployerDocument)) is None
    assert not evidence_dir.exists() or list(evidence_dir.iterdir()) == []


def test_self_declared_and_verified_are_shown_apart(
    app, client, auth, no_csrf, evidence_dir, country, make_employer, make_user
):
    areas, _ = country
    employer = make_employer(area=areas[0], insurance_expires_on=days(200))
    person = make_user(role="employer", employer_id=employer.id)
    auth.login(person)
    _upload(client, PDF, "insurance.pdf")

    def evidence_column() -> dict[str, str]:
        rows = table(client.get("/employer/profile").get_data(as_text=True), "vetting")
        return {row["Item"]: row["Evidence"] for row in rows}

    before = evidence_column()
    assert before["Employers' liability insurance"] == (
        "Self-declared; document uploaded, not yet checked"
    )
    assert before["Dbs checks for volunteers"] == "Self-declared"

    auth.logout()
    coordinator = make_user(role="coordinator", name="Cora Ordinator", areas=[areas[0]])
    auth.login(coordinator)
    doc = db.session.scalar(select(EmployerDocument))
    assert client.post(f"/coordinator/documents/{doc.id}/verify").status_code == 302
    db.session.refresh(doc)
    assert doc.verified_by_id == coordinator.id and doc.verified_at is not None

    auth.logout()
    auth.login(person)
    after = evidence_column()
    verified = f"Verified by Cora Ordinator on {NOW:%-d %b %Y}"
    assert after["Employers' liability insurance"] == verified
    assert after["Risk assessment for workplace visits and work experience"] == "Self-declared"
