#!/usr/bin/env python3
"""Nightly match benchmark: two code versions, alternated, each on its own database copy.

Each run is ``broker jobs run match`` in a subprocess with ``PYTHONPATH`` set to one code
tree (e.g. ``git archive 8d8a9b6 | tar -x -C /tmp/before``) and that version's database.
While an SQLite run works, another process writes one row every 0.2 s through its own
connection (5 s timeout) and counts the writes that fail with "database is locked". Runs
alternate (before, after; then after, before; ...). Every run appends one JSON line to
``--out``; ``--summary`` prints the medians per database and version::

    python scripts/bench_nightly.py --rounds 4 --label final \\
        --code before=/tmp/before --code after=/tmp/after \\
        --sqlite before=/tmp/sb --sqlite after=/tmp/sa \\
        --pg before=postgresql+psycopg://postgres@127.0.0.1:5432/bench_before \\
        --pg after=postgresql+psycopg://postgres@127.0.0.1:5432/bench_after
    python scripts/bench_nightly.py --summary --label final

``--sqlite`` names an instance directory holding ``broker.sqlite`` (a copy of a demo
database); ``--pg`` a database URL (``create database X template Y`` makes the copy).
Standard library only.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = "import sys; from broker.cli import main; sys.argv = ['broker', 'jobs', 'run', 'match']; "
RUN += "sys.exit(main())"


def writer(path: str, stop: str) -> None:
    """Write a row every 0.2 s until ``stop`` exists; print how the writes fared (JSON)."""
    ok = failed = 0
    worst = 0.0
    while not os.path.exists(stop):
        t = time.monotonic()
        try:
            con = sqlite3.connect(path, timeout=5.0)
            con.execute("UPDATE users SET name = name WHERE id = (SELECT min(id) FROM users)")
            con.commit()
            con.close()
            ok += 1
        except sqlite3.OperationalError:
            failed += 1
        worst = max(worst, time.monotonic() - t)
        time.sleep(0.2)
    fared = {"writes_ok": ok, "writes_failed": failed, "slowest_write_s": round(worst, 2)}
    print(json.dumps(fared))


def run_once(db: str, code: str, tree: str, target: str, label: str, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PYTHONPATH")}
    env["PYTHONPATH"] = tree
    watcher = None
    stop = Path(tempfile.mkdtemp()) / "stop"
    if db == "sqlite":
        env["BROKER_INSTANCE_DIR"] = target
        watcher = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(Path(target) / "broker.sqlite"), str(stop)],
            stdout=subprocess.PIPE,
            text=True,
        )
    else:
        env["DATABASE_URL"] = target
    load = os.getloadavg()[0]
    t = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, cwd="/"
    )
    wall = time.monotonic() - t
    extra = {}
    if watcher is not None:
        stop.touch()
        extra = json.loads(watcher.communicate()[0])
    lines = [x for x in done.stdout.splitlines() if x.startswith("match: ")]
    if done.returncode or not lines:
        sys.exit(f"run failed ({db}, {code}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    figures = ast.literal_eval(lines[-1][len("match: ") :])
    record = {
        "label": label,
        "db": db,
        "code": code,
        "wall": round(wall, 2),
        "load_avg": load,
        **figures,
        **extra,
    }
    with out.open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)
    return record


def summary(out: Path, label: str) -> None:
    rows = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    for db in ("sqlite", "pg"):
        for code in sorted({r["code"] for r in rows}):
            runs = [r for r in rows if r["label"] == label and r["db"] == db and r["code"] == code]
            if not runs:
                continue
            phases = sorted({k for r in runs for k in r["seconds"]})
            line = {"runs": len(runs), "wall": round(statistics.median(r["wall"] for r in runs), 1)}
            for k in phases:
                line[k] = round(statistics.median(r["seconds"].get(k, 0) for r in runs), 2)
            if db == "sqlite":
                line["writes_failed"] = [r["writes_failed"] for r in runs]
            line["load_avg"] = round(statistics.median(r["load_avg"] for r in runs), 1)
            print(db, code, json.dumps(line))


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--label", default="run")
    parser.add_argument("--code", action="append", default=[], help="NAME=code tree")
    parser.add_argument("--sqlite", action="append", default=[], help="NAME=instance dir")
    parser.add_argument("--pg", action="append", default=[], help="NAME=database URL")
    parser.add_argument("--out", type=Path, default=Path("nightly_bench.jsonl"))
    parser.add_argument("--summary", action="store_true", help="print medians and stop")
    args = parser.parse_args()
    if args.summary:
        summary(args.out, args.label)
        return
    trees = dict(x.split("=", 1) for x in args.code)
    targets = {
        **{("sqlite", k): v for k, v in (x.split("=", 1) for x in args.sqlite)},
        **{("pg", k): v for k, v in (x.split("=", 1) for x in args.pg)},
    }
    names = list(trees)
    for i in range(args.rounds):
        order = names if i % 2 == 0 else names[::-1]
        for db in ("sqlite", "pg"):
            for code in order:
                if (db, code) in targets:
                    run_once(db, code, trees[code], targets[db, code], args.label, args.out)


if __name__ == "__main__":
    main()
