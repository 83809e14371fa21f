"""Where a match is in its lifecycle: one enum of statuses and the named sets code asks about.

proposed -> approved -> accepted -> delivered is the way through; rejected, declined,
cancelled and superseded are the ways out (see ``broker.services.matches.TRANSITIONS``).
Queries, services, jobs and tests use these names instead of writing status strings, so a
set such as "what holds pupils" is defined once. Each member is a ``str`` equal to the value
stored in the database, so templates may still compare ``match.status == "approved"``.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BOOKED",
    "COVERAGE",
    "CONFIRMED",
    "LIVE",
    "LOCKED",
    "PENDING",
    "REFUSED",
    "Coverage",
    "MatchStatus",
    "PlanState",
    "Response",
]


class MatchStatus(StrEnum):
    """A match's status, as stored in ``matches.status`` (declaration order is the lifecycle's)."""

    PROPOSED = "proposed"  # by the matcher or a coordinator, awaiting a coordinator's approval
    APPROVED = "approved"  # by a coordinator; awaiting both sides
    ACCEPTED = "accepted"  # by both employer and school
    DELIVERED = "delivered"  # the encounter happened
    REJECTED = "rejected"  # by a coordinator
    DECLINED = "declined"  # by the employer or the school
    CANCELLED = "cancelled"  # after approval or acceptance, by either side or a coordinator
    SUPERSEDED = "superseded"  # an unapproved proposal replaced or withdrawn by a later run


class Response(StrEnum):
    """One side's answer to an approved match (``school_response``, ``employer_response``)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


#: Matches that hold pupils now (places on the offer, demand on the request), proposals
#: included: what hand matches and incremental runs leave room for.
LIVE = frozenset(
    {MatchStatus.PROPOSED, MatchStatus.APPROVED, MatchStatus.ACCEPTED, MatchStatus.DELIVERED}
)
#: Approved by a coordinator (and later): a rebalance never moves them, approvals check room
#: against them, and an offer's capacity cannot go below the pupils they hold.
LOCKED = frozenset({MatchStatus.APPROVED, MatchStatus.ACCEPTED, MatchStatus.DELIVERED})
#: Booked but not yet delivered: "matched" in the plan for the year and the headline figures.
BOOKED = frozenset({MatchStatus.APPROVED, MatchStatus.ACCEPTED})
#: Agreed by both sides: on the calendar as confirmed, contacts shown, an encounter counted.
CONFIRMED = frozenset({MatchStatus.ACCEPTED, MatchStatus.DELIVERED})
#: Live but not yet agreed by both sides: an incremental run must not move them.
PENDING = frozenset({MatchStatus.PROPOSED, MatchStatus.APPROVED})
#: Someone said no to the pair (a coordinator rejected it, a side declined or cancelled):
#: the matcher never proposes it again.
REFUSED = frozenset({MatchStatus.REJECTED, MatchStatus.DECLINED, MatchStatus.CANCELLED})


class Coverage(StrEnum):
    """A school's coverage this school year, from its best live match; worst first."""

    NONE = "none"
    PROPOSED = "proposed"
    BOOKED = "booked"
    DELIVERED = "delivered"


#: Coverage levels, worst first.
COVERAGE = tuple(Coverage)


class PlanState(StrEnum):
    """Where a cell of a school's plan, or a benchmark for a year group, stands; best first.

    "Matched" counts booked matches only (:data:`broker.statuses.BOOKED`): a proposal is
    not booked until a coordinator approves it.
    """

    DELIVERED = "delivered"
    MATCHED = "matched"
    PLANNED = "planned"
    # Delivered, but not confirmed meaningful by both sides: activity, not a benchmark met.
    UNCONFIRMED = "unconfirmed"
    GAP = "gap"
