"""Candidates pruned as they stream in keep what pruning every feasible pair at once keeps.

The engine never holds every feasible pair: it finds them offer chunk by offer chunk and
prunes what it holds whenever that grows (issue 14: 62 million pairs at four times national
scale took 6.9 GB). These tests force a prune after every few hundred pairs on a generated
instance with in-person and virtual offers, and compare with the pairs of the unpruned
problem pruned in one go.
"""

from __future__ import annotations

import numpy as np
import pytest

from matching import Problem, max_pupils, solve_problem
from matching import problem as problem_module
from matching.bench import generate
from matching.csvio import read_offers, read_requests, read_schools
from matching.problem import _top_k


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory):
    paths = generate("small", 3, tmp_path_factory.mktemp("small"))
    schools = read_schools(paths["schools"])
    requests = read_requests(paths["requests"], (s.school_id for s in schools))
    offers = read_offers(paths["offers"])
    return schools, requests, offers


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # 40 in-person offers per chunk and a prune whenever 300 pairs are held: hundreds of
    # prunes on an instance of a few thousand pairs.
    monkeypatch.setattr(problem_module, "_IN_PERSON_CHUNK", 40)
    monkeypatch.setattr(problem_module, "_SCHOOL_PAIRS", 500)
    monkeypatch.setattr(problem_module, "_POOL_PAIRS", 300)
    monkeypatch.setattr(problem_module, "_BLOCK", 20_000)


def _pairs(p: Problem) -> dict[tuple[int, int], tuple[float, float]]:
    c = p.candidates
    return {
        (int(r), int(o)): (float(s), float(k))
        for r, o, s, k in zip(c.req, c.off, c.score, c.km, strict=True)
    }


def test_streamed_candidates_are_the_k_best_of_every_feasible_pair(instance, tiny_chunks):
    """The k best each way over all pairs are all kept, with the same scores and distances."""
    schools, requests, offers = instance
    full = Problem(schools, requests, offers, k=None)
    streamed = Problem(schools, requests, offers, k=3)
    c = full.candidates
    assert c.total_before_pruning > 5_000
    assert full.off.virtual[c.off].any() and (~full.off.virtual[c.off]).any()
    keep, _ = _top_k(c.req, c.off, c.score, 3, len(requests), len(offers))
    every = _pairs(full)
    best = {pair for pair, m in zip(every, keep.tolist(), strict=True) if m}
    kept = _pairs(streamed)

    assert streamed.candidates.total_before_pruning == c.total_before_pruning
    assert best <= set(kept)
    assert all(kept[pair] == every[pair] for pair in kept)
    # The rest carry one maximum flow of pupils; pruning still drops pairs.
    assert len(kept) < len(every)
    # Each request keeps its pairs best first, as the solver and reasons read them.
    s = streamed.candidates
    for r in range(len(requests)):
        scores = s.score[s.start[r] : s.start[r + 1]]
        assert np.all(np.diff(scores) <= 0)


def test_streamed_pruning_keeps_every_pupil_that_all_pairs_could_serve(instance, tiny_chunks):
    """Pruning as pairs stream in never lowers how many pupils can be served."""
    schools, requests, offers = instance
    full = Problem(schools, requests, offers, k=None)
    streamed = Problem(schools, requests, offers, k=1)
    c, s = full.candidates, streamed.candidates
    everything = max_pupils(c.req, c.off, full.r_pupils, full.off.capacity)
    assert everything > 0
    assert streamed.max_pupils == everything
    assert max_pupils(s.req, s.off, streamed.r_pupils, streamed.off.capacity) == everything


def test_streaming_in_small_or_large_chunks_gives_the_same_k_best(
    instance, tiny_chunks, monkeypatch: pytest.MonkeyPatch
):
    """How often the held pairs are pruned does not change the k best, nor their order."""
    schools, requests, offers = instance
    small = Problem(schools, requests, offers, k=3)
    monkeypatch.setattr(problem_module, "_IN_PERSON_CHUNK", 2_500)
    monkeypatch.setattr(problem_module, "_SCHOOL_PAIRS", 250_000)
    monkeypatch.setattr(problem_module, "_POOL_PAIRS", 4_000_000)
    monkeypatch.setattr(problem_module, "_BLOCK", 4_000_000)
    large = Problem(schools, requests, offers, k=3)

    def k_best(p: Problem) -> list[tuple[int, int]]:
        c = p.candidates
        keep, order = _top_k(c.req, c.off, c.score, 3, len(requests), len(offers))
        return [(int(c.req[i]), int(c.off[i])) for i in order[keep[order]]]

    assert k_best(small) == k_best(large)
    # Both serve every pupil all pairs could, so the solver serves as many from either.
    assert small.max_pupils == large.max_pupils
    a, b = solve_problem(small), solve_problem(large)
    assert a.pupils_matched > 0
    assert abs(a.objective - b.objective) <= 1e-3 * b.objective
