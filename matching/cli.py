"""Command line: ``python -m matching solve ...`` and ``python -m matching bench ...``."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import gc
import logging
import resource
import sys
import time
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

from .csvio import (
    check_writable,
    read_locked,
    read_offers,
    read_requests,
    read_schools,
    write_atomically,
    write_matches,
    write_report,
)
from .engine import solve_problem
from .model import MatchingError
from .problem import DEFAULT_K, Problem

__all__ = ["main", "no_cyclic_gc", "peak_mib", "release_free_memory", "run_solve", "tune_for_batch"]

logger = logging.getLogger(__name__)


def peak_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# glibc mallopt parameters (malloc.h) and the values the CLI uses for its one big batch.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -2, -3, -8
_BATCH_MALLOPT = (
    (_M_MMAP_THRESHOLD, 32 << 20),
    (_M_TRIM_THRESHOLD, 1 << 30),
    (_M_TOP_PAD, 256 << 20),
    # Worker threads allocate from the same (kept) heap instead of arenas of their own.
    (_M_ARENA_MAX, 1),
)


def tune_for_batch() -> bool:
    """Let glibc keep and reuse freed memory instead of returning it to the system.

    A national run allocates and frees numpy temporaries of tens of megabytes thousands of
    times; by default each is a fresh ``mmap`` whose pages the kernel must zero again. Keeping
    them in the heap costs about 60 MiB of peak memory and saves about a second of system time
    (BENCHMARKS.md). Only for a short-lived process such as this CLI; returns False where the
    C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return all(mallopt(param, value) == 1 for param, value in _BATCH_MALLOPT)


def release_free_memory() -> bool:
    """Give the heap's freed pages back to the system (glibc ``malloc_trim``).

    With :func:`tune_for_batch` the candidate search leaves freed temporaries in the heap;
    the solve then allocates its large arrays afresh, so returning them first lowers the peak.
    Returns False where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = (ctypes.c_size_t,)
    return bool(trim(0))


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a batch that creates millions of acyclic objects.

    The inputs and rows hold no reference cycles, so collections only rescan live objects
    (about 10% of a national run's time); reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_solve(
    schools: str,
    requests: str,
    offers: str,
    out: str,
    locked: str | None = None,
    report: str | None = None,
    k: int | None = DEFAULT_K,
) -> dict[str, Any]:
    """Read the CSV files, match, write matches.csv (and report.json); return the report."""
    for target in (out, report):
        if target:
            check_writable(target)
    t0 = time.perf_counter()
    school_rows = read_schools(schools)
    request_rows = read_requests(requests, (str(s.school_id) for s in school_rows))
    offer_rows = read_offers(offers)
    locked_rows = read_locked(locked, request_rows, offer_rows) if locked else []
    t1 = time.perf_counter()
    problem = Problem(school_rows, request_rows, offer_rows, k=k)
    release_free_memory()
    t2 = time.perf_counter()
    result = solve_problem(problem, locked=locked_rows)
    t3 = time.perf_counter()
    served = {a.request_id for a in result.assignments}
    school_of = {r.request_id: r.school_id for r in request_rows}
    figures: dict[str, Any] = {
        "requests": len(request_rows),
        "pupils_requested": sum(r.pupils for r in request_rows),
        "pupils_matched": result.pupils_matched,
        "requests_served": len(served),
        "schools_served": len({school_of[r] for r in served}),
        "objective": round(result.objective, 3),
        "upper_bound": round(result.upper_bound, 3),
        "status": result.status,
        "seconds": {
            "load": round(t1 - t0, 3),
            "candidates": round(t2 - t1, 3),
            "solve": round(t3 - t2, 3),
            "write": 0.0,
        },
        "peak_mib": 0.0,
    }
    outputs: list[Any] = [(out, partial(write_matches, assignments=result.assignments))]
    write_atomically(outputs)
    figures["seconds"]["write"] = round(time.perf_counter() - t3, 3)
    figures["peak_mib"] = round(peak_mib(), 1)
    if report:
        write_atomically([(report, partial(write_report, report=figures))])
    return figures


def _summary(f: dict[str, Any]) -> str:
    share = 100.0 * f["pupils_matched"] / max(f["pupils_requested"], 1)
    total = sum(f["seconds"].values())
    return (
        f"matched {f['pupils_matched']:,} of {f['pupils_requested']:,} pupils ({share:.1f}%) "
        f"for {f['requests_served']:,} of {f['requests']:,} requests at "
        f"{f['schools_served']:,} schools; objective {f['objective']:,.1f} ({f['status']}, "
        f"bound {f['upper_bound']:,.1f}) in {total:.1f} s, peak {f['peak_mib']:.0f} MiB"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m matching", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("solve", help="match requests to offers from CSV files")
    p.add_argument("--schools", required=True)
    p.add_argument("--requests", required=True)
    p.add_argument("--offers", required=True)
    p.add_argument("--out", required=True, help="matches.csv to write")
    p.add_argument("--locked", help="locked.csv: approved matches kept as they are")
    p.add_argument("--report", help="report.json to write")
    b = sub.add_parser("bench", help="benchmark on seeded synthetic instances")
    b.add_argument("--sizes", default="small,medium,national")
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--out-dir", default="bench-out")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input)."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    if args.command == "bench":
        from .bench import run_bench

        return run_bench(args.sizes.split(","), seed=args.seed, out_dir=args.out_dir)
    try:
        with no_cyclic_gc():
            figures = run_solve(
                args.schools,
                args.requests,
                args.offers,
                args.out,
                locked=args.locked,
                report=args.report,
            )
    except MatchingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report and figures:
        logger.info("report written to %s", args.report)
    print(_summary(figures))
    return 0
