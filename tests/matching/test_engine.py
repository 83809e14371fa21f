"""Hand-written cases with their expected answers written out, plus incremental repairs."""

from __future__ import annotations

import datetime as dt

import pytest

from matching import (
    Locked,
    MatchingError,
    Problem,
    Weights,
    greedy_baseline,
    place_new_offer,
    replace_after_cancellation,
    solve,
    solve_problem,
)

from .helpers import offer, request, school


def pairs(result):
    return sorted((a.request_id, a.offer_id, a.pupils) for a in result.assignments)


def test_rural_school_beats_city_school_for_the_last_place():
    # The city school has another offer nearby; the rural school has only O1.
    # First come, first served gives O1 to the city school (it asked first, it is nearer).
    schools = [school("CITY", 52.0, -1.0), school("RURAL", 52.2, -1.0)]
    requests = [request("Rc", "CITY", 10), request("Rr", "RURAL", 10)]
    offers = [offer("O1", 52.05, -1.0, 10), offer("O2", 51.94, -1.0, 10, max_km=10)]
    assert pairs(solve(schools, requests, offers)) == [("Rc", "O2", 10), ("Rr", "O1", 10)]
    assert pairs(greedy_baseline(schools, requests, offers)) == [("Rc", "O1", 10)]


def test_girls_school_gets_the_female_engineer():
    schools = [school("MIX", 52.0, -1.0), school("GIRLS", 52.0, -1.01, gender="girls")]
    requests = [
        request("Rm", "MIX", 10, stem_goal=True),
        request("Rg", "GIRLS", 10, stem_goal=True, stereotype_goal=True),
    ]
    engineer = offer(
        "ENG", 52.0, -1.0, 10, stem=True, challenges_stereotype=True, sector="engineering"
    )
    result = solve(schools, requests, [engineer])
    assert pairs(result) == [("Rg", "ENG", 10)]
    a = result.assignments[0]
    assert "STEM goal met" in a.reasons
    assert "girls' school, role models challenge stereotypes" in a.reasons
    assert a.terms["stem"] == 15.0 and a.terms["stereotype"] == 15.0


def test_a_provider_request_gets_only_a_provider_encounter():
    """Provider Access Legislation: a request for a provider encounter takes only a provider's
    offer, even when an ordinary employer is nearer; others may still use providers' offers."""
    schools = [school("S", 52.0, -1.0), school("T", 52.0, -1.02)]
    requests = [request("Rp", "S", 10, provider_only=True), request("Rn", "T", 10)]
    business = offer("BIZ", 52.0, -1.0, 10)
    college = offer("COL", 52.1, -1.0, 10, provider=True)
    assert pairs(solve(schools, requests, [business, college])) == [
        ("Rn", "BIZ", 10), ("Rp", "COL", 10),
    ]
    # With no provider offer the provider request stays unserved.
    assert pairs(solve(schools, requests[:1], [business])) == []
    # An ordinary request may take a provider's offer.
    assert pairs(solve(schools, requests[1:], [college])) == [("Rn", "COL", 10)]


def test_girls_only_offer_never_goes_to_a_boys_school():
    schools = [school("BOYS", gender="boys")]
    result = solve(schools, [request("R", "BOYS")], [offer("O", audience="girls")])
    assert pairs(result) == []


def test_sen_need_blocks_an_unsuitable_offer():
    schools = [school("S")]
    requests = [request("R", "S", 8, sen_needs=frozenset({"autism"}))]
    offers = [
        offer("NEAR", 52.0, -1.0, 8),
        offer("FAR", 52.2, -1.0, 8, sen_support=frozenset({"autism", "hearing"})),
    ]
    result = solve(schools, requests, offers)
    assert pairs(result) == [("R", "FAR", 8)]
    assert "SEN needs supported" in result.assignments[0].reasons


def test_locked_matches_consume_capacity_and_stay():
    schools = [school("A"), school("B")]
    requests = [request("RA", "A", 6), request("RB", "B", 10)]
    offers = [offer("O", capacity=10)]
    result = solve(
        schools, requests, offers, locked=[Locked(request_id="RB", offer_id="O", pupils=6)]
    )
    assert [(a.request_id, a.offer_id, a.pupils, a.locked) for a in result.assignments] == [
        ("RB", "O", 6, True),
        ("RA", "O", 4, False),
    ]


def test_locked_beyond_capacity_is_refused():
    with pytest.raises(MatchingError, match="capacity"):
        solve(
            [school("A")],
            [request("R", "A", 20)],
            [offer("O", capacity=10)],
            locked=[Locked(request_id="R", offer_id="O", pupils=12)],
        )


def test_forbidden_pair_is_never_proposed():
    schools = [school("A")]
    requests = [request("R", "A", 10)]
    offers = [offer("BEST", 52.0, -1.0, 10), offer("OTHER", 52.1, -1.0, 10)]
    assert pairs(solve(schools, requests, offers)) == [("R", "BEST", 10)]
    result = solve(schools, requests, offers, forbidden=[("R", "BEST")])
    assert pairs(result) == [("R", "OTHER", 10)]


def test_avoid_dates_block_a_window_entirely_covered():
    # The offer runs 2-6 March only; the school is away 1-6 March, so only O_LATE fits.
    schools = [
        school(
            "A",
            avoid_dates=(
                (dt.date(2026, 3, 1), dt.date(2026, 3, 4)),
                (dt.date(2026, 3, 5), dt.date(2026, 3, 6)),
            ),
        )
    ]
    requests = [request("R", "A", 10)]
    offers = [
        offer("O_EARLY", latest=dt.date(2026, 3, 6)),
        offer("O_LATE", 52.1, -1.0, earliest=dt.date(2026, 3, 6)),
    ]
    assert pairs(solve(schools, requests, offers)) == [("R", "O_LATE", 10)]


def test_first_encounter_beats_a_third():
    # A has had two encounters; B none. One place left: it goes to B despite A being nearer.
    schools = [school("A", 52.0, -1.0, encounters_so_far=2), school("B", 52.1, -1.0)]
    requests = [request("RA", "A", 10), request("RB", "B", 10)]
    assert pairs(solve(schools, requests, [offer("O", 52.0, -1.0, 10)])) == [("RB", "O", 10)]


def test_small_request_is_not_crowded_out_by_a_big_one():
    # Equal schools, one offer of 30: the 5-pupil request is served whole, the 30 gets 25.
    schools = [school("A"), school("B")]
    requests = [request("BIG", "A", 30), request("SMALL", "B", 5)]
    assert pairs(solve(schools, requests, [offer("O", capacity=30)])) == [
        ("BIG", "O", 25),
        ("SMALL", "O", 5),
    ]


def test_previous_proposal_is_kept_by_the_stability_bonus():
    schools = [school("A")]
    requests = [request("R", "A", 10)]
    offers = [offer("NEAR", 52.0, -1.0, 10), offer("ALSO", 52.01, -1.0, 10)]
    assert pairs(solve(schools, requests, offers)) == [("R", "NEAR", 10)]
    assert pairs(solve(schools, requests, offers, previous=[("R", "ALSO")])) == [("R", "ALSO", 10)]


def test_scores_add_up_and_alternatives_are_listed():
    schools = [school("A", fsm_pct=50.0, kind="special")]
    requests = [request("R", "A", 10)]
    offers = [offer("O1", 52.0, -1.0, 10), offer("O2", 52.1, -1.0, 10), offer("O3", 52.2, -1.0, 10)]
    result = solve(schools, requests, offers, weights=Weights.from_mapping({"cold_spot": 0}))
    a = result.assignments[0]
    assert a.offer_id == "O1"
    assert a.score == pytest.approx(sum(a.terms.values()), abs=0.01)
    assert a.score == pytest.approx(result.objective, abs=0.01)
    assert a.terms["few_encounters"] == 100.0 and a.terms["special"] == 15.0
    assert [c.offer_id for c in result.alternatives("R", n=2)] == ["O2", "O3"]


def test_weights_reject_unknown_and_bad_values():
    with pytest.raises(MatchingError):
        Weights.from_mapping({"nonsense": 1})
    with pytest.raises(MatchingError):
        Weights(decay=1.5)
    assert Weights.from_mapping({"stem": "20"}).stem == 20.0


def test_duplicate_ids_and_unknown_school_are_refused():
    with pytest.raises(MatchingError, match="duplicate"):
        Problem([school("A"), school("A")], [], [])
    with pytest.raises(MatchingError, match="unknown school"):
        Problem([school("A")], [request("R", "Z")], [])


def test_int_ids_work_as_the_web_app_passes_them():
    result = solve([school(1)], [request(10, 1)], [offer(100)])
    assert pairs(result) == [(10, 100, 10)]


def test_replacement_after_cancellation_uses_freed_demand_and_capacity():
    schools = [school("A"), school("B", 52.05, -1.0)]
    requests = [request("RA", "A", 10), request("RB", "B", 10)]
    offers = [offer("O1", capacity=10), offer("O2", 52.1, -1.0, capacity=10)]
    result = solve(schools, requests, offers)
    assert pairs(result) == [("RA", "O1", 10), ("RB", "O2", 10)]
    # The employer of O1 pulls out: RA has no other room, O2 is full -> nothing to propose.
    new = replace_after_cancellation(
        result.problem, result.assignments, "RA", "O1", offer_withdrawn=True
    )
    assert new == []
    # RB's school cancels: O2's 10 places go to nobody else (RA is served) -> nothing.
    assert (
        replace_after_cancellation(
            result.problem, result.assignments, "RB", "O2", request_withdrawn=True
        )
        == []
    )
    # Just the match RA-O1 is cancelled; RA cannot get O1 again and O2 is full.
    extra = offer("O3", 52.0, -1.0, capacity=4)
    problem = Problem(schools, requests, [*offers, extra])
    current = [a for a in result.assignments]
    new = replace_after_cancellation(problem, current, "RA", "O1")
    assert sorted((a.request_id, a.offer_id, a.pupils) for a in new) == [("RA", "O3", 4)]


def test_new_offer_goes_to_unmet_demand_only():
    schools = [school("A"), school("B", 52.05, -1.0)]
    requests = [request("RA", "A", 10), request("RB", "B", 10)]
    result = solve(schools, requests, [offer("O1", capacity=10)])
    assert pairs(result) == [("RA", "O1", 10)] or pairs(result) == [("RB", "O1", 10)]
    unserved = "RB" if pairs(result)[0][0] == "RA" else "RA"
    new = place_new_offer(result.problem, result.assignments, offer("N", 52.02, -1.0, 15))
    assert [(a.request_id, a.offer_id, a.pupils) for a in new] == [(unserved, "N", 10)]
    with pytest.raises(MatchingError):
        place_new_offer(result.problem, result.assignments, offer("O1"))


def test_pruning_keeps_the_pairs_a_maximum_flow_needs():
    """Every request's best offer is O1 and every offer's best request is the special school's
    R1, so k=1 by score alone keeps no pair from R2 or R3 to O2 or O3 and could serve only 20
    of the 30 pupils; the maximum flow's pairs keep all 30 within reach."""
    schools = [school("S1", kind="special"), school("S2"), school("S3")]
    requests = [request(f"R{i}", f"S{i}", 10) for i in (1, 2, 3)]
    offers = [offer("O1"), offer("O2", lat=52.09), offer("O3", lat=52.09, lon=-1.01)]
    problem = Problem(schools, requests, offers, k=1)
    c = problem.candidates
    kept = {(requests[r].request_id, offers[o].offer_id) for r, o in zip(c.req, c.off, strict=True)}
    by_score = {("R1", "O1"), ("R2", "O1"), ("R3", "O1"), ("R1", "O2"), ("R1", "O3")}
    assert by_score < kept
    assert problem.max_pupils == 30
    result = solve_problem(problem)
    assert result.pupils_matched == 30


@pytest.mark.parametrize(
    "offers_near, words",
    [
        (1, "cold spot: 1 in-person offer with places within 25 km"),
        (2, "cold spot: 2 in-person offers with places within 25 km"),
    ],
)
def test_cold_spot_reason_agrees_in_number(offers_near, words):
    # Few offers within 25 km make the school a cold spot; the reason counts them in words
    # that agree with the number ("1 offer", never "1 offers").
    offers = [offer(f"O{i}", 52.0, -1.0 + 0.01 * i, 10) for i in range(offers_near)]
    result = solve([school("S")], [request("R", "S", 10)], offers)
    assert words in result.assignments[0].reasons
