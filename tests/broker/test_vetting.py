"""Vetting rules: which checks each offer type needs, expiry, and the matcher's exclusion list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from broker.extensions import db
from broker.models import Employer, Offer
from broker.services import vetting
from broker.services.errors import ServiceError
from tests.frozen import at, days

TODAY = days(40)


def _vetted(**overrides):
    values = {
        "dbs_checked": True,
        "dbs_renewal_on": TODAY + timedelta(days=200),
        "insurance_expires_on": TODAY + timedelta(days=200),
        "risk_assessment_on": TODAY - timedelta(days=30),
    }
    values.update(overrides)
    return values


def test_items_valid_missing_and_expired(make_employer):
    employer = make_employer(**_vetted(insurance_expires_on=TODAY - timedelta(days=1),
                                       dbs_checked=False))
    items = {i.key: i for i in vetting.vetting_items(employer, TODAY)}
    assert items["insurance"].status == "expired"
    assert items["risk_assessment"].status == "valid"
    assert items["risk_assessment"].valid_until == TODAY - timedelta(days=30) + timedelta(365)
    assert items["dbs"].status == "missing"


def test_risk_assessment_lasts_twelve_months_inclusive(make_employer):
    employer = make_employer(**_vetted(risk_assessment_on=TODAY - timedelta(days=365)))
    assert vetting.missing_for(employer, "workplace_visit", TODAY) == []
    employer.risk_assessment_on = TODAY - timedelta(days=366)
    assert vetting.missing_for(employer, "workplace_visit", TODAY) == [
        vetting.NAMES["risk_assessment"]
    ]


@pytest.mark.parametrize(
    ("offer_type", "needs"),
    [
        ("work_experience", {"insurance", "risk_assessment"}),
        ("workplace_visit", {"insurance", "risk_assessment"}),
        ("mentoring", {"dbs"}),
        ("talk", set()),
        ("careers_fair", set()),
    ],
)
def test_requirements_per_type(make_employer, offer_type, needs):
    bare = make_employer()
    assert set(vetting.missing_for(bare, offer_type, TODAY)) == {vetting.NAMES[k] for k in needs}
    full = make_employer(**_vetted())
    assert vetting.missing_for(full, offer_type, TODAY) == []


def test_check_offer_allowed_names_what_is_missing(make_employer):
    employer = make_employer(**_vetted(insurance_expires_on=None))
    with pytest.raises(ServiceError) as err:
        vetting.check_offer_allowed(employer, "work_experience", TODAY)
    assert "employers' liability insurance" in err.value.message
    assert err.value.field == "type"
    vetting.check_offer_allowed(employer, "talk", TODAY)


def test_expiring_within_thirty_days_is_flagged(make_employer):
    employer = make_employer(**_vetted(insurance_expires_on=TODAY + timedelta(days=30),
                                       dbs_renewal_on=TODAY + timedelta(days=31)))
    assert [i.key for i in vetting.expiring_soon(employer, TODAY)] == ["insurance"]


def test_offers_blocked_by_vetting_matches_the_python_rule(make_employer, make_offer):
    ok = make_employer(**_vetted())
    no_insurance = make_employer(**_vetted(insurance_expires_on=TODAY - timedelta(days=1)))
    old_risk = make_employer(**_vetted(risk_assessment_on=TODAY - timedelta(days=400)))
    no_dbs = make_employer(**_vetted(dbs_checked=False, dbs_renewal_on=None))
    offers = {}
    for name, employer in [("ok", ok), ("ins", no_insurance), ("risk", old_risk),
                           ("dbs", no_dbs)]:
        for offer_type in ("talk", "workplace_visit", "work_experience", "mentoring"):
            offers[name, offer_type] = make_offer(employer=employer, type=offer_type)
    paused = make_offer(employer=no_insurance, type="work_experience", status="paused")
    blocked = vetting.offers_blocked_by_vetting(at(40, 3))
    expected = {
        o.id for (name, offer_type), o in offers.items()
        if vetting.missing_for(o.employer, offer_type, TODAY)
    }
    assert blocked == expected
    assert {offers["ins", "workplace_visit"].id, offers["risk", "work_experience"].id,
            offers["dbs", "mentoring"].id} <= blocked
    assert offers["dbs", "talk"].id not in blocked and offers["ok", "mentoring"].id not in blocked
    assert paused.id not in blocked  # only open offers are reported


def test_blocked_clause_composes_in_a_query(make_employer, make_offer):
    employer = make_employer()
    visit = make_offer(employer=employer, type="workplace_visit")
    talk = make_offer(employer=employer, type="talk")
    usable = db.session.scalars(
        select(Offer.id).join(Employer).where(~vetting.blocked_offer_clause(TODAY))
    ).all()
    assert talk.id in usable and visit.id not in usable
