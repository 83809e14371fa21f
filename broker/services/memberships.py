"""School membership: who may act for a school, and how they come to (issue 10).

A person who registers for a school is a *pending* member of it and sees only a waiting page
(:mod:`broker.members.views`) and gets no school mail (:func:`broker.services.notify.wants`)
until verified:

- **automatically**, when they confirm an email address at the school's own web domain
  (:attr:`School.website`, ``www.`` ignored) and the school has no verified member yet;
- otherwise **by a decider**: a coordinator of the school's area, an admin, or (once the
  school has one) a verified member of the school, who sees the evidence in a queue and
  verifies or refuses. With verified members already there, a registration is a request to
  join that they answer.

Verified members invite others by email (a signed link that expires and works once) and
remove members (not themselves when they are the last). The school's verified members and
its area's coordinators are told of every new member. Every step is in the audit log.

Refused and removed people keep their row (the audit trail names them) but are deactivated:
they cannot sign in, and the school's calendar feed gets a new address when a member leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, false, select

from broker import clock
from broker.extensions import db
from broker.models import School, User, coordinator_areas
from broker.services import accounts, audit  # a module: accounts imports this one too
from broker.services.errors import NotAllowed, ServiceError
from broker.services.notify import Notice, notify, notify_many

__all__ = [
    "Claim",
    "Invitation",
    "accept_invitation",
    "claims_query",
    "claims_with_evidence",
    "domain_matches",
    "invite_member",
    "may_decide",
    "read_invitation",
    "refuse_member",
    "remove_member",
    "site_domain",
    "start_membership",
    "verified_members",
    "verify_member",
    "when_email_confirmed",
]

# Addresses anyone can get: a school website on one of these never verifies anybody.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "hotmail.co.uk",
        "live.com",
        "live.co.uk",
        "yahoo.com",
        "yahoo.co.uk",
        "icloud.com",
        "me.com",
        "aol.com",
        "btinternet.com",
        "sky.com",
        "proton.me",
        "protonmail.com",
    }
)


# --------------------------------------------------------------------------- evidence
def site_domain(website: str | None) -> str | None:
    """Return the domain of a web address, without ``www.``; None when there is none.

    >>> site_domain("http://www.hillside.sch.uk/contact"), site_domain("hillside.org.uk")
    ('hillside.sch.uk', 'hillside.org.uk')
    """
    text = (website or "").strip().lower()
    if not text:
        return None
    if "//" not in text:
        text = f"//{text}"
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return None
    host = host.rstrip(".").removeprefix("www.")
    return host if "." in host else None


def email_domain(email: str) -> str:
    """Return the part of an email address after the ``@``, in lower case."""
    return email.strip().lower().rpartition("@")[2]


def domain_matches(email: str, school: School) -> bool:
    """Return whether ``email`` is at the school's own web domain (or a subdomain of it)."""
    domain = site_domain(school.website)
    if domain is None or domain in PUBLIC_MAIL_DOMAINS:
        return False
    at = email_domain(email)
    return at == domain or at.endswith(f".{domain}")


def verified_members(school: School) -> list[User]:
    """Return the school's active, verified members, oldest account first."""
    return list(
        db.session.scalars(
            select(User)
            .where(
                User.school_id == school.id,
                User.role == "school",
                User.school_status == "verified",
                User.active.is_(True),
            )
            .order_by(User.id)
        )
    )


def area_coordinators(school: School) -> list[User]:
    """Return the active coordinators of the school's area."""
    if school.area_id is None:
        return []
    return list(
        db.session.scalars(
            select(User)
            .join(coordinator_areas, coordinator_areas.c.user_id == User.id)
            .where(
                coordinator_areas.c.area_id == school.area_id,
                User.role == "coordinator",
                User.active.is_(True),
            )
            .order_by(User.id)
        )
    )


def _admins() -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.role == "admin", User.active.is_(True)).order_by(User.id)
        )
    )


def may_decide(by: User, school: School) -> bool:
    """Return whether ``by`` may verify, refuse or remove members of ``school``.

    Admins may; coordinators of the school's area may; so may the school's verified members.
    """
    if not by.active:
        return False
    if by.role == "admin":
        return True
    if by.role == "coordinator":
        return school.area_id is not None and school.area_id in {a.id for a in by.areas}
    return by.verified_member and by.school_id == school.id


def _check_decider(by: User, school: School) -> None:
    if not may_decide(by, school):
        raise NotAllowed(
            "Only the school's verified members, a coordinator of its area or an admin can do this."
        )


# --------------------------------------------------------------------------- registering
def start_membership(user: User, school: School, *, job_title: str, evidence: str) -> None:
    """Make a newly registered ``user`` a pending member of ``school``, with what they told us.

    Nothing about the school is theirs to see or change until they are verified.
    """
    user.school_status = "pending"
    user.school_job_title = job_title.strip()[:120] or None
    user.school_evidence = evidence.strip()[:1000] or None
    joining = bool(verified_members(school))
    audit.record(
        "school.join_requested" if joining else "school.claimed",
        school,
        by=user,
        member_id=user.id,
        email=user.email,
        job_title=user.school_job_title,
    )


def when_email_confirmed(user: User) -> None:
    """Take the next step for a pending member who has just confirmed their address.

    The first member of a school whose address is at the school's own domain is verified
    there and then; anyone else waits for a decider, who is told.
    """
    if user.role != "school" or user.school_status != "pending" or user.school is None:
        return
    school = user.school
    members = verified_members(school)
    if not members and domain_matches(user.email, school):
        _verify(user, by=None, how="email domain")
        return
    deciders = members + area_coordinators(school)
    if not deciders:
        deciders = _admins()
    notify_many(
        Notice(
            person,
            "school_member_waiting",
            f"{user.name} asks to join {school.name} on the broker",
            f"school_member_waiting:{user.id}",
            {"member": user, "school": school, "joining": bool(members)},
        )
        for person in deciders
    )


# --------------------------------------------------------------------------- deciding
def _verify(user: User, *, by: User | None, how: str) -> None:
    school = user.school
    assert school is not None
    user.school_status = "verified"
    user.school_verified_at = clock.now()
    user.school_verified_by_id = by.id if by is not None else None
    # The school's contact for employers is its first verified member, unless it set one.
    if not school.careers_leader_email:
        school.careers_leader_name = user.name
        school.careers_leader_email = user.email
    audit.record("school.member_verified", user, by=by, school_id=school.id, how=how)
    db.session.flush()
    notify(
        user,
        "school_member_verified",
        subject=f"You can now act for {school.name} on the broker",
        dedupe_key=f"school_member_verified:{user.id}:{clock.now().isoformat()}",
        school=school,
    )
    _announce(user, how=how)


def _announce(user: User, *, how: str) -> None:
    """Tell the school's other verified members and its area's coordinators of a new member."""
    school = user.school
    assert school is not None
    told = [m for m in verified_members(school) if m.id != user.id] + area_coordinators(school)
    notify_many(
        Notice(
            person,
            "school_new_member",
            f"{user.name} is now a member of {school.name} on the broker",
            f"school_new_member:{user.id}:{clock.now().isoformat()}",
            {"member": user, "school": school, "how": how},
        )
        for person in told
    )


def _pending(user: User) -> School:
    if user.role != "school" or user.school is None:
        raise ServiceError("This person is not registered for a school.")
    if user.school_status != "pending":
        raise ServiceError(f"{user.name} is not waiting for verification.")
    return user.school


def verify_member(user: User, *, by: User) -> User:
    """Verify a pending member of a school: from now on they act for it."""
    school = _pending(user)
    _check_decider(by, school)
    if by.id == user.id:
        raise NotAllowed("You cannot verify yourself.")
    _verify(user, by=by, how=by.role if by.role != "school" else "member")
    return user


def refuse_member(user: User, *, by: User, reason: str = "") -> User:
    """Refuse a pending member: their account is closed and they are told."""
    school = _pending(user)
    _check_decider(by, school)
    if by.id == user.id:
        raise NotAllowed("You cannot decide on your own request.")
    user.school_status = "refused"
    user.active = False
    accounts.end_sessions(user)
    audit.record("school.member_refused", user, by=by, school_id=school.id, reason=reason)
    notify(
        user,
        "school_member_refused",
        subject=f"Your request to act for {school.name} on the broker",
        dedupe_key=f"school_member_refused:{user.id}",
        school=school,
        reason=reason,
    )
    return user


def remove_member(user: User, *, by: User, reason: str = "") -> User:
    """Remove a verified member from their school; the last one cannot remove themselves."""
    if user.role != "school" or user.school is None or user.school_status != "verified":
        raise ServiceError(f"{user.name} is not a verified member of a school.")
    school = user.school
    _check_decider(by, school)
    if by.id == user.id and len(verified_members(school)) <= 1:
        raise ServiceError(
            "You are the school's last verified member, so you cannot remove yourself: "
            "invite someone else first, or ask your coordinator."
        )
    user.school_status = "removed"
    user.active = False
    accounts.end_sessions(user)
    # They may have the calendar's secret address: it moves, and members subscribe again.
    school.calendar_key = (school.calendar_key or 0) + 1
    audit.record("school.member_removed", user, by=by, school_id=school.id, reason=reason)
    notify(
        user,
        "school_member_removed",
        subject=f"You no longer act for {school.name} on the broker",
        dedupe_key=f"school_member_removed:{user.id}:{clock.now().isoformat()}",
        school=school,
    )
    return user


# --------------------------------------------------------------------------- queues
@dataclass(frozen=True)
class Claim:
    """A pending member with the evidence a decider needs."""

    user: User
    school: School
    domain: str | None
    domain_matches: bool
    school_has_members: bool


def claims_query(by: User) -> Select[tuple[User]]:
    """Pending members (with confirmed addresses) that ``by`` may decide on, oldest first."""
    query = (
        select(User)
        .join(School, User.school_id == School.id)
        .where(
            User.role == "school",
            User.school_status == "pending",
            User.active.is_(True),
            User.email_verified_at.is_not(None),
        )
        .order_by(User.created_at, User.id)
    )
    if by.role == "admin":
        return query
    if by.role == "coordinator":
        return query.where(School.area_id.in_([a.id for a in by.areas] or [-1]))
    if by.verified_member:
        return query.where(User.school_id == by.school_id)
    return query.where(false())


def claims_with_evidence(users: list[User]) -> list[Claim]:
    """Return each pending member with their evidence, looking up the schools' members once."""
    school_ids = {u.school_id for u in users}
    with_members = set(
        db.session.scalars(
            select(User.school_id)
            .where(
                User.school_id.in_(sorted(i for i in school_ids if i is not None) or [-1]),
                User.role == "school",
                User.school_status == "verified",
                User.active.is_(True),
            )
            .distinct()
        )
    )
    claims = []
    for user in users:
        school = user.school
        assert school is not None
        claims.append(
            Claim(
                user=user,
                school=school,
                domain=site_domain(school.website),
                domain_matches=domain_matches(user.email, school),
                school_has_members=school.id in with_members,
            )
        )
    return claims


# --------------------------------------------------------------------------- invitations
@dataclass(frozen=True)
class Invitation:
    """A valid invitation: to whom, for which school, from whom."""

    email: str
    school: School
    inviter: User


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="broker.memberships.invite")


def invite_lifetime() -> timedelta:
    """Return how long an invitation link works (``INVITE_LINK_DAYS``)."""
    return timedelta(days=int(current_app.config["INVITE_LINK_DAYS"]))


def invite_member(school: School, email: str, *, by: User) -> None:
    """Email ``email`` a link to join ``school`` (verified members, coordinators and admins)."""
    _check_decider(by, school)
    email = email.strip().lower()
    if "@" not in email:
        raise ServiceError("Give an email address.", field="email")
    existing = accounts.find_user(email)
    if existing is not None:
        if existing.school_id == school.id and existing.verified_member:
            raise ServiceError("This person is already a member of the school.", field="email")
        raise ServiceError(
            "This address already has an account on the broker, so it cannot be invited. "
            "Ask an admin to move the account to your school.",
            field="email",
        )
    now = clock.now()
    token = _serializer().dumps({"s": school.id, "e": email, "b": by.id, "t": int(now.timestamp())})
    notify(
        email,
        "school_invitation",
        subject=f"{by.name} invites you to act for {school.name} on the broker",
        dedupe_key=f"school_invitation:{school.id}:{now.isoformat()}",
        school=school,
        inviter=by,
        token=token,
        days=invite_lifetime().days,
    )
    audit.record("school.member_invited", school, by=by, email=email)


def read_invitation(token: str) -> Invitation:
    """Return a valid invitation, or refuse an expired, used, withdrawn or forged one.

    An invitation works once: after it is accepted its address has an account. It dies when
    the person who sent it is no longer able to invite.
    """
    refused = ServiceError(
        "This invitation has expired or has already been used. Ask the school for a new one.",
        field="token",
    )
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        raise refused from None
    if not isinstance(payload, dict) or not {"s", "e", "b", "t"} <= payload.keys():
        raise refused
    age = clock.now().timestamp() - int(payload["t"])
    if age < 0 or age > invite_lifetime().total_seconds():
        raise refused
    school = db.session.get(School, int(payload["s"]))
    inviter = db.session.get(User, int(payload["b"]))
    email = str(payload["e"])
    if school is None or inviter is None or not may_decide(inviter, school):
        raise refused
    if accounts.find_user(email) is not None:
        raise refused
    return Invitation(email=email, school=school, inviter=inviter)


def accept_invitation(token: str, *, name: str, password: str, phone: str = "") -> User:
    """Create the invited person's account as a verified member of the school.

    Following the emailed link proves the address, so it counts as confirmed.
    """
    invitation = read_invitation(token)
    accounts.check_password_rules(password, invitation.email)
    if not name.strip():
        raise ServiceError("Give your name.", field="name")
    now = clock.now()
    user = User(
        email=invitation.email,
        name=name.strip(),
        role="school",
        school_id=invitation.school.id,
        email_verified_at=now,
        school_status="verified",
        school_verified_at=now,
        school_verified_by_id=invitation.inviter.id,
    )
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    school = invitation.school
    if not school.careers_leader_email:
        school.careers_leader_name = user.name
        school.careers_leader_email = user.email
        school.careers_leader_phone = phone.strip() or None
    audit.record(
        "school.member_joined", user, by=user, school_id=school.id, invited_by=invitation.inviter.id
    )
    _announce(user, how="invitation")
    return user
