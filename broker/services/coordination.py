"""What coordinators work with: the review queue, bulk approval, run history and area gaps.

Every query is scoped to the acting user's areas (admins see all), so a coordinator never
sees or acts on another area's schools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.orm import contains_eager, selectinload

from broker import clock
from broker.extensions import db
from broker.gias import MAX_INTEGER
from broker.models import (
    Employer,
    EncounterRequest,
    Match,
    MatchRun,
    Offer,
    School,
    User,
)
from broker.pagination import Page, paginate
from broker.services import holds
from broker.services import matching as adapter
from broker.services.errors import Conflict, NotAllowed
from broker.services.matches import approve_matches
from broker.statuses import LIVE, LOCKED, MatchStatus
from broker.wording import plural

__all__ = [
    "BulkResult",
    "QueueFilters",
    "approve_filtered",
    "area_ids_for",
    "area_gaps",
    "bulk_preview",
    "queue_query",
]

BULK_LIMIT = 500


def area_ids_for(user: User) -> list[int] | None:
    """Return the areas ``user`` may see, or None for all (admins)."""
    if user.role == "admin":
        return None
    if user.role == "coordinator":
        return [a.id for a in user.areas]
    raise NotAllowed("Only coordinators and admins coordinate matches.")


@dataclass(frozen=True)
class QueueFilters:
    """The review queue's filters, as parsed from the query string."""

    area_id: int | None = None
    type: str | None = None
    school: str | None = None
    min_score: float | None = None
    run_id: int | None = None

    @classmethod
    def from_args(cls, args: Any) -> QueueFilters:
        def number(key: str, kind: type) -> Any:
            try:
                return kind(args[key]) if args.get(key) not in (None, "") else None
            except (TypeError, ValueError):
                return None

        return cls(
            area_id=number("area", int),
            type=args.get("type") or None,
            school=(args.get("school") or "").strip() or None,
            min_score=number("min_score", float),
            run_id=number("run", int),
        )

    def as_args(self) -> dict[str, Any]:
        """The filters as query arguments (for links and hidden fields)."""
        out = {
            "area": self.area_id,
            "type": self.type,
            "school": self.school,
            "min_score": self.min_score,
            "run": self.run_id,
        }
        return {k: v for k, v in out.items() if v is not None}


def school_matches(term: str) -> ColumnElement[bool]:
    """SQL: schools whose URN is ``term`` (all digits) or whose name contains it.

    A number beyond a URN's 32-bit column matches no school rather than failing in the
    database; ``%`` and ``_`` in a name are taken literally.
    """
    term = term.strip()
    if term.isdigit():
        return School.urn == int(term) if int(term) <= MAX_INTEGER else false()
    words = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return School.name.ilike(f"%{words}%", escape="\\")


def queue_query(user: User, filters: QueueFilters) -> Select[Any]:
    """Proposed matches in the user's areas matching ``filters``, highest score first."""
    query = (
        select(Match)
        .join(EncounterRequest, Match.request_id == EncounterRequest.id)
        .join(School, EncounterRequest.school_id == School.id)
        .where(Match.status == MatchStatus.PROPOSED)
        .options(
            contains_eager(Match.request).contains_eager(EncounterRequest.school),
            selectinload(Match.offer).selectinload(Offer.employer),
        )
    )
    areas = area_ids_for(user)
    if areas is not None:
        # An IN over the areas' requests lets SQLite use (status, request_id) instead of
        # walking every proposal nationally; the (redundant) filter on the joined school
        # tells PostgreSQL how few schools are left, so it starts from them.
        query = query.where(
            Match.request_id.in_(
                select(EncounterRequest.id)
                .join(School, EncounterRequest.school_id == School.id)
                .where(School.area_id.in_(areas or [-1]))
            ),
            School.area_id.in_(areas or [-1]),
        )
    if filters.area_id is not None:
        query = query.where(School.area_id == filters.area_id)
    if filters.type:
        query = query.where(EncounterRequest.type == filters.type)
    if filters.school:
        query = query.where(school_matches(filters.school))
    if filters.min_score is not None:
        query = query.where(Match.score >= filters.min_score)
    if filters.run_id is not None:
        query = query.where(Match.run_id == filters.run_id)
    return query.order_by(Match.score.desc(), Match.id)


def bulk_preview(user: User, filters: QueueFilters) -> tuple[int, int]:
    """Return how many proposals, and how many pupils, the filters select."""
    sub = queue_query(user, filters).order_by(None).subquery()
    count, pupils = db.session.execute(
        select(func.count(), func.coalesce(func.sum(sub.c.pupils), 0))
    ).one()
    return int(count), int(pupils)


@dataclass
class BulkResult:
    """What a bulk approval did."""

    approved: list[Match]
    skipped: list[tuple[Match, str]]

    @property
    def pupils(self) -> int:
        return sum(m.pupils for m in self.approved)


def approve_filtered(user: User, filters: QueueFilters, *, expected: int) -> BulkResult:
    """Approve every proposal the filters select, as previewed (at most ``BULK_LIMIT``).

    ``expected`` is the count the user confirmed; if the queue changed meanwhile, nothing
    is approved and the user is asked to look again. Rows are locked in one global order
    first, so a bulk approval and single approvals never deadlock or over-allocate; a
    proposal that is no longer one, or no longer fits, is skipped with the reason. The
    places taken are counted once for the whole selection, not once per proposal.
    """
    matches = list(db.session.scalars(queue_query(user, filters).limit(BULK_LIMIT + 1)))
    if len(matches) != expected:
        raise Conflict(
            f"The selection now holds {plural(len(matches), 'proposal')}, not {expected}; "
            "check it again before approving."
        )
    if len(matches) > BULK_LIMIT:
        raise Conflict(f"Approve at most {BULK_LIMIT} at once; narrow the filters.")
    refused = {m.id: exc.message for m, exc in approve_matches(matches, by=user)}
    result = BulkResult([], [])
    for match in matches:
        if match.id in refused:
            result.skipped.append((match, refused[match.id]))
        else:
            result.approved.append(match)
    return result


#: Rows per page in each of the gaps page's lists.
GAPS_PER_PAGE = 50


@dataclass
class AreaGaps:
    """Where an area's provision falls short: three lists, each paged on its own."""

    cold_requests: Page
    schools_without: Page
    unmatched_offers: Page
    checked_at: datetime | None = None  # when the nightly match last looked for cold spots
    unchecked: int = 0  # open requests posted since, not yet looked at


def area_gaps(
    user: User,
    today: date,
    *,
    area_id: int | None = None,
    cold_page: int = 1,
    schools_page: int = 1,
    offers_page: int = 1,
    per_page: int = GAPS_PER_PAGE,
) -> AreaGaps:
    """Cold spots (requests no current offer could serve), schools with no encounter this
    school year, and open offers nobody has been matched to, in the user's areas."""
    areas = area_ids_for(user)
    if area_id is not None:
        if areas is not None and area_id not in areas:
            raise NotAllowed("That area is not yours.")
        areas = [area_id]
    # The nightly match records which open requests no offer could serve; re-running the
    # engine's rules over every request and offer on each view was too slow for a page.
    cold_query = select(EncounterRequest).where(
        EncounterRequest.status == "open",
        EncounterRequest.has_candidate.is_(False),
        EncounterRequest.latest >= today,
    )
    if areas is not None:
        cold_query = cold_query.where(
            EncounterRequest.school_id.in_(select(School.id).where(School.area_id.in_(areas)))
        )
    cold = paginate(
        cold_query.options(selectinload(EncounterRequest.school)).order_by(
            EncounterRequest.latest, EncounterRequest.id
        ),
        page=cold_page,
        per_page=per_page,
        key=EncounterRequest.id,
    )
    year_start = clock.school_year_start(today)
    # The schools that had an encounter are found once, not per school: a correlated NOT
    # EXISTS re-ran the join of matches to requests for each of 3,218 schools, which grew
    # with every approval (38-61 s for the national page with 16,000 agreed matches).
    served = (
        select(EncounterRequest.school_id)
        .join(Match, Match.request_id == EncounterRequest.id)
        .where(
            Match.status.in_(LOCKED),
            EncounterRequest.latest >= year_start,
        )
    )
    schools = select(School).where(School.id.not_in(served))
    matched_offers = select(Match.offer_id).where(Match.status.in_(LIVE))
    offers = (
        select(Offer)
        .join(Employer, Offer.employer_id == Employer.id)
        .options(contains_eager(Offer.employer))
        .where(
            Offer.status == "open",
            Offer.latest >= today,
            Offer.id.not_in(matched_offers),
        )
    )
    if areas is not None:
        schools = schools.where(School.area_id.in_(areas or [-1]))
        offers = offers.where(Employer.area_id.in_(areas or [-1]))
    unchecked_query = select(func.count()).where(
        EncounterRequest.status == "open", EncounterRequest.has_candidate.is_(None)
    )
    if areas is not None:
        unchecked_query = unchecked_query.where(
            EncounterRequest.school_id.in_(select(School.id).where(School.area_id.in_(areas)))
        )
    return AreaGaps(
        # The last full run (its cold-spot flags are written only where they change).
        checked_at=db.session.scalar(
            select(func.max(MatchRun.started_at)).where(
                MatchRun.status == "finished", MatchRun.kind.not_in(("replacement", "new_offer"))
            )
        ),
        unchecked=int(db.session.scalar(unchecked_query) or 0),
        cold_requests=cold,
        schools_without=paginate(
            schools.order_by(School.name, School.id), page=schools_page, per_page=per_page
        ),
        unmatched_offers=paginate(
            offers.order_by(Offer.latest, Offer.id), page=offers_page, per_page=per_page
        ),
    )


#: Rows per page of the hand-match picker (requests, then offers).
PICKER_PER_PAGE = 20


def hand_match_requests(
    user: User,
    today: date,
    *,
    school: str = "",
    type_: str = "",
    page: int = 1,
    per_page: int = PICKER_PER_PAGE,
) -> Page:
    """Open requests a coordinator may match by hand: their areas', by school name (or URN)
    and type.

    Soonest-ending first, so what is about to lapse is at the top.
    """
    areas = area_ids_for(user)
    query = (
        select(EncounterRequest)
        .join(School, EncounterRequest.school_id == School.id)
        .options(contains_eager(EncounterRequest.school))
        .where(EncounterRequest.status == "open", EncounterRequest.latest >= today)
    )
    if areas is not None:
        query = query.where(School.area_id.in_(areas or [-1]))
    if school.strip():
        query = query.where(school_matches(school))
    if type_:
        query = query.where(EncounterRequest.type == type_)
    query = query.order_by(EncounterRequest.latest, School.name, EncounterRequest.id)
    return paginate(query, page=page, per_page=per_page)


@dataclass(frozen=True)
class PickerOffer:
    """An offer the rules allow for a request, with its engine score and places left."""

    offer: Offer
    score: float
    km: float
    reasons: str
    places_left: int


def hand_match_offers(
    request: EncounterRequest,
    today: date,
    *,
    employer: str = "",
    page: int = 1,
    per_page: int = PICKER_PER_PAGE,
) -> tuple[Page, int, int]:
    """The offers a hand match of ``request`` may use, best first, the pupils still to place,
    and how many more the rules allow whose places live matches (proposals too) all hold.

    Only pairs the engine's rules allow (:func:`~broker.services.matching.allowed_offers`)
    with places left after every live match (proposals hold theirs, as
    :func:`~broker.services.matches.hand_match` counts them); ``employer`` filters by name.
    """
    found = adapter.allowed_offers(request, today)
    used = holds.by_offer([o.id for _, o in found])
    wanted = request.pupils - holds.on_request(request.id)
    needle = employer.strip().lower()
    named = [(c, o) for c, o in found if needle in o.employer.name.lower()]
    rows = [
        PickerOffer(o, c.score, c.km, c.reasons, o.capacity - used.get(o.id, 0))
        for c, o in named
        if o.capacity > used.get(o.id, 0)
    ]
    per_page = max(1, per_page)
    pages = max(1, -(-len(rows) // per_page))
    page = max(1, min(page, pages))
    items = rows[(page - 1) * per_page : page * per_page]
    page_ = Page(items=items, page=page, per_page=per_page, total=len(rows))
    return page_, max(0, wanted), len(named) - len(rows)
