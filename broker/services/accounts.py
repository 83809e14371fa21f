"""Accounts: registering employers and schools, creating staff users, signing in."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from broker import clock
from broker.extensions import db
from broker.models import ROLES, Area, Employer, School, User
from broker.services import audit
from broker.services.errors import ServiceError
from broker.services.places import locate

MIN_PASSWORD_LENGTH = 10


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
    """What a school's careers leader gives to register: the school is found by its URN."""

    urn: int
    name: str
    email: str
    password: str
    phone: str = ""


def _check_new_login(email: str, password: str) -> str:
    email = email.strip().lower()
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None:
        raise ServiceError("An account with this email address already exists.", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(
            f"Choose a password of at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    return email


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


def register_employer(data: EmployerRegistration) -> User:
    """Create an employer organisation and its first user."""
    email = _check_new_login(data.email, data.password)
    if not data.organisation.strip():
        raise ServiceError("Give your organisation's name.", field="organisation")
    place = locate(data.postcode)
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
    return user


def register_school(data: SchoolRegistration) -> User:
    """Create a login for a school found by URN in the imported school list."""
    email = _check_new_login(data.email, data.password)
    school = db.session.scalar(select(School).where(School.urn == data.urn))
    if school is None:
        raise ServiceError(
            f"No school with URN {data.urn} is in the school list. Check the URN on "
            "Get Information About Schools, or ask your coordinator to import it.",
            field="urn",
        )
    user = User(email=email, name=data.name.strip(), role="school", school_id=school.id)
    user.set_password(data.password)
    db.session.add(user)
    if not school.careers_leader_email:
        school.careers_leader_name = data.name.strip()
        school.careers_leader_email = email
        school.careers_leader_phone = data.phone.strip() or None
    db.session.flush()
    audit.record("school.registered", school, by=user)
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
    """Create a user of any role (admins create coordinators and other admins this way)."""
    if role not in ROLES:
        raise ServiceError(
            f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.", field="role"
        )
    email = _check_new_login(email, password)
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
    )
    user.set_password(password)
    user.areas = list(areas or [])
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", user, by=by, role=role, areas=[a.name for a in user.areas])
    return user


def authenticate(email: str, password: str) -> User | None:
    """Return the active user with these credentials, or None."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active or not user.check_password(password):
        return None
    user.last_login_at = clock.now()
    return user


def set_active(user: User, active: bool, *, by: User) -> User:
    """Activate or deactivate a user; admins cannot lock themselves out."""
    if user.id == by.id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    user.active = active
    audit.record("user.activated" if active else "user.deactivated", user, by=by)
    return user
