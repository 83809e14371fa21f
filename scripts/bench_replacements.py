"""Time replacement proposals after a cancellation on a demo database.

For each of N accepted matches (the same ones on every run: lowest ids of a seeded sample),
marks it cancelled, times ``propose_replacements`` and rolls back, so the database is left
as it was. Prints the median and 95th percentile in milliseconds and the sub-problem sizes.

    BROKER_INSTANCE_DIR=/tmp/lived broker demo --lived-in --no-serve
    BROKER_INSTANCE_DIR=/tmp/lived python scripts/bench_replacements.py --matches 40
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from sqlalchemy import select

from broker import create_app
from broker.extensions import db
from broker.models import Match, MatchRun
from broker.services.matching import propose_replacements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        ids = list(db.session.scalars(select(Match.id).where(Match.status == "accepted")))
        sample = sorted(random.Random(args.seed).sample(ids, min(args.matches, len(ids))))
        seconds, sizes = [], []
        for match_id in sample:
            match = db.session.get(Match, match_id)
            match.status = "cancelled"
            db.session.flush()
            t0 = time.perf_counter()
            made = propose_replacements(match, by=None)
            seconds.append(time.perf_counter() - t0)
            run = db.session.scalar(
                select(MatchRun).where(MatchRun.kind == "replacement").order_by(MatchRun.id.desc())
            )
            if run is not None and run.figures:
                figures = run.figures
                sizes.append((figures.get("requests", 0), figures.get("offers", 0), len(made)))
            db.session.rollback()
        ms = sorted(s * 1000 for s in seconds)
        p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
        print(f"{len(ms)} cancellations: median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms")
        if sizes:
            requests = statistics.median(s[0] for s in sizes)
            offers = statistics.median(s[1] for s in sizes)
            made_all = sum(s[2] for s in sizes)
            print(
                f"sub-problem: median {requests:.0f} requests, {offers:.0f} offers; "
                f"{made_all} proposals in all"
            )


if __name__ == "__main__":
    main()
