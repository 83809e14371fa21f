"""Offer service: validation of every field, capacity held by matches, status and copying."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import AuditEntry, MatchEvent
from broker.services import offers
from broker.services.errors import ServiceError
from tests.frozen import days

TODAY = days(-30)


@pytest.fixture
def employer(make_employer):
    return make_employer(
        insurance_expires_on=days(396), risk_assessment_on=days(-91),
        dbs_checked=True, dbs_renewal_on=days(396),
    )


@pytest.fixture
def user(make_user, employer):
    return make_user(role="employer", employer_id=employer.id)


def _data(**overrides):
    values = dict(
        title="Bridge building", type="talk", sector="engineering", year_min=8, year_max=11,
        capacity=30, earliest=days(34), latest=days(120), stem=True,
        delivery="at_school", max_km=20.0,
    )
    values.update(overrides)
    return offers.OfferData(**values)


def test_create_offer_defaults_postcode_to_the_organisation(employer, user):
    offer = offers.create_offer(employer, _data(), by=user, today=TODAY)
    assert offer.status == "open"
    assert (offer.postcode, offer.lat, offer.lon) == (employer.postcode, employer.lat,
                                                      employer.lon)
    assert db.session.scalar(select(AuditEntry.action)) == "offer.created"


def test_create_offer_geocodes_its_own_postcode(employer, user):
    offer = offers.create_offer(employer, _data(postcode="bs1 4dj"), by=user, today=TODAY)
    assert offer.postcode == "BS1 4DJ" and 51.4 < offer.lat < 51.5


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"capacity": 0}, "capacity", "Capacity must be at least 1"),
        ({"year_min": 6}, "year_min", "between 7 and 13"),
        ({"year_max": 14}, "year_max", "between 7 and 13"),
        ({"year_min": 12, "year_max": 9}, "year_max", "Year groups"),
        ({"earliest": days(121)}, "latest", "Dates"),
        ({"latest": days(-61), "earliest": days(-91)}, "latest",
         "already passed"),
        ({"postcode": "ZZ99 9ZZ"}, "postcode", "ZZ99 9ZZ"),
        ({"postcode": "not a postcode"}, "postcode", "not a valid UK postcode"),
        ({"title": "  "}, "title", "title"),
        ({"max_km": -1.0}, "max_km", "How far"),
        ({"challenges_stereotype": True}, "stereotype_note", "stereotype"),
        ({"sen_support": ["telepathy"]}, "sen_support", "telepathy"),
        ({"days": 0}, "days", "Days"),
        ({"days": 21}, "days", "Days"),
        ({"hours_a_day": 0.0}, "hours_a_day", "Hours a day"),
        ({"hours_a_day": 11.0}, "hours_a_day", "Hours a day"),
    ],
)
def test_create_offer_validation_names_the_field(employer, user, overrides, field, words):
    with pytest.raises(ServiceError) as err:
        offers.create_offer(employer, _data(**overrides), by=user, today=TODAY)
    assert err.value.field == field
    assert words in err.value.message


def test_vetting_blocks_offers_that_need_it(make_employer, make_user):
    bare = make_employer()
    user = make_user(role="employer", employer_id=bare.id)
    with pytest.raises(ServiceError) as err:
        offers.create_offer(bare, _data(type="work_experience"), by=user, today=TODAY)
    assert "insurance" in err.value.message and "risk assessment" in err.value.message
    with pytest.raises(ServiceError, match="DBS"):
        offers.create_offer(bare, _data(type="mentoring"), by=user, today=TODAY)
    offers.create_offer(bare, _data(type="talk"), by=user, today=TODAY)


def test_capacity_cannot_drop_below_approved_pupils(employer, user, make_offer, make_match):
    offer = make_offer(employer=employer, capacity=30)
    make_match(offer=offer, pupils=12, status="approved")
    make_match(offer=offer, pupils=5, status="proposed")
    make_match(offer=offer, pupils=9, status="declined")  # releases its pupils
    with pytest.raises(ServiceError) as err:
        offers.update_offer(offer, replace(_data(), capacity=11), by=user, today=TODAY)
    assert err.value.field == "capacity" and "below 12" in err.value.message
    assert offer.capacity == 30
    saved = offers.update_offer(offer, replace(_data(), capacity=17), by=user, today=TODAY)
    assert offer.capacity == 17 and saved.withdrawn == [] and saved.message == "Offer saved."


def test_lowering_capacity_withdraws_the_lowest_scored_proposals_beyond_it(
    employer, user, make_offer, make_match
):
    """The trap: 100000 places typed by mistake, proposals made at once for 85 pupils."""
    offer = make_offer(employer=employer, capacity=100000)
    firm = make_match(offer=offer, pupils=20, status="accepted", score=1.0)
    best = make_match(offer=offer, pupils=25, status="proposed", score=9.0)
    good = make_match(offer=offer, pupils=15, status="proposed", score=6.0)
    poor = make_match(offer=offer, pupils=10, status="proposed", score=2.0)
    worst = make_match(offer=offer, pupils=15, status="proposed", score=1.5)
    # 85 held; 60 places keep the accepted 20, the best 25 and the good 15.
    saved = offers.update_offer(offer, replace(_data(), capacity=60), by=user, today=TODAY)
    db.session.commit()
    assert offer.capacity == 60
    assert saved.withdrawn == [worst, poor]
    assert [m.status for m in (firm, best, good, poor, worst)] == [
        "accepted", "proposed", "proposed", "superseded", "superseded"
    ]
    assert offers.pupils_held_by_offer([offer.id]) == {offer.id: 60}
    assert saved.message == (
        "Offer saved. 2 proposed matches for 25 pupils did not fit the new capacity and were "
        "withdrawn; the schools stay open to other offers."
    )
    events = db.session.scalars(
        select(MatchEvent).where(MatchEvent.to_status == "superseded").order_by(MatchEvent.id)
    ).all()
    assert [(e.match_id, e.from_status, e.by_id) for e in events] == [
        (worst.id, "proposed", user.id), (poor.id, "proposed", user.id)
    ]
    assert "lowered the offer's capacity to 60" in events[0].reason
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "offer.proposals_withdrawn")
    )
    assert entry.object_id == offer.id and entry.details["pupils"] == 25
    assert entry.details["matches"] == [worst.id, poor.id]
    # Down to the accepted 20: every proposal goes; below it is refused.
    saved = offers.update_offer(offer, replace(_data(), capacity=20), by=user, today=TODAY)
    assert saved.withdrawn == [good, best] and offer.capacity == 20
    with pytest.raises(ServiceError, match="approved or confirmed matches hold 20"):
        offers.update_offer(offer, replace(_data(), capacity=19), by=user, today=TODAY)


def test_type_cannot_change_under_live_matches(employer, user, make_offer, make_match):
    offer = make_offer(employer=employer)
    make_match(offer=offer, pupils=5, status="proposed")
    with pytest.raises(ServiceError) as err:
        offers.update_offer(offer, _data(type="mock_interview"), by=user, today=TODAY)
    assert err.value.field == "type"


def test_pause_reopen_close(employer, user, make_offer, make_match):
    offer = make_offer(employer=employer)
    proposal = make_match(offer=offer, status="proposed")
    approved = make_match(offer=offer, status="approved")
    offers.pause_offer(offer, by=user)
    assert offer.status == "paused"
    with pytest.raises(ServiceError):
        offers.pause_offer(offer, by=user)
    offers.reopen_offer(offer, by=user, today=TODAY)
    assert offer.status == "open"
    offers.close_offer(offer, by=user)
    assert offer.status == "closed"
    assert proposal.status == "cancelled" and approved.status == "approved"
    with pytest.raises(ServiceError):
        offers.reopen_offer(offer, by=user, today=TODAY)
    with pytest.raises(ServiceError, match="copy it"):
        offers.update_offer(offer, _data(), by=user, today=TODAY)
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["offer.paused", "offer.open", "offer.closed", "match.cancelled"]


def test_reopen_refused_when_vetting_lapsed(make_employer, make_user, make_offer):
    employer = make_employer(insurance_expires_on=days(-61),
                             risk_assessment_on=days(-91))
    user = make_user(role="employer", employer_id=employer.id)
    offer = make_offer(employer=employer, type="workplace_visit", status="paused")
    with pytest.raises(ServiceError, match="insurance"):
        offers.reopen_offer(offer, by=user, today=TODAY)


def test_copy_moves_dates_a_year_and_opens(employer, user, make_offer):
    last_year = make_offer(employer=employer, status="expired", earliest=days(-668),
                           latest=days(-640), stereotype_note="", sen_support=["autism"])
    copy = offers.copy_offer(last_year, by=user, today=days(-365))
    assert copy.id != last_year.id and copy.copied_from_id == last_year.id
    assert (copy.earliest, copy.latest) == (days(-303), days(-275))
    assert copy.status == "open" and copy.sen_support == ["autism"]
    assert copy.title == last_year.title and copy.capacity == last_year.capacity


def test_an_offer_keeps_its_duration_and_a_copy_takes_it(employer, user):
    """A week's placement: five days of six hours, 30 hours per pupil, copied a year on."""
    week = offers.create_offer(employer, _data(type="work_experience", delivery="at_workplace",
                                               capacity=10, days=5, hours_a_day=6.0),
                               by=user, today=TODAY)
    assert (week.days, week.hours_a_day, week.duration_hours) == (5, 6.0, 30.0)
    copy = offers.copy_offer(week, by=user, today=days(100))
    assert (copy.days, copy.hours_a_day, copy.duration_hours) == (5, 6.0, 30.0)
    talk = offers.create_offer(employer, _data(), by=user, today=TODAY)
    assert talk.duration_hours == 1.0  # one day of one hour unless the employer says otherwise


def test_copy_handles_leap_day_and_keeps_moving_until_future(employer, user, make_offer):
    old = make_offer(employer=employer, earliest=days(-1006), latest=days(-996))
    copy = offers.copy_offer(old, by=user, today=days(-548))
    assert (copy.earliest, copy.latest) == (days(-276), days(-266))


def test_offers_query_filters_and_sorts_in_sql(employer, make_offer):
    a = make_offer(employer=employer, title="B talk", type="talk")
    b = make_offer(employer=employer, title="A visit", type="workplace_visit", status="paused")
    make_offer(title="Someone else's")
    found = db.session.scalars(offers.offers_query(employer, sort="title")).all()
    assert [o.id for o in found] == [b.id, a.id]
    assert db.session.scalars(offers.offers_query(employer, status="paused")).all() == [b]
    assert db.session.scalars(offers.offers_query(employer, type="talk")).all() == [a]
    # Unknown sort keys and filters fall back safely instead of reaching SQL.
    assert len(db.session.scalars(offers.offers_query(employer, sort="id; drop",
                                                      status="x")).all()) == 2


def test_pupils_held_by_offer(employer, make_offer, make_match):
    offer = make_offer(employer=employer)
    make_match(offer=offer, pupils=4, status="accepted")
    make_match(offer=offer, pupils=3, status="rejected")
    assert offers.pupils_held_by_offer([offer.id]) == {offer.id: 4}
    assert offers.pupils_held_by_offer([]) == {}
