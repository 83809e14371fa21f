"""Match statuses: one enum, named sets, and one way to count the pupils matches hold."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from broker.models import Match, MatchEvent
from broker.services import holds, idlists
from broker.services.matches import TRANSITIONS
from broker.statuses import (
    BOOKED,
    CONFIRMED,
    LIVE,
    LOCKED,
    PENDING,
    REFUSED,
    MatchStatus,
)

ROOT = Path(__file__).resolve().parents[2]
VALUES = {s.value for s in MatchStatus}


def test_the_database_accepts_exactly_the_enums_statuses():
    """The CHECK constraint on matches.status lists the enum's values, no more and no fewer,
    and every value fits the status columns (matches and their history)."""
    [check] = [
        c for c in Match.__table__.constraints if (c.name or "").endswith("status_known")
    ]
    listed = set(re.findall(r"'([a-z_]+)'", str(check.sqltext)))
    assert listed == VALUES
    longest = max(len(v) for v in VALUES)
    assert Match.__table__.c.status.type.length >= longest
    assert MatchEvent.__table__.c.to_status.type.length >= longest
    assert MatchEvent.__table__.c.from_status.type.length >= longest


def test_every_status_has_its_transitions_and_only_known_ones():
    assert set(TRANSITIONS) == VALUES
    assert all(to in MatchStatus for targets in TRANSITIONS.values() for to in targets)


def test_the_named_sets_say_what_people_rely_on():
    """A proposal holds places but is not booked (issue 9 §2); what someone refused never
    holds pupils; what is locked or confirmed is live."""
    assert MatchStatus.PROPOSED in LIVE
    assert MatchStatus.PROPOSED not in BOOKED | LOCKED | CONFIRMED
    assert BOOKED < LOCKED < LIVE
    assert CONFIRMED < LOCKED
    assert PENDING < LIVE
    assert not REFUSED & LIVE
    assert MatchStatus.SUPERSEDED not in LIVE | REFUSED  # a superseded pair may come back
    # What can still move (has somewhere to go) and what cannot:
    for status in MatchStatus:
        ended = not TRANSITIONS[status] and status != MatchStatus.DELIVERED
        assert ended == (status not in LIVE)


def _status_strings(source: str) -> list[tuple[int, str]]:
    """Where ``source`` writes a match status as a string: alone ("approved") or quoted in
    SQL ("status = 'approved'"), as (line, string)."""
    quoted = re.compile(r"'(" + "|".join(sorted(VALUES)) + r")'")
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value in VALUES or quoted.search(node.value)
    ]


def test_no_match_status_is_written_as_a_string_outside_the_enum():
    """Code names statuses by the enum and its sets (broker/statuses.py), never by string,
    so that a set such as "what holds pupils" is written once. Templates may compare."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {value[:40]!r}"
        for package in ("broker", "jobs")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "broker" / "statuses.py"
        for line, value in _status_strings(path.read_text())
    ]
    assert offenders == []


def test_the_ban_finds_a_status_written_as_a_string():
    """The check above sees plain and quoted statuses, and passes prose and other words."""
    source = (
        'a = m.status == "approved"\n'
        "b = text(\"UPDATE matches SET status = 'cancelled'\")\n"
        'c = "The approved match"\n'
        'd = m.status == MatchStatus.APPROVED or r.status == "open"\n'
    )
    assert _status_strings(source) == [
        (1, "approved"),
        (2, "UPDATE matches SET status = 'cancelled'"),
    ]


@pytest.fixture
def offer_with_matches(make_offer, make_request, make_match):
    offer = make_offer(capacity=100)
    made = {
        status: make_match(offer=offer, request=make_request(pupils=30), pupils=n, status=status)
        for status, n in [
            (MatchStatus.PROPOSED, 3),
            (MatchStatus.APPROVED, 5),
            (MatchStatus.ACCEPTED, 7),
            (MatchStatus.DELIVERED, 11),
            (MatchStatus.DECLINED, 13),
            (MatchStatus.SUPERSEDED, 17),
        ]
    }
    return offer, made


def test_pupils_held_count_live_or_locked_matches_only(offer_with_matches):
    offer, made = offer_with_matches
    assert holds.on_offer(offer.id) == 3 + 5 + 7 + 11
    assert holds.on_offer(offer.id, statuses=LOCKED) == 5 + 7 + 11
    assert holds.on_offer(offer.id, exclude=[made[MatchStatus.ACCEPTED].id]) == 3 + 5 + 11
    request = made[MatchStatus.APPROVED].request
    assert holds.on_request(request.id) == 5
    assert holds.by_offer_where(Match.offer_id == offer.id) == {offer.id: 3 + 5 + 7 + 11}
    assert holds.pupils_in(made.values(), statuses=LOCKED) == 5 + 7 + 11


def test_pupils_held_are_the_same_read_by_id_lists_or_in_one_pass(
    offer_with_matches, make_offer, monkeypatch
):
    """Many ids are read in one pass over the matches (the nightly run's case); the counts,
    and the matches left out, are the same as with IN (...) lists."""
    offer, made = offer_with_matches
    empty = make_offer()
    ids = [offer.id, empty.id, offer.id + 10_000]
    skip = [made[MatchStatus.PROPOSED].id]
    by_lists = holds.by_offer(ids, exclude=skip)
    monkeypatch.setattr(idlists, "SCAN_ABOVE", 1)
    assert holds.by_offer(ids, exclude=skip) == by_lists == {offer.id: 5 + 7 + 11}
