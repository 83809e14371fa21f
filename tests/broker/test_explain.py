"""Why nothing matched: each rule's count, the words for them, and agreement with the engine."""

from __future__ import annotations

import pytest

from broker import clock, wording
from broker.extensions import db
from broker.models import SchoolBlackout
from broker.services import matching as adapter
from tests.frozen import days

SEMH = "Social, emotional and mental health"


def _vetted(make_employer, **kw):
    return make_employer(
        insurance_expires_on=days(396),
        risk_assessment_on=days(-61),
        dbs_checked=True,
        dbs_renewal_on=days(396),
        **kw,
    )


@pytest.fixture
def world(make_school, make_request, make_offer, make_employer, make_match):
    """A mentoring request for year 9 with an SEMH need its school's profile lists, and one
    offer ruled out by each rule (each offer fails that rule only)."""
    school = make_school(sen_profile=["semh"])
    req = make_request(school=school, type="mentoring", year_group=9, sen_needs=["semh"])

    def offer(**kw):
        kw.setdefault("employer", _vetted(make_employer))
        kw.setdefault("sen_support", ["semh", "autism"])
        return make_offer(type="mentoring", **kw)

    offers = {
        "dates": offer(earliest=days(100), latest=days(150)),
        "avoid_dates": offer(earliest=days(40), latest=days(50)),
        "year": offer(year_min=11, year_max=13),
        "year2": offer(year_min=12, year_max=13),
        "audience": offer(audience="girls"),
        "distance": offer(lat=55.9533, lon=-3.1883),  # Edinburgh, 25 km limit
        "sen": offer(sen_support=[]),
        "sen2": offer(sen_support=["autism"]),
        "checks": offer(employer=make_employer()),  # mentoring needs a DBS check
        "full": offer(capacity=20),
        "refused": offer(),
        "other_type": make_offer(type="talk", employer=_vetted(make_employer)),
    }
    db.session.add(SchoolBlackout(school=school, starts_on=days(35), ends_on=days(55)))
    taker = make_request(type="mentoring", pupils=20)
    make_match(request=taker, offer=offers["full"], pupils=20, status="approved")
    make_match(request=req, offer=offers["refused"], pupils=5, status="rejected")
    db.session.commit()
    return {"school": school, "req": req, "offers": offers}


def test_each_rule_counts_the_offers_it_rules_out(world):
    found = adapter.explain_request(world["req"], clock.today())
    assert found.no_fit and found.fits == 0
    assert found.considered == 11  # every open mentoring offer; the talk is another type
    assert found.ruled_out == {
        "dates": 1,
        "avoid_dates": 1,
        "year": 2,
        "audience": 1,
        "distance": 1,
        "sen": 2,
        "checks": 1,
        "full": 1,
        "refused": 1,
    }
    # Each offer fails one rule only, so it would fit without that rule.
    assert found.only == found.ruled_out
    assert found.missing_needs == {"semh": 2}
    assert found.profile_needs == ("semh",)
    # The counts agree with the engine's own check of each pair (which, like a hand match,
    # does not know which pairs were turned down before).
    today = clock.today()
    for name, offer in world["offers"].items():
        allowed = adapter.pair_allowed(world["req"], offer, today) is not None
        assert allowed is (name == "refused"), name


def test_the_words_name_each_rule_with_its_count(world):
    found = adapter.explain_request(world["req"], clock.today())
    sentence = wording.why_nothing_matched(found)
    assert sentence.startswith("No offer fits: of 11 open offers of this type (Mentoring), ")
    for words in (
        "2 are for other year groups",
        f"2 do not support {SEMH}",
        "1 is too far (over its travel limit)",
        "1 is outside the dates asked for",
        "1 falls only on the school's dates to avoid",
        "1 has no places left",
        "1 is on hold until its employer's safety checks are up to date",
        "1 was turned down for this request before",
        "1 is for girls' or boys' schools only",
    ):
        assert words in sentence
    tips = wording.what_would_help(found)
    assert (
        f"Remove a need that the school's profile added ({SEMH}) if these pupils do not "
        "have it: 2 offers would then fit." in tips
    )
    assert "Widen your dates: 1 offer would then fit." in tips
    assert (
        "Allow online encounters: an online offer is never too far: 1 offer would then fit." in tips
    )


def test_a_need_no_offer_supports_rules_out_every_offer(make_request, make_offer, make_employer):
    req = make_request(type="talk", year_group=9, sen_needs=["semh", "autism"])
    for _ in range(3):
        make_offer(type="talk", sen_support=["autism"], employer=_vetted(make_employer))
    found = adapter.explain_request(req, clock.today())
    assert found.fits == 0 and found.ruled_out["sen"] == 3
    assert found.missing_needs == {"semh": 3}
    assert "3 do not support " + SEMH in wording.why_nothing_matched(found)
    # The school's profile did not add the needs, so the hint does not say it did.
    assert not any("profile added" in tip for tip in wording.what_would_help(found))


def test_an_offer_that_fits_is_counted_and_an_online_one_is_never_too_far(
    world, make_offer, make_employer
):
    make_offer(
        type="mentoring",
        sen_support=["semh"],
        delivery="virtual",
        lat=55.9533,
        lon=-3.1883,
        employer=_vetted(make_employer),
    )
    found = adapter.explain_request(world["req"], clock.today())
    assert found.fits == 1 and not found.no_fit
    assert wording.why_nothing_matched(found).startswith("1 open offer of this type")
    assert wording.what_would_help(found) == []


def test_a_closed_request_is_not_explained(world):
    world["req"].status = "withdrawn"
    db.session.commit()
    found = adapter.explain_request(world["req"], clock.today())
    assert not found.current and not found.no_fit


def test_pair_rules_name_what_blocks_one_pair(world, make_offer, make_employer):
    today = clock.today()
    offers = world["offers"]
    assert adapter.pair_rules(world["req"], offers["year"], today) == ["year"]
    assert adapter.pair_rules(world["req"], offers["distance"], today) == ["distance"]
    assert adapter.pair_rules(world["req"], offers["sen"], today) == ["sen"]
    assert adapter.pair_rules(world["req"], offers["other_type"], today) == ["type"]
    both = make_offer(
        type="mentoring",
        year_min=12,
        year_max=13,
        lat=55.9533,
        lon=-3.1883,
        employer=_vetted(make_employer),
    )
    assert adapter.pair_rules(world["req"], both, today) == ["year", "distance", "sen"]
    assert wording.pair_refusal(["year", "sen"], ["semh"]) == (
        "This offer cannot serve this request under the matching rules: it is for other "
        f"year groups; it does not support {SEMH}."
    )


# ---------------------------------------------------------------- pages


def _text(html: str) -> str:
    from tests.pagetext import parse, text

    return text(parse(html))


def test_the_school_sees_why_nothing_matched_on_its_request_and_list(
    client, auth, world, make_user
):
    auth.login(make_user(role="school", school_id=world["school"].id))
    page = _text(client.get(f"/school/requests/{world['req'].id}/edit").get_data(as_text=True))
    assert "No offer fits: of 11 open offers of this type (Mentoring)" in page
    assert f"2 do not support {SEMH}" in page
    assert f"Remove a need that the school's profile added ({SEMH})" in page
    listing = _text(client.get("/school/requests").get_data(as_text=True))
    assert "No offer fits: of 11 open offers of this type (Mentoring)" in listing


def test_a_new_request_no_offer_could_serve_is_warned_about_at_once(
    client, auth, make_school, make_user, make_offer, make_employer, no_csrf
):
    school = make_school(sen_profile=["semh"])
    make_offer(type="talk", year_min=8, year_max=13, employer=_vetted(make_employer))
    auth.login(make_user(role="school", school_id=school.id))
    form = {
        "type": "talk",
        "year_group": "9",
        "pupils": "30",
        "earliest": days(31).isoformat(),
        "latest": days(89).isoformat(),
        "notes": "",
    }
    # The form fills in the profile's SEMH need; the one talk open does not support it.
    response = client.post("/school/requests/new", data={**form, "sen_needs": ["semh"]})
    assert response.status_code == 302
    page = _text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "Request saved, but as it stands no offer could serve it." in page
    assert f"1 does not support {SEMH}" in page
    # Without the need the talk fits: the usual confirmation, no warning.
    response = client.post("/school/requests/new", data=form, follow_redirects=True)
    page = _text(response.get_data(as_text=True))
    assert "the matcher will look for an employer tonight" in page
    assert "no offer could serve it" not in page
