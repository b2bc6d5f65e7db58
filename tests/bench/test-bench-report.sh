#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/bench/test-bench-report.sh SOURCE_DIR TMP_DIR
# The report generator of `make bench` (scripts/bench-report) on a canned results file
# (tests/bench/data/report-sample.jsonl, every kind of record, a line that is not JSON, a figure
# with no value, a figure measured twice, a failed bench, a sweep point whose ceiling broke): the Markdown it writes, its
# verdicts and spreads, the plots when gnuplot is installed, `--help`, `machine`, and its exit
# statuses. Runs no bench. Exit 77 when python3 is missing.
set -u
src=${1:?usage: test-bench-report.sh SOURCE_DIR TMP_DIR}
base=${2:-${TMPDIR:-/tmp}}
report=$src/scripts/bench-report
sample=$src/tests/bench/data/report-sample.jsonl
if ! command -v python3 >/dev/null 2>&1; then
    echo "SKIP: python3 not installed"
    exit 77
fi
mkdir -p "$base"
tmp=$(mktemp -d "$base/bench-report.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok: $1"; }
bad() {
    echo "FAIL: $1"
    fails=$((fails + 1))
}
# has PATTERN WHAT: the report contains the fixed string PATTERN
has() {
    if grep -qF -- "$1" "$tmp/out/benchmarks.md"; then ok "$2"; else bad "$2 (no '$1')"; fi
}

# --help: usage on stdout, status 0; no arguments: usage, status 2; unknown command: status 2
if python3 "$report" --help >"$tmp/help" 2>&1 && grep -q 'usage:' "$tmp/help" &&
    grep -q 'bench-report report RESULTS' "$tmp/help"; then
    ok "--help"
else
    bad "--help"
fi
python3 "$report" >/dev/null 2>&1
if [ $? -eq 2 ]; then ok "no arguments: status 2"; else bad "no arguments: status 2"; fi
python3 "$report" frobnicate >/dev/null 2>&1
if [ $? -eq 2 ]; then ok "unknown command: status 2"; else bad "unknown command: status 2"; fi
python3 "$report" report "$tmp/missing.jsonl" --out "$tmp/x.md" >/dev/null 2>&1
if [ $? -eq 1 ]; then ok "unreadable results: status 1"; else bad "unreadable results: status 1"; fi

# machine: one JSON object with the fields the report shows
if python3 "$report" machine "$tmp" >"$tmp/machine.json" &&
    python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["kind"] == "machine", m
assert m["cpu"] and m["cores"] >= 1 and m["kernel"] and m["date"], m
assert m["disk"]["dir"] == sys.argv[2], m
' "$tmp/machine.json" "$tmp"; then
    ok "machine"
else
    bad "machine"
fi

# the report of the canned run
if python3 "$report" report "$sample" --out "$tmp/out/benchmarks.md" --plots "$tmp/out/benchmarks" \
    --log "$tmp/out/benchmarks/bench-output.txt" >"$tmp/stdout" 2>"$tmp/stderr"; then
    ok "report: status 0 although figures miss and a bench failed"
else
    bad "report: status $?"
    cat "$tmp/stderr"
fi
if grep -q 'wrote .*: 7 PASS, 2 MISS' "$tmp/stdout"; then
    ok "report: summary line"
else
    bad "report: summary line ($(cat "$tmp/stdout"))"
fi
if grep -q 'report-sample.jsonl:25: skipped, not JSON' "$tmp/stderr"; then
    ok "report: bad line named"
else
    bad "report: bad line named"
fi
has '| CPU | Canned CPU @ 2.00GHz |' "machine: CPU"
has '| cores | 2 |' "machine: cores"
has '| memory | 7.8 GiB |' "machine: memory"
has '| kernel | 6.1.0-test-amd64 |' "machine: kernel"
has '/dev/vda, ext4, non-rotational, 270.1 GB, 83.2 GB free, benches write under /var/tmp' "machine: disk"
has '| git commit | 0123456789abcdef0123456789abcdef01234567 |' "machine: commit"
has '| run time | 40.0 min |' "run time"
has '12 figures; 9 with a target (from issues 4, 5 and 7): **7 PASS, 2 MISS**.' "summary counts"
# a figure the bench judged (MISS although a plain comparison would say so too), one judged from
# its target (>=), one exactly on its target (<= 0), and a null value (n/a, not a verdict)
has '| PERSISTED ack latency p99, 1000 x 2 Mbit/s uploads<br><sub>10000 fragments, 0 unacked</sub> | 62.5 ms |  | ≤ 50 ms | ceiling p99 40.1 ms | **MISS** |' \
    "forced MISS with its baseline"
has '| GetRecords (10,000 per call) draining the stream: records out | 912,000 records/s | min–max 900,000 – 1,100,000 records/s (3 runs) | ≥ 1,000,000 records/s |  | **MISS** |' \
    "MISS from the target, with min–max"
has '| heap allocations per frame once streaming (SDK + libcurl) | 0 |  | ≤ 0 | reference 4.1 | PASS |' \
    "PASS on the target itself, with the reference"
has '| server memory per idle connection (VmRSS)<br><sub>no target</sub> | n/a |' "null value"
has 'min–max 90 – 150 ns/frame; p25–p75 92.5 – 97.5 ns/frame (11 runs)' "p25–p75 from 11 runs"
has '- PERSISTED ack latency p99, 1000 x 2 Mbit/s uploads: 62.5 ms (target ≤ 50 ms)' "missed list"
has '| records_bench | **failed** | 20 s |' "failed bench in the table"
has '| callgrind | skipped | 0 s |  valgrind not installed |' "skipped bench with its reason"
has '| 200 | 50 | 8 ms | 35 ms | 48 | 6 ms | 30 ms | 48.5 | PASS |' "sweep row"
has '| 1000 | 250 | 20 ms | 70 ms | 230 | n/a | n/a | n/a | **MISS** (10 unacked, 0 failed) |' \
    "sweep row: server over target, ceiling broken"
has '[bench-output.txt](benchmarks/bench-output.txt)' "link to the log, relative"
# a figure measured twice in the run: the later value, once, with the other in its note
has '| MKV reader, payloads skipped, 64 KiB chunks<br><sub>also measured earlier in this run: 40,000 Ir/MB</sub> | 41,234 Ir/MB |' \
    "figure measured twice"
# sections in SECTIONS order
order=$(grep '^## ' "$tmp/out/benchmarks.md" | tr '\n' '/')
case "$order" in
"## Machine/## Summary/## Ingest server (issue 4)/## Producer SDK (issue 5)/## Record streams (issue 7)/## MKV writer (fragmenter)/## Instruction counts (callgrind)/## Regenerating/")
    ok "sections" ;;
*) bad "sections: $order" ;;
esac
if command -v gnuplot >/dev/null 2>&1; then
    for p in ack-latency throughput; do
        f=$tmp/out/benchmarks/$p.png
        if [ -s "$f" ] && [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]; then
            ok "$p.png is a PNG"
        else
            bad "$p.png"
        fi
        has "![$p.png](benchmarks/$p.png)" "$p.png linked"
    done
    # the broken ceiling point is a gap in the data, not a zero
    if grep -q '^1000 250.000 20.000 70.000 230.000 NaN NaN NaN$' "$tmp/out/benchmarks/sweep.dat"; then
        ok "sweep.dat"
    else
        bad "sweep.dat: $(cat "$tmp/out/benchmarks/sweep.dat")"
    fi
else
    has 'gnuplot is not installed' "no gnuplot: said so"
fi

# without --plots: the tables, no image
python3 "$report" report "$sample" --out "$tmp/noplot.md" >/dev/null 2>&1
if [ -f "$tmp/noplot.md" ] && ! grep -q '!\[' "$tmp/noplot.md" && grep -q '^| 50 |' "$tmp/noplot.md"; then
    ok "no --plots: table without images"
else
    bad "no --plots"
fi

echo "$fails failed"
[ "$fails" -eq 0 ]
