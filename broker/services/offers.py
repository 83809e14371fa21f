"""Offers: an employer creates, edits, pauses, reopens, closes and copies its offers.

Only ``open`` offers are matched. Pausing keeps every match already made; closing cancels
unapproved proposals and keeps approved and confirmed matches, which the employer declines
or cancels on the matches page if it must. Lowering the capacity withdraws unapproved
proposals beyond it; only approved and later matches set how low it may go.

Each change locks the offer (and its matches, when it changes them) and checks the offer's
status under the lock, so a change repeated (a double click) is refused and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from broker.extensions import db
from broker.models import (
    ENCOUNTER_TYPES,
    MAX_DAYS,
    MAX_HOURS_A_DAY,
    OFFER_DELIVERY,
    OFFER_STATUSES,
    PROVIDER_KINDS,
    PROVIDER_TOPICS,
    SCHOOL_GENDERS,
    SEN_CODES,
    Employer,
    Match,
    Offer,
    User,
)
from broker.services import audit, employer_checks, holds, places, vetting
from broker.services.errors import Conflict, ServiceError
from broker.services.matches import (
    lock_matches_of,
    lock_rows,
    transition,
    withdraw_proposals_beyond,
)
from broker.services.matching import propose_for_new_offer
from broker.statuses import LIVE, LOCKED, MatchStatus
from broker.wording import plural

MAX_KM = 500.0

SORTS = {
    "title": (Offer.title, Offer.id),
    "type": (Offer.type, Offer.id),
    "earliest": (Offer.earliest, Offer.id),
    "capacity": (Offer.capacity.desc(), Offer.id),
    "status": (Offer.status, Offer.id),
    "newest": (Offer.id.desc(),),
}


@dataclass(frozen=True)
class OfferData:
    """The fields of an offer as an employer gives them."""

    title: str
    type: str
    sector: str
    year_min: int
    year_max: int
    capacity: int
    earliest: date
    latest: date
    description: str = ""
    stem: bool = False
    challenges_stereotype: bool = False
    stereotype_note: str = ""
    sen_support: list[str] = field(default_factory=list)
    delivery: str = "at_workplace"
    audience: str = "mixed"
    max_km: float = 25.0
    postcode: str = ""  # blank: the organisation's postcode
    days: int = 1
    hours_a_day: float = 1.0
    provider_encounter: bool = False
    # The topics the provider confirms it covers: all four, for a provider encounter.
    provider_topics: list[str] = field(default_factory=list)

    @classmethod
    def from_offer(cls, offer: Offer) -> OfferData:
        """Return the data of an existing offer (to copy or edit it)."""
        return cls(**{f: getattr(offer, f) for f in cls.__dataclass_fields__})


def _validate(data: OfferData) -> None:
    if not data.title.strip():
        raise ServiceError("Give the offer a title.", field="title")
    if data.type not in ENCOUNTER_TYPES:
        raise ServiceError(f"Type: unknown encounter type {data.type!r}.", field="type")
    if not data.sector.strip():
        raise ServiceError("Sector: give a sector, e.g. engineering.", field="sector")
    if data.capacity is None or data.capacity < 1:
        raise ServiceError("Capacity must be at least 1 pupil.", field="capacity")
    for name in ("year_min", "year_max"):
        value = getattr(data, name)
        if value is None or not 7 <= value <= 13:
            raise ServiceError("Year groups must be between 7 and 13.", field=name)
    if data.year_min > data.year_max:
        raise ServiceError(
            f"Year groups: the youngest (year {data.year_min}) is above the oldest "
            f"(year {data.year_max}).",
            field="year_max",
        )
    if data.earliest > data.latest:
        raise ServiceError(
            "Dates: the last available date comes before the first.", field="latest"
        )
    if data.days is None or not 1 <= data.days <= MAX_DAYS:
        raise ServiceError(f"Days: give from 1 to {MAX_DAYS} days.", field="days")
    if data.hours_a_day is None or not 0 < data.hours_a_day <= MAX_HOURS_A_DAY:
        raise ServiceError(
            f"Hours a day: give more than 0 and at most {MAX_HOURS_A_DAY:g} hours.",
            field="hours_a_day",
        )
    if data.delivery not in OFFER_DELIVERY:
        raise ServiceError(f"Where: unknown option {data.delivery!r}.", field="delivery")
    if data.audience not in SCHOOL_GENDERS:
        raise ServiceError(f"Audience: unknown option {data.audience!r}.", field="audience")
    if data.max_km is None or not 0 <= data.max_km <= MAX_KM:
        raise ServiceError(f"How far: give a distance from 0 to {MAX_KM:g} km.", field="max_km")
    unknown = sorted(set(data.sen_support) - set(SEN_CODES))
    if unknown:
        raise ServiceError(f"SEN support: unknown codes {', '.join(unknown)}.",
                           field="sen_support")
    if data.challenges_stereotype and not data.stereotype_note.strip():
        raise ServiceError(
            "Role models: say which stereotype they challenge, e.g. female engineers.",
            field="stereotype_note",
        )


def _check_provider(data: OfferData, employer: Employer) -> None:
    if not data.provider_encounter:
        return
    if employer.kind not in PROVIDER_KINDS:
        raise ServiceError(
            "Provider encounter: only colleges, training or apprenticeship providers and "
            "universities offer provider encounters.",
            field="provider_encounter",
        )
    missing = [words for code, words in PROVIDER_TOPICS.items()
               if code not in data.provider_topics]
    if missing:
        raise ServiceError(
            "Provider encounter: it must cover all four topics; tick each it covers "
            f"(missing: {'; '.join(missing)}).",
            field="provider_topics",
        )


def _apply(offer: Offer, data: OfferData, employer: Employer) -> dict[str, object]:
    raw = data.postcode.strip() or employer.postcode
    postcode = places.normalise(raw)
    values: dict[str, object] = {
        "title": data.title.strip(),
        "description": data.description.strip(),
        "type": data.type,
        "sector": data.sector.strip(),
        "stem": data.stem,
        "challenges_stereotype": data.challenges_stereotype,
        "stereotype_note": data.stereotype_note.strip() if data.challenges_stereotype else "",
        "sen_support": [c for c in SEN_CODES if c in data.sen_support],
        "year_min": data.year_min,
        "year_max": data.year_max,
        "capacity": data.capacity,
        "delivery": data.delivery,
        "audience": data.audience,
        "max_km": float(data.max_km),
        "earliest": data.earliest,
        "latest": data.latest,
        "days": data.days,
        "hours_a_day": float(data.hours_a_day),
        "provider_encounter": data.provider_encounter,
    }
    if postcode != offer.postcode or offer.lat is None:
        if postcode == employer.postcode:
            values.update(postcode=postcode, lat=employer.lat, lon=employer.lon)
        else:
            place = places.locate(postcode)
            values.update(postcode=place.postcode, lat=place.lat, lon=place.lon)
    changed = {}
    for key, value in values.items():
        if getattr(offer, key) != value:
            changed[key] = value
            setattr(offer, key, value)
    return changed


def create_offer(employer: Employer, data: OfferData, *, by: User, today: date) -> Offer:
    """Create an open offer, refusing it if the employer's vetting does not cover its type."""
    _validate(data)
    _check_provider(data, employer)
    if data.latest < today:
        raise ServiceError("Dates: the offer's last date has already passed.", field="latest")
    vetting.check_offer_allowed(employer, data.type, today)
    # One offer must not absorb a region's demand, or the country's (issue 10, the flood).
    employer_checks.check_capacity(data.type, data.delivery, data.capacity)
    offer = Offer(employer_id=employer.id, status="open")
    _apply(offer, data, employer)
    db.session.add(offer)
    db.session.flush()
    audit.record("offer.created", offer, by=by, type=offer.type, capacity=offer.capacity)
    # Unmet demand should not wait for the nightly run to see a new offer.
    propose_for_new_offer(offer, by=by)
    return offer


@dataclass(frozen=True)
class OfferUpdate:
    """What :func:`update_offer` did: the fields changed and the proposals withdrawn."""

    changed: dict[str, object]
    withdrawn: list[Match] = field(default_factory=list)

    @property
    def message(self) -> str:
        """Say what happened, for the employer."""
        if not self.withdrawn:
            return "Offer saved."
        n, pupils = len(self.withdrawn), sum(m.pupils for m in self.withdrawn)
        return (
            f"Offer saved. {plural(n, 'proposed match')} for {plural(pupils, 'pupil')} "
            "did not fit the new capacity and "
            f"{'were' if n != 1 else 'was'} withdrawn; the schools stay open to other offers."
        )


def update_offer(offer: Offer, data: OfferData, *, by: User, today: date) -> OfferUpdate:
    """Change an offer. Lowering the capacity withdraws proposals beyond it, lowest score
    first; it cannot drop below the pupils approved and confirmed matches hold."""
    _validate(data)
    _check_provider(data, offer.employer)
    live = lock_matches_of(offer_id=offer.id, statuses=LIVE)
    lock_rows(offers=[offer.id])
    if offer.status in ("closed", "expired"):
        raise Conflict(f"This offer is {offer.status}; copy it to offer it again.")
    firm = holds.pupils_in(live, statuses=LOCKED)
    if data.capacity < firm:
        raise Conflict(
            f"Capacity cannot go below {firm}: approved or confirmed matches hold "
            f"{plural(firm, 'pupil')} on this offer. Decline or cancel matches first.",
            field="capacity",
        )
    if live and data.type != offer.type:
        raise Conflict("Type cannot change while matches hold pupils on this offer.",
                       field="type")
    if offer.status == "open" and data.type != offer.type:
        vetting.check_offer_allowed(offer.employer, data.type, today)
    employer_checks.check_capacity(data.type, data.delivery, data.capacity)
    withdrawn = withdraw_proposals_beyond(
        live, data.capacity, by=by,
        reason=f"The employer lowered the offer's capacity to {data.capacity}.",
    )
    changed = _apply(offer, data, offer.employer)
    db.session.flush()
    if changed:
        audit.record("offer.updated", offer, by=by, fields=sorted(changed))
    if withdrawn:
        audit.record(
            "offer.proposals_withdrawn", offer, by=by, capacity=offer.capacity,
            matches=[m.id for m in withdrawn], pupils=sum(m.pupils for m in withdrawn),
        )
    return OfferUpdate(changed, withdrawn)


def _set_status(offer: Offer, status: str, *, by: User, allowed_from: tuple[str, ...]) -> Offer:
    """Move ``offer`` to ``status`` from one of ``allowed_from``, reading it under a lock."""
    if status not in OFFER_STATUSES:
        raise ServiceError(f"Unknown offer status {status!r}.")
    lock_rows(offers=[offer.id])
    if offer.status == status:
        raise Conflict(f"This offer is already {status}.")
    if offer.status not in allowed_from:
        raise Conflict(f"This offer is {offer.status}; it cannot be {status} now.")
    previous = offer.status
    offer.status = status
    db.session.flush()
    audit.record(f"offer.{status}", offer, by=by, previous=previous)
    return offer


def pause_offer(offer: Offer, *, by: User) -> Offer:
    """Stop matching an offer for now; the matches it has stay as they are."""
    return _set_status(offer, "paused", by=by, allowed_from=("open",))


def reopen_offer(offer: Offer, *, by: User, today: date) -> Offer:
    """Open a paused offer again, if its dates and the employer's vetting still allow it."""
    if offer.latest < today:
        raise Conflict("This offer's dates have passed; copy it to offer it again.")
    vetting.check_offer_allowed(offer.employer, offer.type, today)
    _set_status(offer, "open", by=by, allowed_from=("paused",))
    propose_for_new_offer(offer, by=by)
    return offer


def close_offer(offer: Offer, *, by: User) -> Offer:
    """Close an offer for good: unapproved proposals are cancelled, approved ones stay."""
    proposals = lock_matches_of(offer_id=offer.id, statuses={MatchStatus.PROPOSED})
    _set_status(offer, "closed", by=by, allowed_from=("open", "paused"))
    for match in proposals:
        transition(match, MatchStatus.CANCELLED, by=by, reason="The employer closed the offer.")
    db.session.flush()
    return offer


def _next_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def copy_offer(offer: Offer, *, by: User, today: date) -> Offer:
    """Copy an offer (typically last year's) with its dates a year on, as a new open offer."""
    try:
        earliest, latest = _next_year(offer.earliest), _next_year(offer.latest)
        while latest < today:
            earliest, latest = _next_year(earliest), _next_year(latest)
    except ValueError:  # beyond 9999-12-31
        raise ServiceError(
            "Dates: this offer runs too far ahead to copy a year on; post a new offer instead.",
            field="latest",
        ) from None
    data = replace(OfferData.from_offer(offer), earliest=earliest, latest=latest)
    copy = create_offer(offer.employer, data, by=by, today=today)
    copy.copied_from_id = offer.id
    db.session.flush()
    audit.record("offer.copied", copy, by=by, copied_from=offer.id)
    return copy


def offers_query(
    employer: Employer, *, status: str = "", type: str = "", sort: str = "newest"
) -> Select:
    """Return the employer's offers, filtered and sorted by whitelisted keys, for paging."""
    query = select(Offer).where(Offer.employer_id == employer.id)
    if status in OFFER_STATUSES:
        query = query.where(Offer.status == status)
    if type in ENCOUNTER_TYPES:
        query = query.where(Offer.type == type)
    return query.order_by(*SORTS.get(sort, SORTS["newest"])).options(
        selectinload(Offer.employer)
    )


def pupils_held_by_offer(offer_ids: list[int]) -> dict[int, int]:
    """Return pupils held by live matches for each of ``offer_ids`` in one query."""
    return holds.by_offer(offer_ids)
