"""Where one more offer helps most: hand-worked values, and agreement with place_new_offer."""

from __future__ import annotations

import random

import pytest

from matching import SEN_CODES, Locked, MatchingError, Problem, place_new_offer, solve
from matching.marginal import Site, where_one_more_helps
from matching.outcomes import school_outcomes

from .helpers import D0, D1, km_between, offer, request, school

BOSTON = Site("Boston", 52.976, -0.027)


def held(request_id: str, offer_id: str, pupils: int) -> Locked:
    """A locked (approved) match, by keyword as the engine takes it."""
    return Locked(request_id=request_id, offer_id=offer_id, pupils=pupils)


def test_first_encounter_of_a_school_is_priced_by_hand():
    # One school 0.5 km from the site, no offer anywhere (a cold spot), 30% FSM, no encounter
    # yet: twelve places for its twelve pupils are worth, by the default weights,
    #   100 (its first encounter) + 12 x 3 (per pupil) + 6 (FSM 30/50 x 10) + 10 (cold spot)
    #   + 10 x (1 - km/20) (proximity).
    s = school("A", 52.98, -0.03, fsm_pct=30.0)
    p = Problem([s], [request("R", "A", 12, type="workplace_visit", year_group=10)], [])
    [gain] = where_one_more_helps(p, [], [BOSTON], capacity=12)
    km = km_between(52.98, -0.03, BOSTON.lat, BOSTON.lon)
    assert gain.points == pytest.approx(100 + 36 + 6 + 10 + 10 * (1 - km / 20), abs=1e-3)
    assert (gain.site_id, gain.type, gain.year_group) == ("Boston", "workplace_visit", 10)
    assert (gain.pupils, gain.capacity, gain.request_ids) == (12, 12, ("R",))
    assert gain.school_ids == gain.new_schools == ("A",)


def test_school_with_none_this_year_comes_first_and_places_run_out():
    schools = [school("NONE", 52.98, -0.03), school("TWO", 52.97, -0.02, encounters_so_far=2)]
    requests = [request("Rn", "NONE", 10), request("Rt", "TWO", 10)]
    p = Problem(schools, requests, [])
    [gain] = where_one_more_helps(p, [], [BOSTON], capacity=15)
    assert gain.request_ids == ("Rn", "Rt")  # best first
    assert gain.pupils == 15
    assert gain.new_schools == ("NONE",)


def test_demand_already_held_is_not_offered_again_and_counts_as_an_encounter():
    schools = [school("A", 52.98, -0.03), school("B", 52.97, -0.02)]
    requests = [request("Ra", "A", 10), request("Rb", "B", 10)]
    offers = [offer("O", 52.98, -0.03, 10)]
    p = Problem(schools, requests, offers)
    [gain] = where_one_more_helps(p, [held("Ra", "O", 10)], [BOSTON], capacity=30)
    assert gain.request_ids == ("Rb",)
    assert gain.pupils == 10
    assert gain.new_schools == ("B",)
    # With B proposed half its pupils, B is no longer "with none this year".
    [gain] = where_one_more_helps(p, [held("Ra", "O", 10), ("Rb", "O", 5)], [BOSTON], capacity=30)
    assert (gain.pupils, gain.new_schools) == (5, ())


def test_reach_type_and_year_group_decide_which_requests_an_offer_serves():
    schools = [school("NEAR", 52.98, -0.03), school("FAR", 52.98, 0.40)]  # about 29 km east
    requests = [
        request("Rtalk", "NEAR", 10, type="talk", year_group=9),
        request("Rvisit", "NEAR", 10, type="workplace_visit", year_group=10),
        request("Rfar", "FAR", 10, type="talk", year_group=9),
    ]
    p = Problem(schools, requests, [])
    gains = where_one_more_helps(p, [], [BOSTON], capacity=10)
    assert sorted((g.type, g.year_group, g.request_ids) for g in gains) == [
        ("talk", 9, ("Rtalk",)),
        ("workplace_visit", 10, ("Rvisit",)),
    ]
    wider = where_one_more_helps(p, [], [BOSTON], capacity=20, km=40.0, types=["talk"])
    assert [g.request_ids for g in wider] == [("Rtalk", "Rfar")]


def test_neighbouring_sites_serving_the_same_requests_are_listed_once():
    schools = [school("A", 52.98, -0.03)]
    p = Problem(schools, [request("R", "A", 10)], [])
    sites = [BOSTON, Site("Boston Docks", 52.97, -0.02)]
    assert len(where_one_more_helps(p, [], sites)) == 1
    assert len(where_one_more_helps(p, [], sites, overlap=1.01)) == 2


def test_sen_needs_are_named_and_capacity_copies_the_median_offer():
    schools = [school("S", 52.98, -0.03, kind="special")]
    requests = [request("R", "S", 6, sen_needs=frozenset({"autism"}))]
    offers = [offer(f"O{i}", 53.5, -1.5, cap) for i, cap in enumerate((4, 8, 40))]
    p = Problem(schools, requests, offers)
    [gain] = where_one_more_helps(p, [], [BOSTON])
    assert gain.capacity == 8  # the median in-person talk
    assert gain.sen_needs == frozenset({"autism"})
    assert gain.pupils == 6


def test_bad_arguments_are_refused():
    p = Problem([school("A")], [request("R", "A")], [])
    with pytest.raises(MatchingError):
        where_one_more_helps(p, [], [BOSTON], km=0)
    with pytest.raises(MatchingError):
        where_one_more_helps(p, [], [BOSTON], capacity=0)
    assert where_one_more_helps(p, [], []) == []


@pytest.mark.parametrize("seed", range(8))
def test_value_equals_place_new_offer_on_random_problems(seed):
    """The greedy price of each candidate is the min-cost flow's optimum for that offer."""
    rng = random.Random(seed)
    schools = [
        school(
            f"S{i}",
            52.9 + rng.uniform(0, 0.2),
            -0.1 + rng.uniform(0, 0.2),
            fsm_pct=rng.uniform(0, 60),
            encounters_so_far=rng.choice([0, 0, 1, 3]),
            kind=rng.choice(["mainstream", "mainstream", "special"]),
        )
        for i in range(6)
    ]
    requests = [
        request(
            f"R{j}",
            f"S{rng.randrange(6)}",
            rng.randint(3, 30),
            year_group=rng.choice([9, 10]),
            stem_goal=rng.random() < 0.4,
            sen_needs=frozenset({rng.choice(SEN_CODES)}) if rng.random() < 0.2 else frozenset(),
        )
        for j in range(14)
    ]
    offers = [offer(f"O{k}", 52.95, -0.05, rng.randint(5, 25)) for k in range(3)]
    result = solve(schools, requests, offers)
    current = [a for a in result.assignments]
    problem = Problem(schools, requests, offers)
    capacity = rng.randint(8, 60)
    gains = where_one_more_helps(problem, current, [BOSTON], capacity=capacity, overlap=1.01)
    assert gains
    for gain in gains:
        new = offer(
            "NEW",
            BOSTON.lat,
            BOSTON.lon,
            capacity,
            type=gain.type,
            year_min=gain.year_group,
            year_max=gain.year_group,
            max_km=20.0,
            sen_support=frozenset(SEN_CODES),
            earliest=D0,
            latest=D1,
        )
        rows = place_new_offer(problem, current, new)
        assert sum(a.pupils for a in rows) == gain.pupils
        # Integer costs in the flow: at most half a unit of 1/1000 point per pupil and arc.
        assert sum(a.score for a in rows) == pytest.approx(
            gain.points, abs=0.01 + gain.pupils * 2e-3
        )


def test_outcomes_count_requests_pupils_and_goals_per_school():
    schools = [school("A"), school("B", 52.01)]
    requests = [
        request("R1", "A", 20, stem_goal=True, stereotype_goal=True),
        request("R2", "A", 10, sen_needs=frozenset({"autism"})),
        request("R3", "B", 15, stem_goal=True),
    ]
    offers = [
        offer("STEM", capacity=50, stem=True),
        offer("SEN", capacity=50, sen_support=frozenset({"autism"})),
    ]
    p = Problem(schools, requests, offers)
    rows = [held("R1", "STEM", 12), held("R1", "SEN", 3), held("R2", "SEN", 10)]
    out = school_outcomes(p, rows)
    a, b = out["A"], out["B"]
    assert (a.requests, a.pupils_requested, a.requests_served, a.pupils_matched) == (2, 30, 2, 25)
    # R1: STEM met (one of its offers is STEM), stereotype not; R2: SEN met.
    assert (a.goals, a.goals_met) == (3, 2)
    assert (b.requests, b.requests_served, b.pupils_matched, b.goals, b.goals_met) == (
        1,
        0,
        0,
        1,
        0,
    )
    with pytest.raises(MatchingError):
        school_outcomes(p, [held("R9", "STEM", 1)])
