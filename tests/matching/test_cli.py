"""The CSV command line: a good run, and every bad-input rule (exit 2, located, nothing written)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from matching.cli import main

SCHOOLS = [
    ["school_id", "lat", "lon", "gender", "kind", "fsm_pct", "encounters_so_far"],
    ["S1", "52.0", "-1.0", "girls", "mainstream", "30", "0"],
    ["S2", "52.1", "-1.0", "mixed", "special", "45", "2"],
]
REQUESTS = [
    [
        "request_id",
        "school_id",
        "type",
        "year_group",
        "pupils",
        "earliest",
        "latest",
        "stem_goal",
        "stereotype_goal",
        "sen_needs",
    ],
    ["R1", "S1", "talk", "9", "10", "2026-03-01", "2026-03-31", "1", "1", ""],
    ["R2", "S2", "talk", "10", "6", "2026-03-01", "2026-03-31", "0", "0", "autism;hearing"],
]
OFFERS = [
    [
        "offer_id",
        "employer_id",
        "lat",
        "lon",
        "type",
        "capacity",
        "max_km",
        "virtual",
        "earliest",
        "latest",
        "year_min",
        "year_max",
        "stem",
        "challenges_stereotype",
        "sen_support",
        "sector",
    ],
    [
        "O1",
        "E1",
        "52.05",
        "-1.0",
        "talk",
        "12",
        "20",
        "0",
        "2026-03-10",
        "2026-03-20",
        "8",
        "11",
        "1",
        "1",
        "autism;hearing",
        "engineering",
    ],
    [
        "O2",
        "E2",
        "53.0",
        "-2.0",
        "talk",
        "5",
        "0",
        "1",
        "2026-03-01",
        "2026-04-30",
        "7",
        "13",
        "0",
        "0",
        "",
        "finance",
    ],
]
LOCKED = [["request_id", "offer_id", "pupils"], ["R2", "O1", "4"]]


def write(path: Path, rows: list[list[str]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def files(tmp_path: Path, **changes: list[list[str]]) -> dict[str, str]:
    data = {"schools": SCHOOLS, "requests": REQUESTS, "offers": OFFERS, "locked": LOCKED}
    data.update(changes)
    return {name: write(tmp_path / f"{name}.csv", rows) for name, rows in data.items()}


def args(paths: dict[str, str], tmp_path: Path) -> list[str]:
    return [
        "solve",
        "--schools",
        paths["schools"],
        "--requests",
        paths["requests"],
        "--offers",
        paths["offers"],
        "--locked",
        paths["locked"],
        "--out",
        str(tmp_path / "matches.csv"),
        "--report",
        str(tmp_path / "report.json"),
    ]


def test_solve_writes_matches_and_report(tmp_path, capsys):
    paths = files(tmp_path)
    assert main(args(paths, tmp_path)) == 0
    out = capsys.readouterr().out
    # R2 needs autism and hearing support, which only O1 has; a locked pair is not topped up,
    # so R2 keeps its 4 locked pupils and R1 takes the rest of O1 plus 2 from virtual O2.
    assert out.count("\n") == 1 and "matched 14 of 16 pupils" in out
    with open(tmp_path / "matches.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["request_id", "offer_id", "pupils", "score", "km", "reasons"]
    got = sorted((r["request_id"], r["offer_id"], int(r["pupils"])) for r in rows)
    assert got == [("R1", "O1", 8), ("R1", "O2", 2), ("R2", "O1", 4)]
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report) == {
        "requests",
        "pupils_requested",
        "pupils_matched",
        "requests_served",
        "schools_served",
        "objective",
        "upper_bound",
        "status",
        "seconds",
        "peak_mib",
    }
    assert set(report["seconds"]) == {"load", "candidates", "solve", "write"}
    assert (report["requests"], report["pupils_requested"], report["pupils_matched"]) == (2, 16, 14)
    assert report["upper_bound"] >= report["objective"] > 0


def test_module_entry_point_runs(tmp_path):
    paths = files(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "matching", *args(paths, tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "matches.csv").exists()


def replace(rows: list[list[str]], line: int, column: str, value: str) -> list[list[str]]:
    rows = [list(r) for r in rows]
    rows[line - 1][rows[0].index(column)] = value
    return rows


def drop(rows: list[list[str]], column: str) -> list[list[str]]:
    i = rows[0].index(column)
    return [r[:i] + r[i + 1 :] for r in rows]


BAD = {
    "missing column": ("offers", lambda: drop(OFFERS, "max_km"), 1, "max_km"),
    "unknown type": ("requests", lambda: replace(REQUESTS, 3, "type", "juggling"), 3, "type"),
    "latitude out of range": ("schools", lambda: replace(SCHOOLS, 2, "lat", "95"), 2, "lat"),
    "reversed window": ("offers", lambda: replace(OFFERS, 2, "latest", "2026-03-01"), 2, "latest"),
    "duplicate id": ("schools", lambda: replace(SCHOOLS, 3, "school_id", "S1"), 3, "school_id"),
    "unknown school": ("requests", lambda: replace(REQUESTS, 2, "school_id", "S9"), 2, "school_id"),
    "non-numeric": ("offers", lambda: replace(OFFERS, 3, "capacity", "lots"), 3, "capacity"),
    "bad boolean": ("requests", lambda: replace(REQUESTS, 2, "stem_goal", "yes"), 2, "stem_goal"),
    "bad SEN code": (
        "requests",
        lambda: replace(REQUESTS, 3, "sen_needs", "autism;wings"),
        3,
        "sen_needs",
    ),
    "bad date": ("requests", lambda: replace(REQUESTS, 2, "earliest", "01/03/2026"), 2, "earliest"),
    "unknown locked request": (
        "locked",
        lambda: replace(LOCKED, 2, "request_id", "R7"),
        2,
        "request_id",
    ),
    "unknown locked offer": ("locked", lambda: replace(LOCKED, 2, "offer_id", "O7"), 2, "offer_id"),
    "locked beyond capacity": ("locked", lambda: LOCKED + [["R1", "O1", "9"]], 3, "pupils"),
    "bad gender": ("schools", lambda: replace(SCHOOLS, 2, "gender", "other"), 2, "gender"),
    # Numbers of 2**63 and more once overflowed numpy's int64 with a traceback.
    "huge capacity": ("offers", lambda: replace(OFFERS, 2, "capacity", str(2**63)), 2, "capacity"),
    "huge pupils": ("requests", lambda: replace(REQUESTS, 3, "pupils", str(2**64)), 3, "pupils"),
    "huge encounters": (
        "schools",
        lambda: replace(SCHOOLS, 2, "encounters_so_far", str(2**63)),
        2,
        "encounters_so_far",
    ),
    "huge locked pupils": ("locked", lambda: replace(LOCKED, 2, "pupils", str(2**63)), 2, "pupils"),
    "bad audience": (
        "offers",
        lambda: [OFFERS[0] + ["audience"], OFFERS[1] + ["men"], OFFERS[2] + ["mixed"]],
        2,
        "audience",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_naming_file_line_field_and_writes_nothing(case, tmp_path, capsys):
    which, rows, line, field = BAD[case]
    paths = files(tmp_path, **{which: rows()})
    assert main(args(paths, tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"{which}.csv" in err and f"line {line}" in err and f"'{field}'" in err, err
    assert not (tmp_path / "matches.csv").exists()
    assert not (tmp_path / "report.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("which", ["--out", "--report"])
def test_output_in_a_missing_folder_exits_2_naming_it_and_writes_nothing(which, tmp_path, capsys):
    paths = files(tmp_path)
    argv = args(paths, tmp_path)
    target = tmp_path / "no-such-folder" / "out.file"
    argv[argv.index(which) + 1] = str(target)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "does not exist" in err and "Traceback" not in err, err
    assert not (tmp_path / "matches.csv").exists()
    assert not (tmp_path / "report.json").exists()
    assert not [p for p in tmp_path.rglob("*.tmp")]
