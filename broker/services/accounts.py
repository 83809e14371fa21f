"""Accounts: registering, confirming an email address, signing in and out, passwords, email
changes and notification preferences.

Answers never tell whether an email address has an account. Signing in hashes the password
once whether the address is known or not (against a dummy hash when it is not); registering
with an address that already has an account looks the same as a new registration and emails
the address's owner instead; asking for a password reset emails the address either way. Only
the owner of the address, reading its mail, learns which it was.

Links in account emails are signed with the app's ``SECRET_KEY`` for one purpose each, carry
the moment they were made (read from :mod:`broker.clock`) and expire, and carry a fingerprint
of what they change, so that they work once: a reset link dies when the password changes, an
email link when the address changes.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from broker import clock
from broker.extensions import db
from broker.models import ROLES, Area, Employer, School, User
from broker.services import audit, memberships
from broker.services.errors import ServiceError
from broker.services.notify import kinds_for, notify
from broker.services.places import locate

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
COMMON_PASSWORDS = Path(__file__).resolve().parent.parent / "data" / "common_passwords.txt.gz"


class EmailNotConfirmed(ServiceError):
    """The password was right, but the person has not yet confirmed their email address."""


class WrongPassword(ServiceError):
    """The current password given to make a change was wrong."""


@dataclass(frozen=True)
class EmployerRegistration:
    """What an employer gives to register."""

    organisation: str
    kind: str
    sector: str
    postcode: str
    name: str
    email: str
    password: str
    phone: str = ""


@dataclass(frozen=True)
class SchoolRegistration:
    """What a school's careers leader gives to register: the school is found by its URN.

    ``job_title`` and ``evidence`` are what they tell whoever verifies their membership.
    """

    urn: int
    name: str
    email: str
    password: str
    phone: str = ""
    job_title: str = ""
    evidence: str = ""


# --------------------------------------------------------------------------- passwords
@cache
def common_passwords() -> frozenset[str]:
    """Return the shipped list of common passwords (see broker/data/README.md)."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as fh:
        return frozenset(line.strip() for line in fh if line.strip())


def check_password_rules(password: str, email: str) -> None:
    """Refuse a password that is too short or long, is the email address, or is common."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ServiceError(
            f"Choose a password of at most {MAX_PASSWORD_LENGTH} characters.", field="password"
        )
    plain = password.strip().lower()
    email = email.strip().lower()
    if plain in {email, email.partition("@")[0]}:
        raise ServiceError("Choose a password that is not your email address.", field="password")
    if plain in common_passwords():
        raise ServiceError(
            "This password is one of the most common ones, which are guessed first. "
            "Choose another: a few unrelated words make a good one.",
            field="password",
        )


@cache
def _dummy_hash() -> str:
    # Hashed like a real password, so checking against it takes as long as a real check.
    return generate_password_hash(secrets.token_hex(16))


def _password_matches(user: User | None, password: str) -> bool:
    """Check ``password`` with exactly one hash computation, whether or not ``user`` exists."""
    stored = user.password_hash if user is not None else _dummy_hash()
    return check_password_hash(stored, password) and user is not None


def _normal(email: str) -> str:
    return email.strip().lower()


def find_user(email: str) -> User | None:
    """Return the user with this email address (in any case), or None."""
    return db.session.scalar(select(User).where(func.lower(User.email) == _normal(email)))


def end_sessions(user: User) -> None:
    """End every session of ``user``: their cookies name a session version that is now old."""
    user.session_version = (user.session_version or 0) + 1


# --------------------------------------------------------------------------- links
_LINKS = {
    # purpose: (what the fingerprint covers, config key of its lifetime, unit)
    "verify": ("email", "VERIFY_LINK_HOURS", "hours"),
    "reset": ("password_hash email", "RESET_LINK_MINUTES", "minutes"),
    "email": ("password_hash email", "VERIFY_LINK_HOURS", "hours"),
}


def _fingerprint(purpose: str, user: User) -> str:
    fields = _LINKS[purpose][0].split()
    text = "|".join(str(getattr(user, f)) for f in fields)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=f"broker.accounts.{purpose}")


def link_token(purpose: str, user: User, **extra: Any) -> str:
    """Return a signed token for an account email link of ``purpose`` for ``user``."""
    payload = {
        "u": user.id,
        "f": _fingerprint(purpose, user),
        "t": int(clock.now().timestamp()),
        **extra,
    }
    return _serializer(purpose).dumps(payload)


def link_lifetime(purpose: str) -> timedelta:
    """Return how long a link of ``purpose`` works (from the configuration)."""
    _, key, unit = _LINKS[purpose]
    return timedelta(**{unit: int(current_app.config[key])})


def read_link(purpose: str, token: str) -> tuple[User, dict[str, Any]]:
    """Return the user and payload of a valid link, or refuse an expired, used or forged one."""
    refused = ServiceError(
        "This link has expired or has already been used. Ask for a new one.", field="token"
    )
    try:
        payload = _serializer(purpose).loads(token)
    except BadSignature:
        raise refused from None
    if not isinstance(payload, dict) or not {"u", "f", "t"} <= payload.keys():
        raise refused
    made = int(payload["t"])
    age = clock.now().timestamp() - made
    if age < 0 or age > link_lifetime(purpose).total_seconds():
        raise refused
    user = db.session.get(User, int(payload["u"]))
    if user is None or not user.active or payload["f"] != _fingerprint(purpose, user):
        raise refused
    return user, payload


def _hour() -> str:
    return f"{clock.now():%Y%m%d%H}"


# --------------------------------------------------------------------------- registration
def area_for(la_name: str | None) -> Area | None:
    """Return the area for a local authority name, creating it the first time it is seen."""
    if not la_name:
        return None
    area = db.session.scalar(select(Area).where(Area.name == la_name))
    if area is None:
        area = Area(name=la_name)
        db.session.add(area)
        db.session.flush()
    return area


def nearest_area(lat: float, lon: float) -> Area | None:
    """Return the area of the school nearest to a point (employers have no LA of their own)."""
    # A bounding box keeps this to an indexed scan of a few schools, not the whole table.
    for pad in (0.1, 0.3, 1.0, 5.0):
        rows = db.session.execute(
            select(School.area_id, School.lat, School.lon).where(
                School.area_id.is_not(None),
                School.lat.between(lat - pad, lat + pad),
                School.lon.between(lon - pad * 1.6, lon + pad * 1.6),
            )
        ).all()
        if rows:
            best = min(rows, key=lambda r: (r.lat - lat) ** 2 + ((r.lon - lon) * 0.62) ** 2)
            return db.session.get(Area, best.area_id)
    return None


def _taken(email: str, password: str) -> User | None:
    """Return the account that already has ``email`` after telling its owner, or None.

    Hashes ``password`` either way, so a taken address takes as long as a new account.
    """
    owner = find_user(email)
    if owner is None:
        return None
    generate_password_hash(password)
    notify(
        owner,
        "account_exists",
        subject="Someone tried to register with your email address",
        dedupe_key=f"account_exists:{owner.id}:{_hour()}",
    )
    audit.record("user.registration_refused", owner, by=None, reason="email already registered")
    return owner


def send_confirmation(user: User) -> None:
    """Email ``user`` a link that confirms their address (at most one an hour)."""
    notify(
        user,
        "verify_email",
        subject="Confirm your email address for the broker",
        dedupe_key=f"verify_email:{user.id}:{_hour()}",
        token=link_token("verify", user),
        hours=int(current_app.config["VERIFY_LINK_HOURS"]),
    )


def register_employer(data: EmployerRegistration) -> User | None:
    """Create an employer organisation and its first user, who must confirm their address.

    Returns the new user, or None when the address already had an account (its owner is
    emailed instead and nothing is created).
    """
    email = _normal(data.email)
    check_password_rules(data.password, email)
    if not data.organisation.strip():
        raise ServiceError("Give your organisation's name.", field="organisation")
    place = locate(data.postcode)
    if _taken(email, data.password):
        return None
    employer = Employer(
        name=data.organisation.strip(),
        kind=data.kind,
        sector=data.sector.strip(),
        postcode=place.postcode,
        lat=place.lat,
        lon=place.lon,
        contact_name=data.name.strip(),
        contact_email=email,
        contact_phone=data.phone.strip() or None,
    )
    area = nearest_area(place.lat, place.lon)
    employer.area_id = area.id if area else None
    db.session.add(employer)
    db.session.flush()
    user = User(email=email, name=data.name.strip(), role="employer", employer_id=employer.id)
    user.set_password(data.password)
    db.session.add(user)
    db.session.flush()
    audit.record("employer.registered", employer, by=user)
    send_confirmation(user)
    return user


def register_school(data: SchoolRegistration) -> User | None:
    """Create a login for a school found by URN; the person must confirm their address.

    They are a pending member of the school, who sees and gets nothing of it until verified
    (:mod:`broker.services.memberships`); the school's contact details stay as they were.

    Returns the new user, or None when the address already had an account (its owner is
    emailed instead and nothing is created).
    """
    email = _normal(data.email)
    check_password_rules(data.password, email)
    school = db.session.scalar(select(School).where(School.urn == data.urn))
    if school is None:
        raise ServiceError(
            f"No school with URN {data.urn} is in the school list. Check the URN on "
            "Get Information About Schools, or ask your coordinator to import it.",
            field="urn",
        )
    if _taken(email, data.password):
        return None
    user = User(email=email, name=data.name.strip(), role="school", school_id=school.id)
    user.set_password(data.password)
    db.session.add(user)
    db.session.flush()
    audit.record("school.registered", school, by=user)
    memberships.start_membership(user, school, job_title=data.job_title, evidence=data.evidence)
    send_confirmation(user)
    return user


def confirm_email(token: str) -> User:
    """Mark the address of the link's user as confirmed (following the link again is harmless)."""
    user, _ = read_link("verify", token)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        audit.record("user.email_confirmed", user, by=user)
        memberships.when_email_confirmed(user)
    return user


def create_user(
    *,
    email: str,
    name: str,
    role: str,
    password: str,
    areas: list[Area] | None = None,
    employer: Employer | None = None,
    school: School | None = None,
    by: User | None = None,
) -> User:
    """Create a user of any role (admins create coordinators and other admins this way).

    The address counts as confirmed, and a school user as a verified member of the school:
    an admin (or the operator at the command line) vouches for them.
    """
    if role not in ROLES:
        raise ServiceError(
            f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.", field="role"
        )
    email = _normal(email)
    if find_user(email) is not None:
        raise ServiceError("An account with this email address already exists.", field="email")
    check_password_rules(password, email)
    if role == "employer" and employer is None:
        raise ServiceError("An employer user needs an employer.", field="employer")
    if role == "school" and school is None:
        raise ServiceError("A school user needs a school.", field="school")
    user = User(
        email=email,
        name=name.strip() or email,
        role=role,
        employer_id=employer.id if employer else None,
        school_id=school.id if school else None,
        email_verified_at=clock.now(),
    )
    if role == "school":
        user.school_status = "verified"
        user.school_verified_at = clock.now()
        user.school_verified_by_id = by.id if by is not None else None
    user.set_password(password)
    user.areas = list(areas or [])
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, by=by, role=role, areas=[a.name for a in user.areas])
    return user


# --------------------------------------------------------------------------- signing in and out
def sign_in(email: str, password: str, *, ip: str | None) -> User | None:
    """Return the active, confirmed user with these credentials, or None; audit either way.

    Raises :class:`EmailNotConfirmed` (and emails a fresh link) when the password is right but
    the address is not yet confirmed.
    """
    email = _normal(email)
    user = find_user(email)
    if not _password_matches(user, password) or user is None or not user.active:
        audit.record(
            "auth.sign_in_failed",
            user if user is not None else "User",
            by=None,
            email=email[:254],
            ip=ip,
            reason="inactive" if user is not None and user.active is False else "credentials",
        )
        return None
    if not user.email_verified:
        send_confirmation(user)
        audit.record("auth.sign_in_failed", user, by=None, email=email, ip=ip, reason="unconfirmed")
        raise EmailNotConfirmed(
            "Confirm your email address first: we have emailed you a link. "
            "If it has not arrived, look in your spam folder."
        )
    user.last_login_at = clock.now()
    audit.record("auth.signed_in", user, by=user, ip=ip)
    return user


def sign_out(user: User, *, ip: str | None) -> None:
    """Sign ``user`` out everywhere: every session of theirs, on every device, ends."""
    end_sessions(user)
    audit.record("auth.signed_out", user, by=user, ip=ip)


def set_active(user: User, active: bool, *, by: User) -> User:
    """Activate or deactivate a user; deactivating ends their sessions. Admins cannot lock
    themselves out."""
    if user.id == by.id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    user.active = active
    if not active:
        end_sessions(user)
    audit.record("user.activated" if active else "user.deactivated", user, by=by)
    return user


# --------------------------------------------------------------------------- passwords
def request_password_reset(email: str, *, ip: str | None) -> None:
    """Email a reset link to the account with ``email``; to any other address, say there is none.

    Either way one email is queued (at most one an hour per address for unknown addresses),
    so the answer and the time taken do not tell whether the address has an account.
    """
    email = _normal(email)
    user = find_user(email)
    if user is None or not user.active:
        notify(
            email,
            "password_reset_no_account",
            subject="Resetting your password on the broker",
            dedupe_key=f"password_reset_no_account:{_hour()}",
            deactivated=user is not None,
        )
        audit.record("user.password_reset_requested", user or "User", by=None, ip=ip, known=False)
        return
    notify(
        user,
        "password_reset",
        subject="Reset your password on the broker",
        dedupe_key=f"password_reset:{user.id}:{clock.now().isoformat()}",
        token=link_token("reset", user),
        minutes=int(current_app.config["RESET_LINK_MINUTES"]),
    )
    audit.record("user.password_reset_requested", user, by=None, ip=ip, known=True)


def reset_password(token: str, password: str) -> User:
    """Set a new password from a reset link; the link dies and every session ends.

    Following the link proves the person reads mail at the address, so it is confirmed too.
    """
    user, _ = read_link("reset", token)
    check_password_rules(password, user.email)
    user.set_password(password)
    if user.email_verified_at is None:
        user.email_verified_at = clock.now()
        memberships.when_email_confirmed(user)
    end_sessions(user)
    audit.record("user.password_reset", user, by=user)
    _tell_password_changed(user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Change ``user``'s password (the current one is needed); every session of theirs ends."""
    if not _password_matches(user, current):
        raise WrongPassword("That is not your current password.", field="current_password")
    check_password_rules(new, user.email)
    user.set_password(new)
    end_sessions(user)
    audit.record("user.password_changed", user, by=user)
    _tell_password_changed(user)


def _tell_password_changed(user: User) -> None:
    notify(
        user,
        "password_changed",
        subject="Your password on the broker has changed",
        dedupe_key=f"password_changed:{user.id}:{clock.now().isoformat()}",
    )


# --------------------------------------------------------------------------- email changes
def request_email_change(user: User, password: str, new_email: str) -> None:
    """Start moving ``user`` to ``new_email``: a link goes there, and the old address is told.

    Nothing changes until the link is followed. If ``new_email`` already has an account, that
    address is told instead of getting a link (and ``user`` sees the same answer).
    """
    if not _password_matches(user, password):
        raise WrongPassword("That is not your current password.", field="password")
    new_email = _normal(new_email)
    if new_email == _normal(user.email):
        raise ServiceError("That is already your email address.", field="email")
    if find_user(new_email) is not None:
        notify(
            new_email,
            "email_change_taken",
            subject="Someone tried to move a broker account to your email address",
            dedupe_key=f"email_change_taken:{_hour()}",
        )
    else:
        notify(
            new_email,
            "email_change_verify",
            subject="Confirm your new email address for the broker",
            dedupe_key=f"email_change_verify:{user.id}:{clock.now().isoformat()}",
            recipient=user,
            token=link_token("email", user, e=new_email),
            hours=int(current_app.config["VERIFY_LINK_HOURS"]),
        )
    notify(
        user,
        "email_change_requested",
        subject="A change of your email address on the broker",
        dedupe_key=f"email_change_requested:{user.id}:{clock.now().isoformat()}",
        new_email=new_email,
    )
    audit.record("user.email_change_requested", user, by=user, new_email=new_email)


def confirm_email_change(token: str) -> User:
    """Move the link's user to the new address it names; the old address is told."""
    user, payload = read_link("email", token)
    new_email = _normal(str(payload.get("e", "")))
    if not new_email:
        raise ServiceError("This link is not complete. Ask for a new one.", field="token")
    if find_user(new_email) is not None:
        raise ServiceError(
            "Another account now uses that email address, so yours cannot move to it.",
            field="email",
        )
    old_email = user.email
    user.email = new_email
    user.email_verified_at = clock.now()
    # The organisation's contact follows its person to the new address.
    if user.school is not None and _normal(user.school.careers_leader_email or "") == old_email:
        user.school.careers_leader_email = new_email
    if user.employer is not None and _normal(user.employer.contact_email or "") == old_email:
        user.employer.contact_email = new_email
    audit.record("user.email_changed", user, by=user, old_email=old_email, new_email=new_email)
    notify(
        old_email,
        "email_changed",
        subject="Your email address on the broker has changed",
        dedupe_key=f"email_changed:{user.id}:{clock.now().isoformat()}",
        recipient=user,
        new_email=new_email,
    )
    return user


# --------------------------------------------------------------------------- preferences
def set_email_preferences(user: User, wanted: set[str], *, by: User) -> None:
    """Keep the kinds of email in ``wanted`` and turn off the others ``user``'s role gets."""
    if by.id != user.id and by.role != "admin":
        raise ServiceError("You can change only your own email preferences.")
    offered = kinds_for(user.role)
    unknown = wanted - offered.keys()
    if unknown:
        raise ServiceError(f"Unknown kind of email: {', '.join(sorted(unknown))}.", field="wanted")
    user.email_opt_outs = sorted(offered.keys() - wanted)
    audit.record("user.email_preferences", user, by=by, turned_off=user.email_opt_outs)
