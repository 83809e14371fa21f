"""Vetting and compliance: which checks an employer needs for which offers, and who is blocked.

An employer enters its vetting record once (on its profile) and every school relies on it.
The rules, in one place:

- **Employers' liability insurance** is valid on a day if it has not expired
  (``insurance_expires_on >= day``).
- **Risk assessment** for workplace visits and work experience is valid for
  :data:`RISK_ASSESSMENT_VALID_DAYS` (12 months) from the day it was carried out, inclusive.
- **DBS checks** for volunteers are valid while the volunteers are checked and the renewal
  date has not passed (a renewal date is required with a "yes").

Which offers need what (:data:`REQUIREMENTS`):

- ``workplace_visit`` and ``work_experience`` bring pupils onto the employer's premises, so
  they need valid insurance **and** a valid risk assessment.
- ``mentoring`` needs valid DBS checks: it is the only sustained, small-group or one-to-one
  relationship between the same adult and the same pupils, which is what makes a DBS check
  appropriate under "Keeping children safe in education". One-off talks, fairs, mock
  interviews, challenges and workshops happen under school staff supervision and need none.

An offer whose employer lacks a check it needs is *blocked*: :func:`check_offer_allowed`
refuses to create, open or copy it, and the matcher's adapter excludes it with
:func:`offers_blocked_by_vetting` (or the SQL predicate :func:`blocked_offer_clause`).
Items expiring within :data:`EXPIRY_WARNING_DAYS` are flagged on the employer's dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, false, or_, select

from broker.extensions import db
from broker.models import Employer, Offer
from broker.services.errors import ServiceError

__all__ = [
    "EXPIRY_WARNING_DAYS",
    "REQUIREMENTS",
    "RISK_ASSESSMENT_VALID_DAYS",
    "VettingItem",
    "blocked_offer_clause",
    "check_offer_allowed",
    "expiring_soon",
    "matchable_clause",
    "missing_for",
    "offers_blocked_by_vetting",
    "vetting_items",
]

RISK_ASSESSMENT_VALID_DAYS = 365
EXPIRY_WARNING_DAYS = 30

INSURANCE = "insurance"
RISK_ASSESSMENT = "risk_assessment"
DBS = "dbs"

REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "workplace_visit": (INSURANCE, RISK_ASSESSMENT),
    "work_experience": (INSURANCE, RISK_ASSESSMENT),
    "mentoring": (DBS,),
}

NAMES = {
    INSURANCE: "employers' liability insurance",
    RISK_ASSESSMENT: "risk assessment for workplace visits and work experience",
    DBS: "DBS checks for volunteers",
}


@dataclass(frozen=True)
class VettingItem:
    """One vetting item of an employer on a given day: is it valid, and until when."""

    key: str
    name: str
    valid: bool
    valid_until: date | None

    @property
    def status(self) -> str:
        if self.valid_until is None:
            return "missing"
        return "valid" if self.valid else "expired"


def _valid_until(employer: Employer, key: str) -> date | None:
    if key == INSURANCE:
        return employer.insurance_expires_on
    if key == RISK_ASSESSMENT:
        if employer.risk_assessment_on is None:
            return None
        return employer.risk_assessment_on + timedelta(days=RISK_ASSESSMENT_VALID_DAYS)
    if not employer.dbs_checked:
        return None
    return employer.dbs_renewal_on


def vetting_items(employer: Employer, today: date) -> list[VettingItem]:
    """Return the employer's three vetting items and whether each is valid on ``today``."""
    items = []
    for key in (INSURANCE, RISK_ASSESSMENT, DBS):
        until = _valid_until(employer, key)
        items.append(VettingItem(key, NAMES[key], until is not None and until >= today, until))
    return items


def missing_for(employer: Employer, offer_type: str, today: date) -> list[str]:
    """Return the names of the vetting items ``offer_type`` needs that are missing or expired."""
    items = {i.key: i for i in vetting_items(employer, today)}
    return [items[key].name for key in REQUIREMENTS.get(offer_type, ()) if not items[key].valid]


def check_offer_allowed(employer: Employer, offer_type: str, today: date) -> None:
    """Raise :class:`ServiceError` if the employer's vetting does not allow ``offer_type`` today."""
    missing = missing_for(employer, offer_type, today)
    if missing:
        raise ServiceError(
            f"This offer needs valid {' and '.join(missing)}. Update the vetting record on "
            "your organisation's profile first.",
            field="type",
        )


def expiring_soon(employer: Employer, today: date) -> list[VettingItem]:
    """Return the valid items that expire within :data:`EXPIRY_WARNING_DAYS` of ``today``."""
    horizon = today + timedelta(days=EXPIRY_WARNING_DAYS)
    return [
        item for item in vetting_items(employer, today)
        if item.valid and item.valid_until is not None and item.valid_until <= horizon
    ]


def blocked_offer_clause(today: date) -> ColumnElement[bool]:
    """Return a SQL predicate, true for offers blocked by vetting on ``today``.

    The query must join :class:`Employer` on ``Offer.employer_id``, e.g.
    ``select(Offer).join(Employer).where(~blocked_offer_clause(today))``.
    """
    oldest_risk = today - timedelta(days=RISK_ASSESSMENT_VALID_DAYS)
    bad: dict[str, ColumnElement[bool]] = {
        INSURANCE: or_(
            Employer.insurance_expires_on.is_(None), Employer.insurance_expires_on < today
        ),
        RISK_ASSESSMENT: or_(
            Employer.risk_assessment_on.is_(None), Employer.risk_assessment_on < oldest_risk
        ),
        DBS: or_(
            Employer.dbs_checked.is_(False),
            Employer.dbs_renewal_on.is_(None),
            Employer.dbs_renewal_on < today,
        ),
    }
    by_needs: dict[tuple[str, ...], list[str]] = {}
    for offer_type, needs in REQUIREMENTS.items():
        by_needs.setdefault(needs, []).append(offer_type)
    clauses = [
        and_(Offer.type.in_(types), or_(*(bad[key] for key in needs)))
        for needs, types in by_needs.items()
    ]
    return or_(false(), *clauses)


def matchable_clause() -> ColumnElement[bool]:
    """SQL: the offer's employer has been checked and is not suspended.

    Every query that loads offers for matching has it (see
    :mod:`broker.services.employer_checks`). The query must join :class:`Employer` on
    ``Offer.employer_id``.
    """
    return and_(Employer.verified_at.is_not(None), Employer.suspended_at.is_(None))


def offers_blocked_by_vetting(now: datetime | date) -> set[int]:
    """Return the ids of open offers whose employer's vetting does not cover them at ``now``.

    For the nightly matcher: leave these offers out of the candidates.
    """
    today = now.date() if isinstance(now, datetime) else now
    return set(
        db.session.scalars(
            select(Offer.id)
            .join(Employer, Offer.employer_id == Employer.id)
            .where(Offer.status == "open", blocked_offer_clause(today))
        )
    )
