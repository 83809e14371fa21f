"""Dead rows left in PostgreSQL by nightly match runs in a row, without VACUUM.

VACUUMs the database once (so it starts with no dead rows), then runs the nightly match
``--runs`` times, a day apart on the clock the runs are given, committing each, as the
nightly job does. Prints each run's seconds and its changes, then, per table, live rows,
dead rows and dead as a share of live (pg_stat_user_tables), for the issue-14 target:
ten runs leave dead rows under 10% of live rows. Autovacuum should be off to measure this.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/livedpg \\
        broker demo --lived-in --no-serve
    DATABASE_URL=... python scripts/bench_bloat.py --runs 10
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from sqlalchemy import text

from broker import clock, create_app
from broker.extensions import db
from broker.services.matching import run_matching

TABLES = ("matches", "requests", "offers", "match_events", "match_runs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    app = create_app()
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise SystemExit("PostgreSQL only: set DATABASE_URL")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            print("autovacuum:", conn.execute(text("show autovacuum")).scalar())
            conn.execute(text("VACUUM ANALYZE"))
        start = clock.now()
        for n in range(args.runs):
            t0 = time.perf_counter()
            run = run_matching(start + timedelta(days=n), kind="nightly")
            db.session.commit()
            print(f"run {n + 1}: {time.perf_counter() - t0:.1f} s, changes {run.changes}")
        db.session.remove()
        time.sleep(2)  # statistics reach the shared view when a backend reports them
        with db.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "select relname, n_live_tup, n_dead_tup from pg_stat_user_tables "
                    "where relname = any(:t) order by relname"
                ),
                {"t": list(TABLES)},
            ).all()
        print(f"{'table':<14}{'live':>10}{'dead':>10}{'dead/live':>11}")
        for name, live, dead in rows:
            share = dead / live if live else 0.0
            print(f"{name:<14}{live:>10,}{dead:>10,}{share:>10.1%}")


if __name__ == "__main__":
    main()
