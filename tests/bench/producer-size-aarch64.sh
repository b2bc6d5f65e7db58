#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/bench/producer-size-aarch64.sh [AARCH64_BUILD_DIR]   (default build/aarch64)
# Stripped size of the producer library for aarch64 (issue 5 budget: <= 150 KB; the KVS C
# producer is about 470 KB): cross-builds the producer, mkv, platform and auth modules with
# toolchains/aarch64-linux-gnu.cmake (no server, no GStreamer, no tests), links their static
# archives whole into one shared object (libcurl and mbedTLS are left out: their symbols stay
# undefined), strips it with aarch64-linux-gnu-strip and prints its file size and the text+data
# of each part. Prints a note and exits 0 when the cross compiler is missing
# (`scripts/setup --cross` installs it). Last line: "RESULT aarch64_stripped_bytes=N".
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$src/build/aarch64}
cc=aarch64-linux-gnu-gcc
strip=aarch64-linux-gnu-strip
if ! command -v $cc >/dev/null 2>&1 || ! command -v $strip >/dev/null 2>&1; then
    echo "aarch64 size: $cc/$strip not installed (scripts/setup --cross): skipped"
    echo "RESULT aarch64_stripped_bytes=none"
    exit 0
fi
if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$src" -B "$build" -G Ninja \
        -DCMAKE_TOOLCHAIN_FILE="$src/toolchains/aarch64-linux-gnu.cmake" \
        -DCMAKE_BUILD_TYPE=MinSizeRel -DCS_WITH_SERVER=OFF -DCS_WITH_GSTREAMER=OFF \
        -DCS_BUILD_TESTS=OFF >"$build.configure.log" 2>&1 ||
        { cat "$build.configure.log"; exit 1; }
fi
cmake --build "$build" -j2 --target camstream_producer camstream_mkv camstream_platform \
    camstream_auth >"$build.build.log" 2>&1 || { tail -30 "$build.build.log"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
libs=""
for m in producer mkv platform auth; do
    a=$(find "$build" -name "libcamstream_$m.a" | head -1)
    [ -n "$a" ] || { echo "aarch64 size: libcamstream_$m.a not built"; exit 1; }
    libs="$libs $a"
done
# shellcheck disable=SC2086
$cc -shared -o "$tmp/libcamstream_producer_all.so" -Wl,--whole-archive $libs \
    -Wl,--no-whole-archive -Wl,--gc-sections -lpthread
$strip --strip-all "$tmp/libcamstream_producer_all.so"
total=$(wc -c <"$tmp/libcamstream_producer_all.so")
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
echo "aarch64 ($btype), producer + mkv + platform + auth, one stripped shared object: $total bytes"
for a in $libs; do
    cp "$a" "$tmp/x.a"
    $strip --strip-unneeded "$tmp/x.a"
    printf '  %-28s text+data %8s bytes\n' "$(basename "$a")" \
        "$(aarch64-linux-gnu-size -t "$tmp/x.a" | awk 'END { print $1 + $2 }')"
done
echo "RESULT aarch64_stripped_bytes=$total"
