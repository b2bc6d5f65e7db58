#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# usage: tests/bench/producer-massif-device.sh SOURCE_DIR WORK_DIR [--fast]
# Issue 5's heap budget (peak heap beyond the content store, massif, whole process incl.
# libcurl, no TLS: <= 192 KB) measured the way a camera build links it: the producer bench against
# a libcurl with HTTP only and no TLS library, static, built here from the source of exactly the
# libcurl4 installed on this machine (apt-get source through a private source list in WORK_DIR:
# Debian's archive, signatures checked by apt, Debian's patches applied; the system's apt
# configuration is not touched). Debian's libcurl4 itself links OpenSSL and, through librtmp and
# libldap, GnuTLS, whose start-up allocates ~160 KB although nothing here uses TLS; that figure
# stays in producer_bench's output as the one with the system libcurl.
# Steps (each cached in WORK_DIR): the source, libcurl (configure + make, ~1 min), a CMake build
# of the tree against it (producer_bench and the server it starts), then producer-massif.sh on it.
# With $CS_BENCH_RESULTS set the figure is appended to it (bench "producer_bench").
# Last line: "RESULT beyond_store_bytes=N", or "=none" when a step could not run (said why).
set -eu
src=$(cd "$1" && pwd)
mkdir -p "$2"
work=$(cd "$2" && pwd)
fast=${3:-}
skip() {
    echo "producer-massif-device: $*: skipped"
    echo "RESULT beyond_store_bytes=none"
    exit 0
}
ver=$(dpkg-query -W -f '${source:Version}' "libcurl4:$(dpkg --print-architecture)" 2>/dev/null) || skip "libcurl4 is not installed"
# shellcheck disable=SC1091 # the system's release file
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$codename" ] || skip "no VERSION_CODENAME in /etc/os-release"
prefix=$work/curl-$ver
if [ ! -f "$prefix/lib/libcurl.a" ]; then
    echo "producer-massif-device: libcurl $ver, HTTP only and no TLS, from Debian's source"
    apt=$work/apt
    rm -rf "$apt" "$work/src"
    mkdir -p "$apt/lists/partial" "$work/src"
    printf 'deb-src http://deb.debian.org/debian %s main\n' "$codename" "$codename-updates" \
        >"$apt/sources.list"
    printf 'deb-src http://deb.debian.org/debian-security %s-security main\n' "$codename" \
        >>"$apt/sources.list"
    aptopts="-q -o Dir::Etc::SourceList=$apt/sources.list -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists=$apt/lists"
    # shellcheck disable=SC2086 # the options are words
    apt-get $aptopts update >"$work/apt-update.log" 2>&1 ||
        skip "apt-get update of the source list failed (see $work/apt-update.log)"
    # shellcheck disable=SC2086
    (cd "$work/src" && apt-get $aptopts source "curl=$ver") >"$work/apt-source.log" 2>&1 ||
        skip "apt-get source curl=$ver failed (see $work/apt-source.log)"
    dir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'curl-*' | head -1)
    [ -n "$dir" ] || skip "no source tree in $work/src"
    (cd "$dir" && ./configure --prefix="$prefix" --disable-shared --enable-static \
        --without-ssl --without-zlib --without-brotli --without-zstd --without-libpsl \
        --without-libidn2 --without-nghttp2 --without-librtmp --without-libssh2 --without-libssh \
        --without-gssapi --disable-ldap --disable-ldaps --disable-rtsp --disable-dict \
        --disable-telnet --disable-tftp --disable-pop3 --disable-imap --disable-smtp \
        --disable-gopher --disable-mqtt --disable-smb --disable-ftp --disable-file --disable-ntlm \
        --disable-manual --disable-docs && make -j "$(nproc)" && make install) \
        >"$work/curl-build.log" 2>&1 || {
        tail -20 "$work/curl-build.log"
        echo "producer-massif-device: building libcurl failed (see $work/curl-build.log)"
        exit 1
    }
fi
build=$work/build
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCS_WITH_GSTREAMER=OFF \
    -DCURL_INCLUDE_DIR="$prefix/include" -DCURL_LIBRARY="$prefix/lib/libcurl.a" \
    -DCS_CURL_INCLUDE_DIR="$prefix/include" -DCS_CURL_LIBRARY="$prefix/lib/libcurl.a" \
    >"$work/cmake.log" 2>&1 || {
    tail -20 "$work/cmake.log"
    echo "producer-massif-device: configuring the tree against it failed (see $work/cmake.log)"
    exit 1
}
cmake --build "$build" --target producer_bench >"$work/build.log" 2>&1 || {
    tail -20 "$work/build.log"
    echo "producer-massif-device: building the tree against it failed (see $work/build.log)"
    exit 1
}
# The point of the profile: no TLS library and no system libcurl in the measured process.
if ldd "$build/tests/bench/producer_bench" | grep -E 'libcurl|libssl|libgnutls'; then
    echo "producer-massif-device: producer_bench still links one of the libraries above"
    exit 1
fi
echo "producer_bench links: $(ldd "$build/tests/bench/producer_bench" | awk '{print $1}' | tr '\n' ' ')"
# shellcheck disable=SC2086 # $fast is empty or one word
out=$(sh "$src/tests/bench/producer-massif.sh" "$build" $fast) || {
    echo "$out"
    exit 1
}
echo "$out" | grep -v "^RESULT "
bytes=$(echo "$out" | sed -n 's/^RESULT beyond_store_bytes=//p')
case "$bytes" in
'' | none) exit 1 ;;
esac
if [ -n "${CS_BENCH_RESULTS:-}" ]; then
    printf '{"kind":"figure","bench":"producer_bench","id":"producer.massif_beyond_store_device","label":"peak heap beyond the content store (massif, whole process, 4 MiB store), device libcurl: HTTP only, no TLS, static (Debian source %s)","value":%s,"unit":"KB","target":"<= 192","reference":"~577 KB"}\n' \
        "$ver" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000 }')" >>"$CS_BENCH_RESULTS"
fi
echo "RESULT beyond_store_bytes=$bytes"
