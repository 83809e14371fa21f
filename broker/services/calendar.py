"""Calendar feeds: a school's or an employer's confirmed and delivered encounters as iCalendar.

Calendar apps fetch the feed without a session, so its URL carries a token signed with the
app's ``SECRET_KEY`` (itsdangerous) that names the organisation and its ``calendar_key``.
Anyone with the URL can read the feed, as with any calendar app's "secret address"; an
organisation revokes its address by making a new one (:func:`new_feed_address` raises the
key), and changing ``SECRET_KEY`` revokes every feed at once.

The iCalendar text is written by hand per RFC 5545: CRLF line ends, TEXT values escaped,
lines folded at 75 octets, and a DTSTAMP and stable UID on every event. An encounter without
a fixed date yet is an all-day event spanning the window the two sides agreed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from broker.extensions import db
from broker.models import Employer, EncounterRequest, Match, Offer, School, User
from broker.services import audit
from broker.services.matches import common_window
from broker.statuses import CONFIRMED, MatchStatus
from broker.wording import label, plural

#: A calendar's owner: a school or an employer.
Org = TypeVar("Org", School, Employer)

_SALT = "broker.calendar-feed"


def feed_token(secret_key: str, kind: str, org_id: int, key: int = 0) -> str:
    """Return the URL token for ``kind`` ("school" or "employer"), its id and calendar key."""
    return URLSafeSerializer(secret_key, salt=_SALT).dumps([kind, org_id, key])


def read_feed_token(secret_key: str, token: str, kind: str) -> tuple[int, int] | None:
    """Return the organisation id and calendar key a token names, or None if it is forged
    or for another kind. Tokens made before keys existed name key 0."""
    try:
        value = URLSafeSerializer(secret_key, salt=_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(value, list) or len(value) not in (2, 3) or value[0] != kind:
        return None
    parts = value[1:] + [0] * (3 - len(value))
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in parts):
        return None
    return parts[0], parts[1]


def feed_owner(secret_key: str, token: str, model: type[Org]) -> Org | None:
    """The school or employer (``model``) whose current calendar address this token is,
    else None."""
    found = read_feed_token(secret_key, token, model.__name__.lower())
    if found is None:
        return None
    org = db.session.get(model, found[0])
    if org is None or org.calendar_key != found[1]:
        return None
    return org


def new_feed_address(org: School | Employer, *, by: User) -> None:
    """Give ``org`` a new calendar address; the old one stops working at once."""
    org.calendar_key = (org.calendar_key or 0) + 1
    audit.record("calendar.new_address", org, by=by)
    db.session.flush()


@dataclass(frozen=True)
class Event:
    """One calendar event."""

    uid: str
    summary: str
    description: str
    location: str
    start: date
    end: date  # inclusive
    status: str


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 section 3.3.11)."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line into chunks of at most 75 octets, never splitting a character."""
    out: list[str] = []
    current = b""
    for char in line:
        encoded = char.encode("utf-8")
        if len(current) + len(encoded) > 75:
            out.append(current.decode("utf-8"))
            current = b" "  # the leading space counts towards the 75 octets
        current += encoded
    out.append(current.decode("utf-8"))
    return "\r\n".join(out)


def ics_date(day: date) -> str:
    """Format a DATE value (RFC 5545 section 3.3.4): always eight digits, even in year 1.

    ``strftime("%Y")`` drops the leading zeros of years before 1000 on Linux, which would
    make the whole feed unreadable to calendar apps.
    """
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def render_ics(name: str, events: Sequence[Event], *, now: datetime, host: str) -> str:
    """Return an iCalendar document for ``events``."""
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//The broker//Encounters//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}@{host}",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{ics_date(event.start)}",
            *(
                [f"DTEND;VALUE=DATE:{ics_date(event.end + timedelta(days=1))}"]
                if event.end < date.max
                else []  # without DTEND an all-day event lasts its one day
            ),
            f"SUMMARY:{escape_text(event.summary)}",
            f"DESCRIPTION:{escape_text(event.description)}",
            f"LOCATION:{escape_text(event.location)}",
            "STATUS:CONFIRMED" if event.status in CONFIRMED else "STATUS:TENTATIVE",
            "TRANSP:TRANSPARENT",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def _dates(match: Match) -> tuple[date, date]:
    if match.encounter is not None:
        return match.encounter.delivered_on, match.encounter.delivered_on
    if match.scheduled_on is not None:
        return match.scheduled_on, match.scheduled_on
    start, end = common_window(match)
    return start, max(start, end)


def _event(match: Match, *, for_school: bool) -> Event:
    offer, request = match.offer, match.request
    school, employer = request.school, offer.employer
    start, end = _dates(match)
    undated = match.encounter is None and match.scheduled_on is None
    other = employer.name if for_school else school.name
    pupils = plural(match.pupils, "pupil")
    summary = f"{label(offer.type)}: {other} (year {request.year_group}, {pupils})"
    if undated:
        summary += " - date to agree"
    if match.status == MatchStatus.DELIVERED:
        summary += " - delivered"
    if offer.delivery == "virtual":
        location = "Online"
    elif offer.delivery == "at_school":
        location = f"{school.name}, {school.postcode or ''}".strip(", ")
    else:
        location = f"{employer.name}, {offer.postcode}"
    description = f"{offer.title}\n{offer.description}".strip()
    return Event(f"match-{match.id}", summary, description, location, start, end, match.status)


def _matches(*where) -> list[Match]:
    return list(
        db.session.scalars(
            select(Match)
            .join(Offer, Match.offer_id == Offer.id)
            .join(EncounterRequest, Match.request_id == EncounterRequest.id)
            .where(Match.status.in_(CONFIRMED), *where)
            .options(
                joinedload(Match.offer).joinedload(Offer.employer),
                joinedload(Match.request).joinedload(EncounterRequest.school),
                joinedload(Match.encounter),
            )
            .order_by(Match.id)
        ).unique()
    )


def school_events(school: School) -> list[Event]:
    """Return a school's confirmed and delivered encounters as events."""
    mine = select(EncounterRequest.id).where(EncounterRequest.school_id == school.id)
    return [_event(m, for_school=True) for m in _matches(Match.request_id.in_(mine))]


def employer_events(employer: Employer) -> list[Event]:
    """Return an employer's confirmed and delivered encounters as events."""
    mine = select(Offer.id).where(Offer.employer_id == employer.id)
    return [_event(m, for_school=False) for m in _matches(Match.offer_id.in_(mine))]

