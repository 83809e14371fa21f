"""Requests: a school asks for an encounter for a cohort of one year group, in a window.

Once matches hold pupils on a request, only what cannot invalidate them may change: the
pupils, the goals and the notes. Lowering the pupils withdraws unapproved proposals beyond
them; it cannot go below the pupils approved and confirmed matches hold. Withdrawing cancels
unapproved proposals; approved or confirmed matches must be declined or cancelled first.

Each change locks the request's live matches and then the request, and checks its status
under the lock, so a change repeated (a double click) is refused and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Select, select

from broker.extensions import db
from broker.models import (
    ENCOUNTER_TYPES,
    REQUEST_STATUSES,
    SEN_CODES,
    EncounterRequest,
    Match,
    School,
    User,
)
from broker.services import audit, holds
from broker.services.errors import Conflict, ServiceError
from broker.services.matches import (
    lock_matches_of,
    lock_rows,
    transition,
    withdraw_proposals_beyond,
)
from broker.services.profiles import year_group_pupils
from broker.statuses import LIVE, LOCKED, MatchStatus
from broker.wording import plural

SORTS = {
    "type": (EncounterRequest.type, EncounterRequest.id),
    "year": (EncounterRequest.year_group, EncounterRequest.id),
    "pupils": (EncounterRequest.pupils.desc(), EncounterRequest.id),
    "earliest": (EncounterRequest.earliest, EncounterRequest.id),
    "status": (EncounterRequest.status, EncounterRequest.id),
    "newest": (EncounterRequest.id.desc(),),
}

# What cannot change once matches hold pupils: the matches were made against these.
FIXED_WHEN_MATCHED = ("type", "year_group", "earliest", "latest", "sen_needs", "provider_only")


@dataclass(frozen=True)
class RequestData:
    """The fields of a request as a school gives them."""

    type: str
    year_group: int
    pupils: int
    earliest: date
    latest: date
    stem_goal: bool = False
    stereotype_goal: bool = False
    sen_needs: list[str] = field(default_factory=list)
    notes: str = ""
    provider_only: bool = False


def _validate(school: School, data: RequestData) -> None:
    if data.type not in ENCOUNTER_TYPES:
        raise ServiceError(f"Type: unknown encounter type {data.type!r}.", field="type")
    if data.year_group is None or not 7 <= data.year_group <= 13:
        raise ServiceError("Year group must be between 7 and 13.", field="year_group")
    if data.pupils is None or data.pupils < 1:
        raise ServiceError("Pupils must be at least 1.", field="pupils")
    cohort = year_group_pupils(school.id, data.year_group)
    if cohort is not None and data.pupils > cohort:
        raise ServiceError(
            f"Pupils: year {data.year_group} has {plural(cohort, 'pupil')} on your profile, "
            f"so a request cannot be for {data.pupils}.",
            field="pupils",
        )
    if data.earliest > data.latest:
        raise ServiceError("Window: the last date comes before the first.", field="latest")
    unknown = sorted(set(data.sen_needs) - set(SEN_CODES))
    if unknown:
        raise ServiceError(f"SEN needs: unknown codes {', '.join(unknown)}.", field="sen_needs")


def _values(data: RequestData) -> dict[str, object]:
    return {
        "type": data.type,
        "year_group": data.year_group,
        "pupils": data.pupils,
        "earliest": data.earliest,
        "latest": data.latest,
        "stem_goal": data.stem_goal,
        "stereotype_goal": data.stereotype_goal,
        "sen_needs": [c for c in SEN_CODES if c in data.sen_needs],
        "notes": data.notes.strip(),
        "provider_only": bool(data.provider_only),
    }


def create_request(school: School, data: RequestData, *, by: User, today: date) -> EncounterRequest:
    """Create an open request for the nightly matcher."""
    _validate(school, data)
    if data.latest < today:
        raise ServiceError("Window: the last date has already passed.", field="latest")
    request = EncounterRequest(school_id=school.id, status="open", **_values(data))
    db.session.add(request)
    db.session.flush()
    audit.record("request.created", request, by=by, type=request.type,
                 year_group=request.year_group, pupils=request.pupils)
    return request


@dataclass(frozen=True)
class RequestUpdate:
    """What :func:`update_request` did: the fields changed and the proposals withdrawn."""

    changed: dict[str, object]
    withdrawn: list[Match] = field(default_factory=list)

    @property
    def message(self) -> str:
        """Say what happened, for the school."""
        if not self.withdrawn:
            return "Request saved."
        n, pupils = len(self.withdrawn), sum(m.pupils for m in self.withdrawn)
        return (
            f"Request saved. {plural(n, 'proposed match')} for {plural(pupils, 'pupil')} "
            f"no longer fitted and {'were' if n != 1 else 'was'} withdrawn."
        )


def update_request(request: EncounterRequest, data: RequestData, *, by: User) -> RequestUpdate:
    """Change an open request, within what its live matches allow.

    Lowering the pupils withdraws proposals beyond them, lowest score first; it cannot go
    below the pupils approved and confirmed matches hold.
    """
    _validate(request.school, data)
    values = _values(data)
    live = lock_matches_of(request_id=request.id, statuses=LIVE)
    lock_rows(requests=[request.id])
    if request.status != "open":
        raise Conflict(f"This request is {request.status}; it can no longer be changed.")
    if live:
        fixed = [k for k in FIXED_WHEN_MATCHED if getattr(request, k) != values[k]]
        if fixed:
            names = ", ".join(k.replace("_", " ") for k in fixed)
            raise Conflict(
                f"Matches already hold pupils on this request, so its {names} cannot change. "
                "You can change the pupils, goals and notes, or withdraw it and ask again.",
                field=fixed[0],
            )
    firm = holds.pupils_in(live, statuses=LOCKED)
    if data.pupils < firm:
        raise Conflict(
            f"Pupils cannot go below {firm}: approved or confirmed matches already hold "
            f"{plural(firm, 'pupil')} on this request.",
            field="pupils",
        )
    withdrawn = withdraw_proposals_beyond(
        live, data.pupils, by=by, reason=f"The school lowered the pupils to {data.pupils}."
    )
    changed = {}
    for key, value in values.items():
        if getattr(request, key) != value:
            changed[key] = value
            setattr(request, key, value)
    if set(changed) & {"type", "year_group", "earliest", "latest", "sen_needs"}:
        request.has_candidate = None  # the nightly match looks again
    db.session.flush()
    if changed:
        audit.record("request.updated", request, by=by, fields=sorted(changed))
    if withdrawn:
        audit.record(
            "request.proposals_withdrawn", request, by=by, pupils=request.pupils,
            matches=[m.id for m in withdrawn],
        )
    return RequestUpdate(changed, withdrawn)


def withdraw_request(request: EncounterRequest, *, by: User, reason: str = "") -> EncounterRequest:
    """Withdraw an open request, cancelling its unapproved proposals."""
    live = lock_matches_of(request_id=request.id, statuses=LIVE)
    lock_rows(requests=[request.id])
    if request.status != "open":
        raise Conflict(f"This request is {request.status} already.")
    if any(m.status in LOCKED for m in live):
        raise Conflict(
            "This request has approved or confirmed matches. Decline or cancel them on the "
            "matches page first, so the employers know."
        )
    for match in live:
        transition(match, MatchStatus.CANCELLED, by=by, reason="The school withdrew the request.")
    request.status = "withdrawn"
    db.session.flush()
    audit.record("request.withdrawn", request, by=by, reason=reason.strip())
    return request


def requests_query(
    school: School, *, status: str = "", type: str = "", year: int | None = None,
    sort: str = "newest",
) -> Select:
    """Return the school's requests, filtered and sorted by whitelisted keys, for paging."""
    query = select(EncounterRequest).where(EncounterRequest.school_id == school.id)
    if status in REQUEST_STATUSES:
        query = query.where(EncounterRequest.status == status)
    if type in ENCOUNTER_TYPES:
        query = query.where(EncounterRequest.type == type)
    if year is not None and 7 <= year <= 13:
        query = query.where(EncounterRequest.year_group == year)
    return query.order_by(*SORTS.get(sort, SORTS["newest"]))


def pupils_held_by_request(request_ids: list[int]) -> dict[int, int]:
    """Return pupils held by live matches for each of ``request_ids`` in one query."""
    return holds.by_request(request_ids)
