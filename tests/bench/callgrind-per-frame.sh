#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/bench/callgrind-per-frame.sh [BUILD_DIR]
# Instruction counts per frame, where time is too noisy: runs mkv_write_bench --once under
# `valgrind --tool=callgrind` at two frame counts N1 < N2 and prints (Ir(N2) - Ir(N1)) / (N2 - N1)
# for the fragmenter's frame header alone, size pass + header, put_frame (header + payload copy), the payload memcpy
# alone and put_frame beyond the copy; start-up and set-up cost the same at both counts and cancel
# out. Likewise mkv_read_bench --once at two prefix sizes of its clip: instructions per MB and per
# block with payloads skipped. Prints a note and succeeds when valgrind is not installed.
#
# `callgrind-per-frame.sh BUILD_DIR producer [--fast]` instead runs only the producer SDK's figure
# (issue 5): `producer_bench --child stream` (the benchmark clip put in real time, 4 MiB store,
# streamed to camstream-ingest over plain HTTP) under callgrind, all threads, and prints the
# instructions of the whole run divided by its 1,800 frames (start-up included; the server is a
# separate process, not counted). Last line: "RESULT producer_ir_per_frame=N".
set -eu
build=${1:-build/host}
bench=$build/tests/bench
N1=1000
N2=4000
MB1=8
MB2=24

if ! command -v valgrind >/dev/null 2>&1; then
    echo "callgrind: valgrind not installed, instruction counts skipped"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT


# ir PROGRAM ARGS...: instructions executed by the whole run (callgrind's totals line); the
# program's stdout is left in $tmp/stdout.
ir() {
    if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" \
        >"$tmp/stdout" 2>"$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "callgrind: $* failed" >&2
        return 1
    fi
    sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$tmp/cg.out"
}

# figure ID LABEL VALUE UNIT: one figure for scripts/bench-report, appended to $CS_BENCH_RESULTS
# when it is set (see tests/bench/benchutil.h)
figure() {
    [ -n "${CS_BENCH_RESULTS:-}" ] || return 0
    printf '{"kind":"figure","bench":"callgrind","id":"%s","label":"%s","value":%s,"unit":"%s"}\n' \
        "$1" "$2" "${3:-null}" "$4" >>"$CS_BENCH_RESULTS"
}

# per A B DIVISOR: (B - A) / DIVISOR, rounded
per() {
    awk -v a="$1" -v b="$2" -v d="$3" 'BEGIN { printf "%.0f", (b - a) / d }'
}

if [ "${2:-}" = producer ]; then
    fast=""
    [ "${3:-}" = "--fast" ] && fast="--fast"
    clip=$bench/producer-clip-1800.h264
    "$bench/producer_bench" --make-clip "$clip"
    # %p: a forked child that execs (the server, sh) leaves no file or a tiny one; keep the largest
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.%p" "$bench/producer_bench" --child \
        stream --store $((4 * 1024 * 1024)) --clip "$clip" \
        --ingest "$build/ingest-server/camstream-ingest" $fast >"$tmp/stdout" 2>"$tmp/stderr" || {
        tail -20 "$tmp/stderr" >&2
        echo "callgrind: producer_bench --child stream failed" >&2
        exit 1
    }
    total=0
    for f in "$tmp"/cg.*; do
        t=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f")
        [ -n "$t" ] && [ "$t" -gt "$total" ] && total=$t
    done
    frames=$(sed -n 's/^R frames_put //p' "$tmp/stdout")
    echo "producer under callgrind: $total Ir for the whole run (all threads), $frames frames"
    echo "RESULT producer_ir_per_frame=$(per 0 "$total" "$frames")"
    exit 0
fi

if [ -x "$bench/mkv_write_bench" ]; then
    echo "mkv_write_bench under callgrind: (Ir(N2) - Ir(N1)) / (N2 - N1), N1=$N1, N2=$N2 frames"
    for mode in header sized put memcpy; do
        a=$(ir "$bench/mkv_write_bench" --frames $N1 --once $mode)
        b=$(ir "$bench/mkv_write_bench" --frames $N2 --once $mode)
        r=$(per "$a" "$b" $((N2 - N1)))
        case $mode in
        header) ir_header=$r ;;
        sized) ir_sized=$r ;;
        put) ir_put=$r ;;
        memcpy) ir_memcpy=$r ;;
        esac
    done
    beyond=$(awk -v p="$ir_put" -v c="$ir_memcpy" 'BEGIN { printf "%.0f", p - c }')
    printf '  header only (payload not copied):   %8s Ir/frame\n' "$ir_header"
    printf '  size pass + header:                 %8s Ir/frame\n' "$ir_sized"
    printf '  put_frame (header + payload copy):  %8s Ir/frame\n' "$ir_put"
    printf '  payload memcpy alone:               %8s Ir/frame\n' "$ir_memcpy"
    printf '  put_frame beyond the copy:          %8s Ir/frame\n' "$beyond"
    figure callgrind.mkv_write_header "fragmenter: frame header only" "$ir_header" Ir/frame
    figure callgrind.mkv_write_sized "fragmenter: size pass + header" "$ir_sized" Ir/frame
    figure callgrind.mkv_write_put "fragmenter: put_frame (header + payload copy)" "$ir_put" Ir/frame
    figure callgrind.mkv_write_memcpy "payload memcpy alone" "$ir_memcpy" Ir/frame
    figure callgrind.mkv_write_beyond "fragmenter: put_frame beyond the copy" "$beyond" Ir/frame
fi

if [ -x "$bench/mkv_read_bench" ]; then
    # natively first: makes the clip with ffmpeg when it is missing, outside the counted runs
    "$bench/mkv_read_bench" --once 1 >/dev/null
    a=$(ir "$bench/mkv_read_bench" --once $MB1)
    bytes1=$(sed -n 's/.* over \([0-9]*\) bytes, .*/\1/p' "$tmp/stdout")
    frames1=$(sed -n 's/.* bytes, \([0-9]*\) frames.*/\1/p' "$tmp/stdout")
    b=$(ir "$bench/mkv_read_bench" --once $MB2)
    bytes2=$(sed -n 's/.* over \([0-9]*\) bytes, .*/\1/p' "$tmp/stdout")
    frames2=$(sed -n 's/.* bytes, \([0-9]*\) frames.*/\1/p' "$tmp/stdout")
    echo "mkv_read_bench under callgrind: payloads skipped, 64 KiB chunks, first $MB1 MB vs" \
        "$MB2 MB of the clip ($((frames2 - frames1)) blocks between)"
    per_mb=$(awk -v a="$a" -v b="$b" -v x="$bytes1" -v y="$bytes2" \
        'BEGIN { printf "%.0f", (b - a) / ((y - x) / 1e6) }')
    per_block=$(per "$a" "$b" $((frames2 - frames1)))
    printf '  reader:                             %8s Ir/MB\n' "$per_mb"
    printf '  reader:                             %8s Ir/block\n' "$per_block"
    figure callgrind.mkv_read_per_mb "MKV reader, payloads skipped, 64 KiB chunks" "$per_mb" Ir/MB
    figure callgrind.mkv_read_per_block "MKV reader, payloads skipped, per block" "$per_block" \
        Ir/block
fi
