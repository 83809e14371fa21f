"""Profiles: an employer's organisation and vetting record, a school's details and calendar.

Postcodes are re-geocoded whenever they change, so distances in matching stay true.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select

from broker.extensions import db
from broker.models import (
    EMPLOYER_KINDS,
    SCHOOL_GENDERS,
    SEN_CODES,
    Employer,
    School,
    SchoolBlackout,
    SchoolYearGroup,
    User,
)
from broker.services import audit, places
from broker.services.errors import ServiceError
from broker.services.schools import IMPORTED_FIELDS

YEAR_GROUPS = tuple(range(7, 14))


@dataclass(frozen=True)
class EmployerProfile:
    """What an employer may change about its organisation, vetting record included."""

    name: str
    kind: str
    sector: str
    postcode: str
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    website: str = ""
    dbs_checked: bool = False
    dbs_renewal_on: date | None = None
    insurance_expires_on: date | None = None
    risk_assessment_on: date | None = None


@dataclass(frozen=True)
class SchoolProfile:
    """What a school may correct about itself where it knows better than the school list."""

    postcode: str
    gender: str
    pupils: int | None
    fsm_pct: float | None
    careers_leader_name: str = ""
    careers_leader_email: str = ""
    careers_leader_phone: str = ""
    sen_profile: list[str] = field(default_factory=list)


def _changes(obj: object, values: dict[str, object]) -> dict[str, object]:
    changed = {}
    for key, value in values.items():
        if getattr(obj, key) != value:
            changed[key] = value
            setattr(obj, key, value)
    return changed


def update_employer_profile(
    employer: Employer, data: EmployerProfile, *, by: User, today: date
) -> dict[str, object]:
    """Update an employer's organisation and vetting record; return what changed."""
    if not data.name.strip():
        raise ServiceError("Give your organisation's name.", field="name")
    if data.kind not in EMPLOYER_KINDS:
        raise ServiceError(f"Unknown kind of organisation {data.kind!r}.", field="kind")
    if not data.sector.strip():
        raise ServiceError("Give your sector, e.g. engineering.", field="sector")
    if data.dbs_checked and data.dbs_renewal_on is None:
        raise ServiceError(
            "Give the date your volunteers' DBS checks are due for renewal.",
            field="dbs_renewal_on",
        )
    if data.risk_assessment_on is not None and data.risk_assessment_on > today:
        raise ServiceError(
            "The risk assessment date cannot be in the future; give the day it was done.",
            field="risk_assessment_on",
        )
    values: dict[str, object] = {
        "name": data.name.strip(),
        "kind": data.kind,
        "sector": data.sector.strip(),
        "contact_name": data.contact_name.strip() or None,
        "contact_email": data.contact_email.strip().lower() or None,
        "contact_phone": data.contact_phone.strip() or None,
        "website": data.website.strip() or None,
        "dbs_checked": data.dbs_checked,
        "dbs_renewal_on": data.dbs_renewal_on if data.dbs_checked else None,
        "insurance_expires_on": data.insurance_expires_on,
        "risk_assessment_on": data.risk_assessment_on,
    }
    postcode = places.normalise(data.postcode)
    if postcode != employer.postcode:
        place = places.locate(postcode)
        values.update(postcode=place.postcode, lat=place.lat, lon=place.lon)
    changed = _changes(employer, values)
    db.session.flush()
    if changed:
        audit.record("employer.updated", employer, by=by, fields=sorted(changed))
    return changed


def update_school_profile(school: School, data: SchoolProfile, *, by: User) -> dict[str, object]:
    """Update what a school knows better than the school list; return what changed."""
    if data.gender not in SCHOOL_GENDERS:
        raise ServiceError(f"Unknown intake {data.gender!r}.", field="gender")
    if data.pupils is not None and data.pupils < 0:
        raise ServiceError("Pupils on roll cannot be negative.", field="pupils")
    if data.fsm_pct is not None and not 0 <= data.fsm_pct <= 100:
        raise ServiceError("Free school meals must be a percentage from 0 to 100.", field="fsm_pct")
    unknown = sorted(set(data.sen_profile) - set(SEN_CODES))
    if unknown:
        raise ServiceError(f"Unknown SEN codes: {', '.join(unknown)}.", field="sen_profile")
    values: dict[str, object] = {
        "gender": data.gender,
        "pupils": data.pupils,
        "fsm_pct": data.fsm_pct,
        "careers_leader_name": data.careers_leader_name.strip() or None,
        "careers_leader_email": data.careers_leader_email.strip().lower() or None,
        "careers_leader_phone": data.careers_leader_phone.strip() or None,
        "sen_profile": [c for c in SEN_CODES if c in data.sen_profile],
    }
    postcode = places.normalise(data.postcode)
    if postcode != school.postcode:
        place = places.locate(postcode)
        values.update(postcode=place.postcode, lat=place.lat, lon=place.lon)
    changed = _changes(school, values)
    owned = set(changed) & IMPORTED_FIELDS
    if owned:
        school.local_overrides = sorted(set(school.local_overrides or []) | owned)
    db.session.flush()
    if changed:
        audit.record("school.updated", school, by=by, fields=sorted(changed))
    return changed


def set_year_groups(school: School, pupils: dict[int, int | None], *, by: User) -> None:
    """Set the pupils in each year group (None or absent removes a year group's count)."""
    for year, count in pupils.items():
        if year not in YEAR_GROUPS:
            raise ServiceError(
                f"Year {year} is not a secondary year group (7-13).", field=f"y{year}"
            )
        if count is not None and count < 0:
            raise ServiceError(f"Pupils in year {year} cannot be negative.", field=f"y{year}")
    rows = {
        r.year_group: r
        for r in db.session.scalars(
            select(SchoolYearGroup).where(SchoolYearGroup.school_id == school.id)
        )
    }
    changed: dict[int, int | None] = {}
    for year, count in pupils.items():
        row = rows.get(year)
        if count is None:
            if row is not None:
                db.session.delete(row)
                changed[year] = None
        elif row is None:
            db.session.add(SchoolYearGroup(school_id=school.id, year_group=year, pupils=count))
            changed[year] = count
        elif row.pupils != count:
            row.pupils = count
            changed[year] = count
    db.session.flush()
    db.session.expire(school, ["year_groups"])
    if changed:
        audit.record("school.year_groups", school, by=by, changed=changed)


def year_group_pupils(school_id: int, year_group: int) -> int | None:
    """Return the pupils a school has in one year group, or None if it has not said."""
    return db.session.scalar(
        select(SchoolYearGroup.pupils).where(
            SchoolYearGroup.school_id == school_id, SchoolYearGroup.year_group == year_group
        )
    )


def add_blackout(
    school: School, *, starts_on: date, ends_on: date, reason: str, by: User
) -> SchoolBlackout:
    """Add dates the school wants no encounters on (exams, INSET days, trips)."""
    if ends_on < starts_on:
        raise ServiceError("The last day comes before the first day.", field="ends_on")
    if (ends_on - starts_on).days > 366:
        raise ServiceError("Dates to avoid can span a year at most.", field="ends_on")
    if not reason.strip():
        raise ServiceError("Say what the dates are for, e.g. exam season.", field="reason")
    blackout = SchoolBlackout(
        school_id=school.id, starts_on=starts_on, ends_on=ends_on, reason=reason.strip()[:120]
    )
    db.session.add(blackout)
    db.session.flush()
    db.session.expire(school, ["blackouts"])
    audit.record(
        "school.blackout_added",
        school,
        by=by,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=blackout.reason,
    )
    return blackout


def remove_blackout(blackout: SchoolBlackout, *, by: User) -> None:
    """Remove dates to avoid."""
    school = blackout.school
    audit.record(
        "school.blackout_removed",
        school,
        by=by,
        starts_on=blackout.starts_on,
        ends_on=blackout.ends_on,
    )
    db.session.delete(blackout)
    db.session.flush()
    db.session.expire(school, ["blackouts"])


def avoid_dates(school_ids: list[int]) -> dict[int, list[tuple[date, date]]]:
    """Return each school's dates to avoid as inclusive ``(first, last)`` ranges (matcher)."""
    result: dict[int, list[tuple[date, date]]] = {}
    if not school_ids:
        return result
    rows = db.session.execute(
        select(SchoolBlackout.school_id, SchoolBlackout.starts_on, SchoolBlackout.ends_on)
        .where(SchoolBlackout.school_id.in_(school_ids))
        .order_by(SchoolBlackout.school_id, SchoolBlackout.starts_on)
    )
    for school_id, first, last in rows:
        result.setdefault(school_id, []).append((first, last))
    return result
