"""School membership (issue 10): the takeover as reproduced no longer works.

A stranger who registers with a school's public URN is a pending member: they see only a
waiting page, get no school mail, and are verified by the school's web domain, a coordinator
of its area, an admin or one of its verified members. Members invite (a link that works once
and expires) and remove; the school and its coordinator are told of every new member.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.gias import parse_schools
from broker.models import AuditEntry, Match, User
from broker.services import matches, memberships, notify
from broker.services.errors import NotAllowed, ServiceError
from broker.services.schools import import_schools
from tests.broker.mail import link_in, queued
from tests.conftest import PASSWORD, csrf_token_from


def _post(client, page_url, url, data=None):
    token = csrf_token_from(client.get(page_url).get_data(as_text=True))
    return client.post(url, data={**(data or {}), "csrf_token": token})


def _register(client, urn, email, *, name="Sam Stranger", job_title="Careers leader", evidence=""):
    response = _post(
        client,
        "/auth/register/school",
        "/auth/register/school",
        {
            "urn": str(urn),
            "name": name,
            "email": email,
            "job_title": job_title,
            "evidence": evidence,
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    [message] = queued("verify_email", to=email)
    assert client.get(link_in(message)).status_code == 302
    user = db.session.scalar(select(User).where(User.email == email))
    assert user is not None and user.email_verified
    return user


def _actions(*names):
    return list(
        db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.in_(names)).order_by(AuditEntry.id)
        )
    )


@pytest.fixture
def world(make_area, make_school, make_user, make_employer, make_offer, make_request, make_match):
    """A school with a live match whose employer has a contact, and two areas' coordinators."""
    area = make_area(name="Camden")
    other_area = make_area(name="Barnet")
    school = make_school(
        urn=137001, name="Hillside Academy", area=area, website="https://www.hillside.sch.uk/"
    )
    employer = make_employer(
        name="Severn Engineering",
        contact_email="volunteers@severn.example",
        contact_phone="0117 496 0000",
    )
    match = make_match(
        request=make_request(school=school),
        offer=make_offer(employer=employer),
        status="accepted",
    )
    return {
        "area": area,
        "school": school,
        "match": match,
        "coordinator": make_user(role="coordinator", areas=[area], email="coord@camden.example"),
        "other_coordinator": make_user(
            role="coordinator", areas=[other_area], email="coord@barnet.example"
        ),
        "admin": make_user(role="admin", email="admin@broker.example"),
    }


# --------------------------------------------------------------------------- the takeover
def test_takeover_with_a_public_urn_and_a_gmail_address_sees_and_gets_nothing(
    client, auth, world, make_user
):
    school, match = world["school"], world["match"]
    stranger = _register(client, school.urn, "takeover@gmail.com")
    assert stranger.school_status == "pending" and not stranger.verified_member
    # The school's contact for employers is not handed to the stranger.
    assert school.careers_leader_email is None

    assert auth.login("takeover@gmail.com").status_code == 302
    for url in (
        "/school/",
        "/school/matches",
        f"/school/matches/{match.id}",
        "/school/requests",
        "/school/calendar",
        "/school/profile",
        "/insights/my-school/encounters.csv",
        "/members/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].endswith("/members/waiting"), url
    page = client.get("/members/waiting", follow_redirects=True).get_data(as_text=True)
    assert "Waiting for verification" in page and "Hillside Academy" in page
    assert "volunteers@severn.example" not in page and "Severn Engineering" not in page
    assert "/school/calendar" not in page
    # No action either: a post is refused before any view runs.
    token = csrf_token_from(page)
    for url in (
        "/school/requests/new",
        f"/school/matches/{match.id}/accept",
        "/school/calendar/new-address",
        "/members/invite",
    ):
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url

    # No school email: when the match is cancelled the school's verified member is told and
    # the stranger is not.
    make_user(role="school", school_id=school.id, email="head@hillside.sch.uk")
    matches.cancel_match(
        db.session.get(Match, match.id), by=world["admin"], reason="The speaker is ill."
    )
    assert [m.to_email for m in queued("match_cancelled") if "hillside" in m.to_email] == [
        "head@hillside.sch.uk"
    ]
    assert queued(to="takeover@gmail.com") == queued("verify_email", to="takeover@gmail.com")
    member = db.session.scalar(select(User).where(User.email == "takeover@gmail.com"))
    assert notify.notify(member, "match_approved", subject="s", dedupe_key="k", match=match) is None


def test_a_verified_member_still_sees_the_school(client, auth, world, make_user):
    member = make_user(role="school", school_id=world["school"].id)
    auth.login(member)
    page = client.get(f"/school/matches/{world['match'].id}")
    assert page.status_code == 200
    assert "volunteers@severn.example" in page.get_data(as_text=True)


# --------------------------------------------------------------------------- by domain
def test_an_address_at_the_schools_own_domain_is_verified_automatically(client, auth, world):
    school = world["school"]
    lead = _register(client, school.urn, "j.lee@hillside.sch.uk", name="Jo Lee")
    assert lead.school_status == "verified" and lead.school_verified_by_id is None
    assert school.careers_leader_email == "j.lee@hillside.sch.uk"
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "school.member_verified")
    )
    assert entry.object_id == lead.id and entry.details["how"] == "email domain"
    # The area's coordinator is told of the new member; the other area's is not.
    [notice] = queued("school_new_member")
    assert notice.to_email == "coord@camden.example"
    assert "Jo Lee" in notice.body_text and "web domain" in notice.body_text
    auth.login(lead)
    assert client.get("/school/").status_code == 200


def test_domain_matching_ignores_www_and_refuses_lookalikes(world):
    school = world["school"]
    assert memberships.site_domain(school.website) == "hillside.sch.uk"
    assert memberships.domain_matches("a@hillside.sch.uk", school)
    assert memberships.domain_matches("a@staff.hillside.sch.uk", school)
    assert not memberships.domain_matches("a@hillside.sch.uk.evil.example", school)
    assert not memberships.domain_matches("a@nothillside.sch.uk", school)
    school.website = "gmail.com"
    assert not memberships.domain_matches("a@gmail.com", school)


def test_a_school_domain_does_not_skip_a_join_request(client, world, make_user):
    # Once the school has members, they decide, whatever the address.
    make_user(role="school", school_id=world["school"].id, email="head@hillside.sch.uk")
    newcomer = _register(client, world["school"].urn, "pupil@hillside.sch.uk")
    assert newcomer.school_status == "pending"


# --------------------------------------------------------------------------- coordinators
def test_only_a_coordinator_of_the_schools_area_or_an_admin_verifies(client, auth, world):
    school = world["school"]
    stranger = _register(
        client,
        school.urn,
        "claimant@gmail.com",
        name="Pat Claimant",
        evidence="I am named on the staff page of the school website.",
    )
    # The area's coordinator (and no one else) is told someone is waiting.
    assert [m.to_email for m in queued("school_member_waiting")] == ["coord@camden.example"]

    with pytest.raises(NotAllowed):
        memberships.verify_member(stranger, by=world["other_coordinator"])
    db.session.rollback()
    auth.login(world["other_coordinator"])
    assert "Pat Claimant" not in client.get("/members/claims").get_data(as_text=True)
    refused = _post(client, "/members/claims", f"/members/{stranger.id}/verify")
    assert refused.status_code == 404
    assert db.session.get(User, stranger.id).school_status == "pending"
    auth.logout()

    auth.login(world["coordinator"])
    page = client.get("/members/claims").get_data(as_text=True)
    for evidence in (
        "Pat Claimant",
        "claimant@gmail.com",
        "Careers leader",
        "named on the staff page",
        "hillside.sch.uk",
        "their email is not at it",
        "none: this person claims the school",
    ):
        assert evidence in page, evidence
    assert 'style="' not in page and "<style" not in page
    done = _post(client, "/members/claims", f"/members/{stranger.id}/verify")
    assert done.status_code == 302 and done.headers["Location"].endswith("/members/claims")
    stranger = db.session.get(User, stranger.id)
    assert stranger.school_status == "verified"
    assert stranger.school_verified_by_id == world["coordinator"].id
    assert "claimant@gmail.com" not in client.get("/members/claims").get_data(as_text=True)
    assert queued("school_member_verified", to="claimant@gmail.com")
    assert _actions("school.claimed", "school.member_verified") == [
        "school.claimed",
        "school.member_verified",
    ]


def test_an_admin_refuses_a_claim_and_the_account_closes(client, auth, world):
    stranger = _register(client, world["school"].urn, "bad@gmail.com")
    auth.login(world["admin"])
    response = _post(
        client,
        "/members/claims",
        f"/members/{stranger.id}/refuse",
        {"reason": "The school does not know them."},
    )
    assert response.status_code == 302
    stranger = db.session.get(User, stranger.id)
    assert stranger.school_status == "refused" and not stranger.active
    [told] = queued("school_member_refused", to="bad@gmail.com")
    assert "does not know them" in told.body_text
    auth.logout()
    assert auth.login("bad@gmail.com").status_code == 200  # refused: cannot sign in
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "school.member_refused")
    )
    assert entry.user_id == world["admin"].id and entry.object_id == stranger.id


def test_coordinators_and_admins_have_the_queue_in_their_navigation(client, auth, world):
    for person in (world["coordinator"], world["admin"]):
        auth.login(person)
        assert 'href="/members/claims"' in client.get("/coordinator/").get_data(as_text=True)
        auth.logout()


# --------------------------------------------------------------------------- join requests
def test_a_member_approves_a_join_request_and_everyone_is_told(client, auth, world, make_user):
    school = world["school"]
    member = make_user(
        role="school", school_id=school.id, email="head@hillside.sch.uk", name="Head Teacher"
    )
    newcomer = _register(
        client, school.urn, "newcomer@gmail.com", name="New Colleague", job_title="Deputy head"
    )
    assert _actions("school.join_requested") == ["school.join_requested"]
    assert {m.to_email for m in queued("school_member_waiting")} == {
        "head@hillside.sch.uk",
        "coord@camden.example",
    }

    auth.login(member)
    page = client.get("/members/").get_data(as_text=True)
    assert "New Colleague" in page and "Deputy head" in page
    assert "yes: this is a request to join" in page
    response = _post(client, "/members/", f"/members/{newcomer.id}/verify")
    assert response.status_code == 302 and response.headers["Location"].endswith("/members/")
    assert db.session.get(User, newcomer.id).verified_member
    assert {m.to_email for m in queued("school_new_member")} == {
        "head@hillside.sch.uk",
        "coord@camden.example",
    }
    assert queued("school_member_verified", to="newcomer@gmail.com")


def test_a_member_of_another_school_cannot_decide(client, auth, world, make_user, make_school):
    outsider = make_user(role="school", school_id=make_school().id)
    newcomer = _register(client, world["school"].urn, "newcomer@gmail.com")
    with pytest.raises(NotAllowed):
        memberships.verify_member(newcomer, by=outsider)
    db.session.rollback()
    auth.login(outsider)
    assert _post(client, "/members/", f"/members/{newcomer.id}/verify").status_code == 404
    # Nor can a pending member verify themselves or anyone.
    with pytest.raises(NotAllowed):
        memberships.verify_member(newcomer, by=newcomer)


# --------------------------------------------------------------------------- invitations
def _invite(client, auth, member, email):
    auth.login(member)
    response = _post(client, "/members/", "/members/invite", {"email": email})
    assert response.status_code == 302
    auth.logout()
    [message] = queued("school_invitation", to=email)
    [path] = re.findall(r"https?://\S+?(/members/join/\S+)", message.body_text)
    return path


def test_an_invitation_works_once(client, auth, world, make_user):
    school = world["school"]
    member = make_user(role="school", school_id=school.id, email="head@hillside.sch.uk")
    path = _invite(client, auth, member, "invitee@example.org")
    assert _actions("school.member_invited") == ["school.member_invited"]
    page = client.get(path)
    assert page.status_code == 200 and "invitee@example.org" in page.get_data(as_text=True)
    joined = _post(
        client, path, path, {"name": "Ivy Invitee", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert joined.status_code == 302
    invitee = db.session.scalar(select(User).where(User.email == "invitee@example.org"))
    assert invitee.verified_member and invitee.email_verified
    assert invitee.school_verified_by_id == member.id
    assert {m.to_email for m in queued("school_new_member")} == {
        "head@hillside.sch.uk",
        "coord@camden.example",
    }
    assert _actions("school.member_joined") == ["school.member_joined"]
    # Used: the link no longer works.
    assert client.get(path).status_code == 400
    assert auth.login("invitee@example.org").status_code == 302
    assert client.get("/school/").status_code == 200


def test_an_invitation_expires(client, auth, world, make_user, frozen_clock, app):
    member = make_user(role="school", school_id=world["school"].id)
    path = _invite(client, auth, member, "late@example.org")
    frozen_clock.shift(timedelta(days=app.config["INVITE_LINK_DAYS"], hours=-1))
    assert client.get(path).status_code == 200
    frozen_clock.shift(timedelta(hours=2))
    assert client.get(path).status_code == 400
    response = _post(
        client, "/auth/login", path, {"name": "Late", "password": PASSWORD, "confirm": PASSWORD}
    )
    assert response.status_code == 400
    assert db.session.scalar(select(User).where(User.email == "late@example.org")) is None


def test_an_invitation_dies_with_its_senders_membership(client, auth, world, make_user):
    inviter = make_user(role="school", school_id=world["school"].id)
    make_user(role="school", school_id=world["school"].id)
    path = _invite(client, auth, inviter, "x@example.org")
    memberships.remove_member(inviter, by=world["coordinator"])
    db.session.commit()
    assert client.get(path).status_code == 400


def test_a_pending_member_cannot_invite(world, make_user):
    pending = make_user(role="school", school_id=world["school"].id, school_status="pending")
    with pytest.raises(NotAllowed):
        memberships.invite_member(world["school"], "friend@example.org", by=pending)


# --------------------------------------------------------------------------- removal
def test_a_member_removes_another_but_the_last_cannot_leave(client, auth, world, make_user):
    school = world["school"]
    first = make_user(role="school", school_id=school.id, email="first@hillside.sch.uk")
    second = make_user(role="school", school_id=school.id, email="second@hillside.sch.uk")
    key = school.calendar_key
    auth.login(first)
    response = _post(client, "/members/", f"/members/{second.id}/remove")
    assert response.status_code == 302
    second = db.session.get(User, second.id)
    assert second.school_status == "removed" and not second.active
    assert db.session.get(type(school), school.id).calendar_key == key + 1  # old feed dies
    assert queued("school_member_removed", to="second@hillside.sch.uk")
    # The last member cannot remove themselves.
    refused = _post(client, "/members/", f"/members/{first.id}/remove")
    assert refused.status_code == 302
    assert db.session.get(User, first.id).verified_member
    assert "last verified member" in client.get("/members/").get_data(as_text=True)
    with pytest.raises(ServiceError, match="last verified member"):
        memberships.remove_member(first, by=first)
    db.session.rollback()
    auth.logout()
    assert auth.login("second@hillside.sch.uk").status_code == 200  # cannot sign in
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "school.member_removed")
    )
    assert entry.user_id == first.id and entry.object_id == second.id


# --------------------------------------------------------------------------- GIAS
def test_the_gias_importer_keeps_the_school_website(app):
    header = (
        "URN,EstablishmentName,TypeOfEstablishment (name),EstablishmentStatus (name),"
        "PhaseOfEducation (name),Postcode,Easting,Northing,LA (name),SchoolWebsite\n"
    )
    row = (
        "100049,Haverstock School,Community school,Open,Secondary,NW3 2BQ,528245,184716,"
        "Camden,http://www.haverstock.camden.sch.uk\n"
    )
    parsed = parse_schools(io.StringIO(header + row))
    [school_row] = parsed.rows
    assert school_row.website == "http://www.haverstock.camden.sch.uk"
    import_schools(parsed.rows)
    # A later list without the column (the shipped one) keeps it.
    import_schools(
        parse_schools(
            io.StringIO(header.replace(",SchoolWebsite", "") + row.rsplit(",", 1)[0] + "\n")
        ).rows
    )
    from broker.models import School

    school = db.session.scalar(select(School).where(School.urn == 100049))
    assert school.website == "http://www.haverstock.camden.sch.uk"
    assert memberships.site_domain(school.website) == "haverstock.camden.sch.uk"


def test_a_pending_member_reaches_no_page_but_the_waiting_page_and_their_account(
    app, client, auth, world, make_user
):
    # Every page in the URL map, so a page added later is covered too.
    pending = make_user(role="school", school_id=world["school"].id, school_status="pending")
    auth.login(pending)
    open_to_them = {"members.waiting", "members.accept_invitation", "static"}
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or ()) or rule.endpoint in open_to_them:
            continue
        if rule.endpoint.split(".")[0] in ("auth", "api") or rule.endpoint == "index":
            continue
        url = rule.build({name: 1 for name in rule.arguments}, append_unknown=False)[1]
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"].endswith("/members/waiting"), url
    # The index sends them to their dashboard, which sends them to the waiting page.
    assert client.get("/", follow_redirects=True).request.path == "/members/waiting"


@pytest.mark.parametrize("status", ["pending", "refused", "removed"])
def test_match_services_refuse_a_school_user_who_is_not_a_verified_member(
    app, make_user, make_match, status
):
    """Defence in depth: whatever route reaches them, the lifecycle services ask for a
    verified member, not only a user whose school id matches."""
    match = make_match(status="approved")
    outsider = make_user(role="school", school=match.request.school, school_status=status)
    with pytest.raises(NotAllowed):
        matches.respond_to_match(match, by=outsider, side="school", accept=True)
    with pytest.raises(NotAllowed):
        matches.cancel_match(match, by=outsider, reason="not mine to cancel")
    with pytest.raises(NotAllowed):
        matches.schedule_match(match, by=outsider, on=match.request.earliest)
    assert db.session.get(Match, match.id).status == "approved"
    member = make_user(role="school", school=match.request.school)
    matches.respond_to_match(match, by=member, side="school", accept=True)
    assert match.school_response == "accepted"
