#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/bench/producer-massif.sh [BUILD_DIR] [--fast] [--no-gnutls-init]
# Peak heap of the whole producer process beyond the content store (issue 5 budget: <= 192 KB;
# the KVS C producer: about 577 KB): runs `producer_bench --child stream` (the benchmark clip, 60 s
# in real time, 4 MiB store, plain HTTP to camstream-ingest started by the child; the server is a
# separate process and not measured) under valgrind --tool=massif, takes the peak snapshot's
# useful heap (mem_heap_B, all threads, libcurl and libc included; allocator overhead
# mem_heap_extra_B printed apart) and subtracts the content store's one block (the child prints
# its exact size). The frames are read from the clip file one at a time into a static buffer, so
# the clip itself is not on the heap. Last line: "RESULT beyond_store_bytes=N".
# --no-gnutls-init: the same run with GNUTLS_NO_IMPLICIT_INIT=1, GnuTLS's own switch for its
# load-time initialisation (Debian's libcurl4 loads GnuTLS through librtmp and libldap; nothing in
# the producer ever calls it), to show what that library constructor alone costs.
set -eu
build=${1:-build/host}
fast=""
envset=""
for a in "${2:-}" "${3:-}"; do
    [ "$a" = "--fast" ] && fast="--fast"
    [ "$a" = "--no-gnutls-init" ] && envset="GNUTLS_NO_IMPLICIT_INIT=1"
done
bench=$build/tests/bench
ingest=$build/ingest-server/camstream-ingest
if ! command -v valgrind >/dev/null 2>&1; then
    echo "massif: valgrind not installed: skipped"
    echo "RESULT beyond_store_bytes=none"
    exit 0
fi
[ -x "$bench/producer_bench" ] && [ -x "$ingest" ] || {
    echo "massif: $bench/producer_bench or $ingest not built"
    exit 1
}
clip=$bench/producer-clip-1800.h264
"$bench/producer_bench" --make-clip "$clip"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
store=$((4 * 1024 * 1024))
env $envset valgrind --tool=massif --massif-out-file="$tmp/massif.%p" --threshold=0.1 \
    --detailed-freq=1000000 \
    "$bench/producer_bench" --child stream --store $store --clip "$clip" --ingest "$ingest" \
    $fast >"$tmp/out" 2>"$tmp/err" || {
    tail -20 "$tmp/err"
    echo "massif: the run failed"
    exit 1
}
# the process's own file is the one with the most snapshots' peak (children exec at once)
best=0
best_extra=0
for f in "$tmp"/massif.*; do
    peak=$(awk -F= '/^mem_heap_B=/ { h = $2 } /^mem_heap_extra_B=/ { x = $2 }
        /^heap_tree=peak/ { print h; exit }' "$f")
    extra=$(awk -F= '/^mem_heap_B=/ { h = $2 } /^mem_heap_extra_B=/ { x = $2 }
        /^heap_tree=peak/ { print x; exit }' "$f")
    if [ -n "$peak" ] && [ "$peak" -gt "$best" ]; then
        best=$peak
        best_extra=$extra
    fi
done
fp=$(sed -n 's/^R store_footprint //p' "$tmp/out")
beyond=$((best - fp))
# Split of the peak by allocation site: the top-level entries of the peak snapshot's tree
# (producer_bench's counting hooks name the SDK's allocator and libcurl's).
for f in "$tmp"/massif.*; do
    awk -v fp="$fp" '/heap_tree=peak/ { on = 1; next }
        on && /^snapshot=/ { exit }
        on && /^ n[0-9]+: / {
            b = $2
            if ($0 ~ /sdk_alloc/) sdk += b
            else if ($0 ~ /cm_(malloc|calloc|realloc|strdup)/) curl += b
            else if ($0 ~ /libcurl/) curl_direct += b
            else if ($0 ~ /libtasn1|libgnutls/) gnutls += b
            else if ($0 ~ /libcrypto|libssl/) ossl += b
            else other += b
            seen = 1
        }
        END { if (seen) printf "massif split at the peak: SDK beyond the store %d B, libcurl %d B " \
            "(+ %d B before its hooks), GnuTLS load-time init %d B (pulled in by the system " \
            "libcurl via librtmp/libldap), OpenSSL init (curl_global_init) %d B, other (libc, " \
            "the bench) %d B\n", sdk - fp, curl, curl_direct, gnutls, ossl, other }' "$f"
    # libcurl's own, site by site (its socket hash of 911 slots, the receive and upload buffers,
    # the easy handles, the connection)
    awk '/heap_tree=peak/ { on = 1; next } on && /^snapshot=/ { exit }
        on && /^ n[0-9]+: / { c = $0 ~ /cm_(malloc|calloc)/; next }
        on && c && /^  n[0-9]+: / { printf "%s%d", sep, $2; sep = ", " }
        END { if (sep != "") printf " B: libcurl allocation sites at the peak\n" }' "$f"
done
if [ -n "$envset" ]; then
    echo "massif: run with $envset"
fi
echo "massif: peak heap $best B (+ $best_extra B allocator overhead), content store block $fp B," \
    "beyond the store $beyond B"
echo "RESULT beyond_store_bytes=$beyond"
