"""Seeded synthetic instances and the benchmark behind BENCHMARKS.md.

``python -m matching bench`` writes one instance per size, runs the whole CLI path
(``python -m matching solve``) in a subprocess so each peak memory is its own, then compares
the optimiser with the first-come-first-served baseline and the max-flow bound on pupils.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from .csvio import (
    OFFER_COLUMNS,
    REQUEST_COLUMNS,
    SCHOOL_COLUMNS,
    read_offers,
    read_requests,
    read_schools,
)
from .engine import greedy_baseline, replace_after_cancellation, solve_problem
from .flow import max_pupils
from .model import ENCOUNTER_TYPES, SEN_CODES, Assignment
from .problem import DEFAULT_K, Problem, haversine_km

__all__ = ["SIZES", "generate", "run_bench"]

logger = logging.getLogger(__name__)

#: name -> (schools, requests per school, offers)
SIZES: dict[str, tuple[int, int, int]] = {
    "small": (250, 8, 2_500),
    "medium": (1_000, 8, 10_000),
    "national": (5_000, 8, 50_000),
}

# English cities (lat, lon, weight ~ population); schools and offers cluster around them.
_CITIES = np.array(
    [
        (51.507, -0.128, 9.0),
        (52.486, -1.890, 2.6),
        (53.480, -2.242, 2.8),
        (53.800, -1.549, 1.9),
        (53.408, -2.991, 1.5),
        (54.978, -1.618, 1.1),
        (53.383, -1.465, 1.3),
        (51.455, -2.588, 1.0),
        (52.954, -1.158, 0.8),
        (52.637, -1.140, 0.7),
        (50.910, -1.404, 0.9),
        (50.376, -4.143, 0.5),
        (52.407, -1.510, 0.6),
        (53.744, -0.332, 0.5),
        (51.752, -1.258, 0.4),
        (52.205, 0.122, 0.4),
        (50.822, -0.137, 0.6),
        (52.630, 1.297, 0.4),
        (53.959, -1.082, 0.3),
        (54.574, -1.235, 0.5),
        (52.587, -2.129, 0.5),
        (53.010, -2.180, 0.5),
        (51.621, -3.944, 0.1),
        (50.726, -3.527, 0.3),
    ]
)
_SECTORS = (
    "engineering",
    "health",
    "finance",
    "digital",
    "construction",
    "creative",
    "retail",
    "public_service",
    "science",
    "hospitality",
    "law",
    "logistics",
)
_YEAR_START = dt.date(2025, 9, 8)
_YEAR_DAYS = 300


def _england_points(rng: np.random.Generator, n: int) -> np.ndarray:
    # Rough boxes covering England's land, weighted by area; enough for cold spots.
    boxes = np.array(
        [
            (50.2, 51.3, -5.6, -2.5, 1.0),
            (50.7, 52.0, -2.5, 1.3, 2.5),
            (52.0, 53.3, -3.0, 1.7, 3.0),
            (53.3, 54.6, -3.1, -0.1, 2.5),
            (54.6, 55.7, -3.3, -1.5, 1.0),
        ]
    )
    pick = rng.choice(len(boxes), size=n, p=boxes[:, 4] / boxes[:, 4].sum())
    b = boxes[pick]
    return np.column_stack([rng.uniform(b[:, 0], b[:, 1]), rng.uniform(b[:, 2], b[:, 3])])


def _clustered(
    rng: np.random.Generator,
    n: int,
    rural_share: float,
    spread_deg: float,
) -> tuple[np.ndarray, np.ndarray]:
    w = _CITIES[:, 2] / _CITIES[:, 2].sum()
    city = rng.choice(len(_CITIES), size=n, p=w)
    scale = spread_deg * np.sqrt(_CITIES[city, 2])
    pts = np.column_stack(
        [
            _CITIES[city, 0] + rng.normal(0, 1, n) * scale * 0.6,
            _CITIES[city, 1] + rng.normal(0, 1, n) * scale,
        ]
    )
    rural = rng.random(n) < rural_share
    pts[rural] = _england_points(rng, int(rural.sum()))
    near = np.full(n, np.inf)
    for lat, lon, _ in _CITIES:
        near = np.minimum(
            near, haversine_km(pts[:, 0], pts[:, 1], np.full(n, lat), np.full(n, lon))
        )
    return pts, near


def _day(offset: np.ndarray) -> list[str]:
    base = _YEAR_START.toordinal()
    return [dt.date.fromordinal(base + int(x)).isoformat() for x in offset]


def _sen_lists(rng: np.random.Generator, counts: np.ndarray) -> list[str]:
    return [";".join(rng.choice(SEN_CODES, size=int(c), replace=False)) for c in counts]


def generate(size: str, seed: int, out_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Write schools.csv, requests.csv and offers.csv for a named size; return their paths.

    Schools cluster around English cities with a rural spread; offers are more concentrated
    in cities (rural schools are cold spots) and supply is scarcer than demand.

    Examples
    --------
    >>> import tempfile
    >>> paths = generate("small", 1, tempfile.mkdtemp())
    >>> sorted(paths)
    ['offers', 'requests', 'schools']
    """
    n_s, per, n_o = SIZES[size]
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pts, near = _clustered(rng, n_s, rural_share=0.18, spread_deg=0.12)
    kind = rng.choice(["mainstream", "special", "ap"], size=n_s, p=[0.88, 0.08, 0.04])
    gender = rng.choice(["mixed", "girls", "boys"], size=n_s, p=[0.88, 0.07, 0.05])
    urban = near < 15
    fsm = np.clip(rng.beta(2, 6, n_s) * 100 + urban * 6 + (kind != "mainstream") * 15, 0, 100)
    enc = rng.poisson(1.5, n_s)
    paths = {
        "schools": str(out / "schools.csv"),
        "requests": str(out / "requests.csv"),
        "offers": str(out / "offers.csv"),
    }
    with open(paths["schools"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*SCHOOL_COLUMNS, "rural"])
        for i in range(n_s):
            w.writerow(
                [
                    f"S{i}",
                    f"{pts[i, 0]:.5f}",
                    f"{pts[i, 1]:.5f}",
                    gender[i],
                    kind[i],
                    f"{fsm[i]:.1f}",
                    int(enc[i]),
                    int(near[i] > 20),
                ]
            )

    n_r = n_s * per
    school = np.repeat(np.arange(n_s), per)
    type_p = np.array([0.2, 0.1, 0.15, 0.12, 0.12, 0.12, 0.1, 0.09])
    rtype = rng.choice(len(ENCOUNTER_TYPES), size=n_r, p=type_p)
    special = kind[school] != "mainstream"
    pupils = np.where(special, rng.integers(3, 11, n_r), rng.integers(8, 31, n_r))
    start = rng.integers(0, _YEAR_DAYS - 60, n_r)
    length = rng.integers(14, 75, n_r)
    sen_n = np.where(special, rng.integers(1, 3, n_r), (rng.random(n_r) < 0.08).astype(int))
    with open(paths["requests"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(REQUEST_COLUMNS)
        rows = zip(
            range(n_r),
            school,
            rtype,
            rng.integers(8, 14, n_r),
            pupils,
            _day(start),
            _day(start + length),
            rng.random(n_r) < 0.35,
            rng.random(n_r) < 0.25,
            _sen_lists(rng, sen_n),
            strict=True,
        )
        for i, s, t, y, p, a, b, stem, stereo, sen in rows:
            w.writerow(
                [f"R{i}", f"S{s}", ENCOUNTER_TYPES[t], y, p, a, b, int(stem), int(stereo), sen]
            )

    opts, _ = _clustered(rng, n_o, rural_share=0.04, spread_deg=0.08)
    virtual = rng.random(n_o) < 0.06
    otype = rng.choice(len(ENCOUNTER_TYPES), size=n_o, p=type_p)
    capacity = rng.integers(4, 25, n_o)
    max_km = rng.choice([5, 10, 15, 20, 30, 40], size=n_o, p=[0.15, 0.3, 0.25, 0.15, 0.1, 0.05])
    ostart = rng.integers(0, _YEAR_DAYS - 30, n_o)
    olength = rng.integers(20, 120, n_o)
    ymin = rng.integers(7, 12, n_o)
    ymax = np.minimum(13, ymin + rng.integers(1, 6, n_o))
    sector = rng.choice(len(_SECTORS), size=n_o)
    stem = np.isin(sector, [0, 3, 4, 8]) & (rng.random(n_o) < 0.8)
    sen_o = np.where(rng.random(n_o) < 0.3, rng.integers(1, 4, n_o), 0)
    audience = rng.choice(["mixed", "girls", "boys"], size=n_o, p=[0.96, 0.03, 0.01])
    with open(paths["offers"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([*OFFER_COLUMNS, "audience"])
        rows2 = zip(
            range(n_o),
            rng.integers(0, n_o // 3 + 1, n_o),
            opts,
            otype,
            capacity,
            max_km,
            virtual,
            _day(ostart),
            _day(np.minimum(ostart + olength, _YEAR_DAYS + 30)),
            ymin,
            ymax,
            stem,
            rng.random(n_o) < 0.25,
            _sen_lists(rng, sen_o),
            sector,
            audience,
            strict=True,
        )
        for i, emp, pt, t, cap, km, virt, a, b, y0, y1, st, ch, sen, sec, aud in rows2:
            w.writerow(
                [
                    f"O{i}",
                    f"E{emp}",
                    f"{pt[0]:.5f}",
                    f"{pt[1]:.5f}",
                    ENCOUNTER_TYPES[t],
                    cap,
                    km,
                    int(virt),
                    a,
                    b,
                    y0,
                    y1,
                    int(st),
                    int(ch),
                    sen,
                    _SECTORS[sec],
                    aud,
                ]
            )
    return paths


def _outcomes(
    problem: Problem,
    rows: list[tuple[Any, Any, int, float]],
    groups: dict[str, np.ndarray],
    served_any: np.ndarray,
) -> dict[str, float]:
    """Figures of one assignment: rows are (request_id, offer_id, pupils, km)."""
    n_r = len(problem.requests)
    r_pupils = np.zeros(n_r, dtype=np.int64)
    stem_met = np.zeros(n_r, dtype=bool)
    stereo_met = np.zeros(n_r, dtype=bool)
    km_sum = 0.0
    pupils_total = 0
    for rid, oid, p, km in rows:
        r = problem.request_index[rid]
        o = problem.offer_index[oid]
        r_pupils[r] += p
        stem_met[r] |= bool(problem.off.stem[o])
        stereo_met[r] |= bool(problem.off.stereotype[o])
        km_sum += km * p
        pupils_total += p
    served_req = r_pupils > 0
    school_served = np.bincount(problem.r_school[served_req], minlength=len(problem.schools)) > 0
    out = {
        "pupils matched": float(pupils_total),
        "requests fully served": float((r_pupils >= problem.r_pupils).sum()),
        "schools with a feasible offer left unserved": float((served_any & ~school_served).sum()),
    }
    for name, mask in groups.items():
        out[f"share served: {name}"] = 100.0 * school_served[mask].mean() if mask.any() else 0.0
    out["STEM goals met %"] = (
        100.0 * (stem_met & problem.r_stem).sum() / max(problem.r_stem.sum(), 1)
    )
    out["stereotype goals met %"] = (
        100.0 * (stereo_met & problem.r_stereotype).sum() / max(problem.r_stereotype.sum(), 1)
    )
    out["mean km per pupil"] = km_sum / max(pupils_total, 1)
    return out


def _evaluate(size: str, seed: int, out_dir: Path) -> dict[str, Any]:
    """Baseline, bound, pruning cost and incremental timing for one size (in-process)."""
    paths = {k: str(out_dir / f"{k}.csv") for k in ("schools", "requests", "offers")}
    schools = read_schools(paths["schools"])
    requests = read_requests(paths["requests"], (str(s.school_id) for s in schools))
    offers = read_offers(paths["offers"])
    with open(paths["schools"], encoding="utf-8") as f:
        rural = np.array([row["rural"] == "1" for row in csv.DictReader(f)])
    print(f"[{size}] building the full candidate graph", file=sys.stderr, flush=True)
    full = Problem(schools, requests, offers, k=None)
    c = full.candidates
    bound = max_pupils(c.req, c.off, full.r_pupils, full.off.capacity)
    has_any = np.bincount(full.r_school[c.req], minlength=len(schools)) > 0
    fsm_q = full.s_fsm >= np.quantile(full.s_fsm, 0.75)
    groups = {
        "all schools": np.ones(len(schools), bool),
        "rural": rural,
        "not rural": ~rural,
        "special/AP": full.s_kind != 0,
        "mainstream": full.s_kind == 0,
        "top FSM quarter": fsm_q,
        "other FSM": ~fsm_q,
    }
    # Shares among schools that have a feasible offer at all: the rest cannot be served.
    groups = {k: v & has_any for k, v in groups.items()}
    print(f"[{size}] baseline", file=sys.stderr, flush=True)
    base = greedy_baseline(schools, requests, offers, problem=full)
    matches = out_dir / "matches.csv"
    with open(matches, encoding="utf-8") as f:
        opt_rows = [
            (r["request_id"], r["offer_id"], int(r["pupils"]), float(r["km"]))
            for r in csv.DictReader(f)
        ]
    out: dict[str, Any] = {
        "feasible pairs": len(c),
        "schools with any feasible offer": int(has_any.sum()),
        "max-flow bound on pupils": bound,
        "optimiser": _outcomes(full, opt_rows, groups, has_any),
        "baseline": _outcomes(
            full,
            [(a.request_id, a.offer_id, a.pupils, a.km) for a in base.assignments],
            groups,
            has_any,
        ),
    }
    # What pruning costs: solve once with every pair (at national size about 20 s more).
    print(f"[{size}] unpruned solve", file=sys.stderr, flush=True)
    all_pairs = solve_problem(full)
    print(f"[{size}] pruned solve (k={DEFAULT_K})", file=sys.stderr, flush=True)
    pruned = solve_problem(Problem(schools, requests, offers, k=DEFAULT_K))
    out["objective unpruned"] = all_pairs.objective
    out["objective pruned"] = pruned.objective
    out["pupils unpruned"] = all_pairs.pupils_matched
    out["pupils pruned"] = pruned.pupils_matched
    print(f"[{size}] incremental replacement", file=sys.stderr, flush=True)
    problem = Problem(schools, requests, offers, k=DEFAULT_K)
    result = solve_problem(problem)
    rng = np.random.default_rng(seed)
    times = []
    picks = rng.choice(
        len(result.assignments), size=min(20, len(result.assignments)), replace=False
    )
    for i in picks:
        a: Assignment = result.assignments[int(i)]
        t0 = time.perf_counter()
        replace_after_cancellation(problem, result.assignments, a.request_id, a.offer_id)
        times.append(time.perf_counter() - t0)
    out["incremental seconds (median, max of 20)"] = (float(np.median(times)), float(max(times)))
    return out


def _machine() -> dict[str, str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        model = platform.processor() or "unknown"
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version()}


def run_bench(sizes: list[str], *, seed: int = 1, out_dir: str = "bench-out") -> int:
    """Generate, solve through the CLI in a subprocess, evaluate; print a comparison table."""
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        print(
            f"error: unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}",
            file=sys.stderr,
        )
        return 2
    all_figures: dict[str, Any] = {"machine": _machine(), "seed": seed, "sizes": {}}
    for size in sizes:
        folder = Path(out_dir) / size
        print(f"[{size}] generating", file=sys.stderr, flush=True)
        paths = generate(size, seed, folder)
        print(f"[{size}] solving through the CLI", file=sys.stderr, flush=True)
        cmd = [
            sys.executable,
            "-m",
            "matching",
            "solve",
            "--schools",
            paths["schools"],
            "--requests",
            paths["requests"],
            "--offers",
            paths["offers"],
            "--out",
            str(folder / "matches.csv"),
            "--report",
            str(folder / "report.json"),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        report["wall seconds (subprocess)"] = round(wall, 2)
        evaluation = _evaluate(size, seed, folder)
        all_figures["sizes"][size] = {"cli": report, **evaluation}
        _print_size(size, report, evaluation)
    Path(out_dir, "bench.json").write_text(
        json.dumps(all_figures, indent=2, default=float), encoding="utf-8"
    )
    return 0


def _print_size(size: str, report: dict[str, Any], ev: dict[str, Any]) -> None:
    s = report["seconds"]
    print(f"\n== {size}: {report['requests']:,} requests, {ev['feasible pairs']:,} feasible pairs")
    print(
        f"CLI: load {s['load']:.2f} s, candidates {s['candidates']:.2f} s, solve "
        f"{s['solve']:.2f} s, write {s['write']:.2f} s; "
        f"wall {report['wall seconds (subprocess)']}"
        f" s; peak {report['peak_mib']:.0f} MiB; status {report['status']}"
    )
    print(f"objective {report['objective']:,.1f}, upper bound {report['upper_bound']:,.1f}")
    bound = ev["max-flow bound on pupils"]
    print(
        f"max-flow bound on pupils {bound:,}; schools with any feasible offer "
        f"{ev['schools with any feasible offer']:,}"
    )
    print(f"{'figure':48} {'optimiser':>12} {'baseline':>12}")
    for key, value in ev["optimiser"].items():
        print(f"{key:48} {value:12.1f} {ev['baseline'][key]:12.1f}")
    opt = ev["optimiser"]["pupils matched"]
    print(
        f"{'pupils as % of max-flow bound':48} {100 * opt / max(bound, 1):12.2f} "
        f"{100 * ev['baseline']['pupils matched'] / max(bound, 1):12.2f}"
    )
    if "objective unpruned" in ev:
        loss = 1 - ev["objective pruned"] / max(ev["objective unpruned"], 1e-9)
        print(
            f"pruning: objective with all pairs {ev['objective unpruned']:,.1f}, "
            f"with k={DEFAULT_K} {ev['objective pruned']:,.1f} ({100 * loss:.2f}% less); pupils "
            f"{ev['pupils unpruned']:,} and {ev['pupils pruned']:,}"
        )
    med, worst = ev["incremental seconds (median, max of 20)"]
    print(
        f"incremental replacement after a cancellation: median {med * 1000:.0f} ms, "
        f"max {worst * 1000:.0f} ms"
    )
