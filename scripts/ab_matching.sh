#!/usr/bin/env bash
# Time `python -m matching solve` on the same CSV files for two versions of the engine, runs
# alternating so both meet the same load on a shared machine.
#
#   scripts/ab_matching.sh REF RUNS BENCH_DIR
#   e.g. python -m matching bench --sizes national --seed 1 --out-dir /tmp/bench
#        scripts/ab_matching.sh ade2703 5 /tmp/bench/national
#
# REF is any git revision (the "before"); "now" is the working tree. Prints one line per run:
# wall, user and system seconds (/usr/bin/time), the phase seconds and objective from
# report.json, and peak MiB.
set -euo pipefail
ref=$1 runs=$2 data=$3
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/before"
git -C "$root" archive "$ref" matching | tar -x -C "$work/before"
for i in $(seq "$runs"); do
    for side in before now; do
        if [ "$side" = before ]; then path="$work/before"; else path="$root"; fi
        times=$( { (cd "$work" && PYTHONPATH="$path" /usr/bin/time -f "%e %U %S" "$python" -m matching solve \
            --schools "$data/schools.csv" --requests "$data/requests.csv" --offers "$data/offers.csv" \
            --out "$work/matches_$side.csv" --report "$work/report.json" >/dev/null); } 2>&1 )
        figures=$("$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["seconds"], d["objective"], d["peak_mib"])' "$work/report.json")
        echo "run $i $side | wall/user/sys $times | $figures"
    done
done
