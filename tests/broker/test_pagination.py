"""Pagination: pages hold the right rows in order, whether paged by offset or by key."""

from __future__ import annotations

from sqlalchemy import select

from broker.models import Match
from broker.pagination import paginate


def test_pages_by_key_match_pages_by_offset(app, make_match, make_request, make_offer):
    offer, request = make_offer(capacity=500), make_request(pupils=500)
    scores = [5.0, 9.0, 1.0, 9.0, 7.0, 3.0, 8.0]
    made = [make_match(offer=offer, request=request, pupils=1, score=s) for s in scores]
    expected = [m.id for m in sorted(made, key=lambda m: (-m.score, m.id))]
    query = select(Match).order_by(Match.score.desc(), Match.id)
    for number in (1, 2, 3, 99):
        by_offset = paginate(query, page=number, per_page=3)
        by_key = paginate(query, page=number, per_page=3, key=Match.id)
        assert [m.id for m in by_key.items] == [m.id for m in by_offset.items]
        assert by_key.total == 7 and by_key.pages == 3
    assert [m.id for m in paginate(query, page=2, per_page=3, key=Match.id).items] == expected[3:6]
    # A page past the end shows the last page rather than nothing.
    assert [m.id for m in paginate(query, page=99, per_page=3, key=Match.id).items] == expected[6:]
