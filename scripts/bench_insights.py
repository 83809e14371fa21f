"""Time every insights page (and the nightly insights step) on a demo database.

Signs in as each demo role with the app's own test client (no network), requests each page
once (the first view: national figures are then kept a few minutes) and ``--reps`` times
more, and prints a Markdown table of milliseconds. With ``--refresh N`` it first
recomputes the insights N times and prints each run's phases. Point it at a database the
usual way (``BROKER_INSTANCE_DIR`` for SQLite, or ``DATABASE_URL``), e.g.::

    BROKER_INSTANCE_DIR=/tmp/bench broker demo --reset --no-serve
    BROKER_INSTANCE_DIR=/tmp/bench python scripts/bench_insights.py --reps 10 --refresh 3
"""

from __future__ import annotations

import argparse
import statistics
import time

from sqlalchemy import select

from broker import clock, create_app
from broker.extensions import db
from broker.models import School, User
from broker.services.insights import refresh_insights
from config import Config


class BenchConfig(Config):
    WTF_CSRF_ENABLED = False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--refresh", type=int, default=0)
    args = parser.parse_args()
    app = create_app(BenchConfig)
    with app.app_context():
        for i in range(args.refresh):
            t = time.perf_counter()
            snap = refresh_insights(clock.now())
            db.session.commit()
            print(
                f"refresh {i + 1}: {time.perf_counter() - t:.1f} s wall, phases "
                f"{snap.figures['seconds']}, {len(snap.schools)} schools, "
                f"{len(snap.gains)} suggestions"
            )
        coordinator = db.session.scalar(select(User).where(User.role == "coordinator"))
        area = coordinator.areas[0].id
        school = db.session.scalar(select(School.id).where(School.area_id == area).limit(1))
    staff = [
        "/coordinator/",
        "/insights/",
        f"/insights/?area={area}",
        "/insights/needs",
        "/insights/fairness",
        f"/insights/fairness?area={area}",
        "/insights/charts",
        f"/insights/charts?area={area}",
        f"/insights/schools/{school}",
        "/insights/export/coverage.csv",
        "/insights/export/encounters.csv",
        "/insights/export/runs.csv",
    ]
    pages = {
        "admin": staff,
        "coordinator": [p for p in staff if "?area" not in p],
        "employer": ["/insights/employer"],
        "school": ["/insights/my-school/encounters.csv"],
    }
    print("| role | page | first view ms | median ms | max ms | KB |")
    print("|---|---|---:|---:|---:|---:|")
    for role, paths in pages.items():
        client = app.test_client()
        client.post(
            "/auth/login", data={"email": f"{role}@demo.broker", "password": "demo-password"}
        )
        for path in paths:
            t = time.perf_counter()
            client.get(path)
            first = (time.perf_counter() - t) * 1000
            times = []
            for _ in range(args.reps):
                t = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, (role, path, response.status_code)
            print(
                f"| {role} | `{path}` | {first:.0f} | {statistics.median(times):.0f} | "
                f"{max(times):.0f} | "
                f"{len(response.data) // 1024} |"
            )


if __name__ == "__main__":
    main()
